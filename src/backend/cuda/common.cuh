/* common.cuh: what every CUDA op file shares: launch checks that fill a latte_err, and the
 * device-side dequantization of one 32-element group of a weight row for every weight type
 * the kernels run. Block layouts are the ones src/quant/quant.c reads (ggml's). */
#ifndef LATTE_CUDA_COMMON_CUH
#define LATTE_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "../../base/err.h"
#include "../../quant/quant.h"
}
#include "cuda_ops.h"

#define CUDA_STREAM(s) ((cudaStream_t)(s))

/* 0 when w is a weight the kernels run (type, shape, row size, alignment), else LATTE_E_* */
int cuda_weight_check(const cuda_weight *w, latte_err *err);
/* per-device preparation run by cuda_ops_init: shared memory limits (matmul.cu, mla.cu) */
int cuda_matmul_prepare(const cuda_device_info *d, latte_err *err);
int cuda_mla_prepare(const cuda_device_info *d, latte_err *err);
/* the properties cuda_ops_init read for the current device; NULL before it ran (device.cu) */
const cuda_device_info *cuda_dev_current(void);

/* 0 after a good launch, else LATTE_E_UNSUPPORTED with the CUDA error named */
static inline int cuda_check_launch(latte_err *err, const char *what) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return 0;
    return err_set(err, LATTE_E_UNSUPPORTED, "cuda %s: %s", what, cudaGetErrorString(e));
}

/* elements per block and bytes per block of a weight type the kernels run; 0 when not run */
static inline int cuda_type_block(uint32_t t, int *bytes) {
    switch (t) {
    case QT_F32: *bytes = 4; return 1;
    case QT_F16: case QT_BF16: *bytes = 2; return 1;
    case QT_Q8_0: *bytes = 34; return 32;
    case QT_Q4_0: *bytes = 18; return 32;
    case QT_Q4_1: *bytes = 20; return 32;
    case QT_Q4_K: *bytes = 144; return 256;
    case QT_Q5_K: *bytes = 176; return 256;
    case QT_Q6_K: *bytes = 210; return 256;
    case QT_IQ4_XS: *bytes = 136; return 256;
    default: *bytes = 0; return 0;
    }
}

__device__ __forceinline__ float ld_f16(const uint8_t *p) {
    return __half2float(__ushort_as_half(*(const unsigned short *)p));
}
__device__ __forceinline__ float ld_bf16(const uint8_t *p) {
    return __uint_as_float((uint32_t)(*(const unsigned short *)p) << 16);
}
/* 4 bytes from a 2-byte aligned address */
__device__ __forceinline__ uint32_t ld_u32_a2(const uint8_t *p) {
    const unsigned short *h = (const unsigned short *)p;
    return (uint32_t)h[0] | ((uint32_t)h[1] << 16);
}
__device__ __forceinline__ uint32_t ld_u32(const uint8_t *p) { return *(const uint32_t *)p; }

/* 6-bit scale and min j of the 12-byte K-quant scale array */
__device__ __forceinline__ void k_scale_min(int j, const uint8_t *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

__constant__ static const int8_t IQ4NL_VALUES[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                      1,    13,   25,  38,  53,  69,  89,  113};

/* v[0..31] = elements 32g .. 32g+31 of a row of type T (row 2-byte aligned, 4 for f32).
 * For float types the caller guarantees the group is whole. */
template <int T> __device__ __forceinline__ void deq32(const uint8_t *row, int64_t g, float *v);

template <> __device__ __forceinline__ void deq32<QT_Q4_0>(const uint8_t *row, int64_t g, float *v) {
    const uint8_t *b = row + g * 18;
    float d = ld_f16(b);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t q = ld_u32_a2(b + 2 + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int x = (q >> (8 * j)) & 0xff;
            v[4 * i + j] = (float)((x & 0xf) - 8) * d;
            v[4 * i + j + 16] = (float)((x >> 4) - 8) * d;
        }
    }
}

template <> __device__ __forceinline__ void deq32<QT_Q4_1>(const uint8_t *row, int64_t g, float *v) {
    const uint8_t *b = row + g * 20;
    float d = ld_f16(b), m = ld_f16(b + 2);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t q = ld_u32(b + 4 + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int x = (q >> (8 * j)) & 0xff;
            v[4 * i + j] = (float)(x & 0xf) * d + m;
            v[4 * i + j + 16] = (float)(x >> 4) * d + m;
        }
    }
}

template <> __device__ __forceinline__ void deq32<QT_Q8_0>(const uint8_t *row, int64_t g, float *v) {
    const uint8_t *b = row + g * 34;
    float d = ld_f16(b);
#pragma unroll
    for (int i = 0; i < 8; i++) {
        uint32_t q = ld_u32_a2(b + 2 + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; j++) v[4 * i + j] = (float)(int8_t)(q >> (8 * j)) * d;
    }
}

/* q4_K / q5_K: group sub of super-block sb uses scale/min sub; nibbles from the 32-byte chunk
 * sub/2 (low for even sub, high for odd); q5_K's fifth bit is bit sub of qh[l] */
template <bool FIVE> __device__ __forceinline__ void deq32_q45k(const uint8_t *row, int64_t g, float *v) {
    const uint8_t *b = row + (g >> 3) * (FIVE ? 176 : 144);
    int sub = (int)(g & 7);
    float d = ld_f16(b), dmin = ld_f16(b + 2);
    int sc, mn;
    k_scale_min(sub, b + 4, &sc, &mn);
    float d1 = d * sc, m1 = dmin * mn;
    const uint8_t *q = b + (FIVE ? 48 : 16) + 32 * (sub >> 1);
    int shift = (sub & 1) * 4;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        uint32_t w = ld_u32(q + 4 * i);
        uint32_t h = FIVE ? ld_u32(b + 16 + 4 * i) : 0;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int x = ((w >> (8 * j)) >> shift) & 0xf;
            if (FIVE) x |= ((h >> (8 * j + sub)) & 1) << 4;
            v[4 * i + j] = d1 * (float)x - m1;
        }
    }
}
template <> __device__ __forceinline__ void deq32<QT_Q4_K>(const uint8_t *row, int64_t g, float *v) {
    deq32_q45k<false>(row, g, v);
}
template <> __device__ __forceinline__ void deq32<QT_Q5_K>(const uint8_t *row, int64_t g, float *v) {
    deq32_q45k<true>(row, g, v);
}

/* q6_K: group sub: half n = sub/4, quadrant q = sub%4: low 4 bits from ql[64n + 32(q&1) + l]
 * (high nibble when q >= 2), 2 high bits (2q) of qh[32n + l], scale sc[8n + 2q + l/16] */
template <> __device__ __forceinline__ void deq32<QT_Q6_K>(const uint8_t *row, int64_t g, float *v) {
    const uint8_t *b = row + (g >> 3) * 210;
    int sub = (int)(g & 7), n = sub >> 2, q = sub & 3;
    const uint8_t *ql = b + 64 * n + 32 * (q & 1), *qh = b + 128 + 32 * n;
    const int8_t *sc = (const int8_t *)(b + 192 + 8 * n + 2 * q);
    float d = ld_f16(b + 208);
    float d0 = d * sc[0], d1 = d * sc[1];
    int lshift = (q >> 1) * 4, hshift = 2 * q;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        uint32_t w = ld_u32_a2(ql + 4 * i), h = ld_u32_a2(qh + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int x = (((w >> (8 * j)) >> lshift) & 0xf) | ((((h >> (8 * j)) >> hshift) & 3) << 4);
            v[4 * i + j] = (i < 4 ? d0 : d1) * (float)(x - 32);
        }
    }
}

/* iq4_xs: d, scales_h (2 bits per group), scales_l[4] (4 bits per group), qs[128];
 * group ib: scale ls - 32, nibbles through the iq4_nl table */
template <> __device__ __forceinline__ void deq32<QT_IQ4_XS>(const uint8_t *row, int64_t g, float *v) {
    const uint8_t *b = row + (g >> 3) * 136;
    int ib = (int)(g & 7);
    float d = ld_f16(b);
    int sh = *(const unsigned short *)(b + 2);
    int ls = ((b[4 + ib / 2] >> (4 * (ib & 1))) & 0xf) | (((sh >> (2 * ib)) & 3) << 4);
    float dl = d * (float)(ls - 32);
    const uint8_t *qs = b + 8 + 16 * ib;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t w = ld_u32(qs + 4 * i);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int x = (w >> (8 * j)) & 0xff;
            v[4 * i + j] = dl * (float)IQ4NL_VALUES[x & 0xf];
            v[4 * i + j + 16] = dl * (float)IQ4NL_VALUES[x >> 4];
        }
    }
}

template <> __device__ __forceinline__ void deq32<QT_F32>(const uint8_t *row, int64_t g, float *v) {
    const float *p = (const float *)row + g * 32;
#pragma unroll
    for (int i = 0; i < 32; i++) v[i] = p[i];
}
template <> __device__ __forceinline__ void deq32<QT_F16>(const uint8_t *row, int64_t g, float *v) {
    const uint8_t *p = row + g * 64;
#pragma unroll
    for (int i = 0; i < 32; i++) v[i] = ld_f16(p + 2 * i);
}
template <> __device__ __forceinline__ void deq32<QT_BF16>(const uint8_t *row, int64_t g, float *v) {
    const uint8_t *p = row + g * 64;
#pragma unroll
    for (int i = 0; i < 32; i++) v[i] = ld_bf16(p + 2 * i);
}

/* one element of a float-type row (tails of rows whose length is not a multiple of 32) */
template <int T> __device__ __forceinline__ float deq1(const uint8_t *row, int64_t i) {
    if (T == QT_F32) return ((const float *)row)[i];
    if (T == QT_F16) return ld_f16(row + 2 * i);
    return ld_bf16(row + 2 * i);
}

/* calls F<T>::run(args...) for the weight type t; returns false for a type not run */
#define CUDA_TYPE_DISPATCH(t, F, ...)                                                                                  \
    ([&]() -> bool {                                                                                                   \
        switch (t) {                                                                                                   \
        case QT_F32: F<QT_F32>(__VA_ARGS__); return true;                                                             \
        case QT_F16: F<QT_F16>(__VA_ARGS__); return true;                                                             \
        case QT_BF16: F<QT_BF16>(__VA_ARGS__); return true;                                                           \
        case QT_Q8_0: F<QT_Q8_0>(__VA_ARGS__); return true;                                                           \
        case QT_Q4_0: F<QT_Q4_0>(__VA_ARGS__); return true;                                                           \
        case QT_Q4_1: F<QT_Q4_1>(__VA_ARGS__); return true;                                                           \
        case QT_Q4_K: F<QT_Q4_K>(__VA_ARGS__); return true;                                                           \
        case QT_Q5_K: F<QT_Q5_K>(__VA_ARGS__); return true;                                                           \
        case QT_Q6_K: F<QT_Q6_K>(__VA_ARGS__); return true;                                                           \
        case QT_IQ4_XS: F<QT_IQ4_XS>(__VA_ARGS__); return true;                                                       \
        default: return false;                                                                                         \
        }                                                                                                              \
    }())

#endif
