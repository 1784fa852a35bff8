/* matmul.cuh: the two matrix-product bodies that matmul.cu and moe.cu launch: a mat-vec
 * (one warp per weight row, each weight byte read once for up to NT activation rows) and a
 * tensor-core tile (64 weight rows x 64 activation rows, weights dequantized into shared
 * memory, tf32 products with f32 accumulators) whose activation rows may be gathered. */
#ifndef LATTE_CUDA_MATMUL_CUH
#define LATTE_CUDA_MATMUL_CUH

#include <mma.h>

#include "common.cuh"

enum { MMV_WARPS = 8, MMT_BM = 64, MMT_BN = 64, MMT_BK = 32, MMT_THREADS = 128 };

/* Mat-vec: a block of MMV_WARPS warps takes R weight rows per warp and walks k in chunks of
 * MMV_CHUNK elements. Each chunk of the NT activation rows is staged once in shared memory
 * (coalesced loads; groups of 32 padded to 36 floats so a lane's float4 reads of its own group
 * hit distinct banks), then lane l dequantizes group l of the chunk in each of its R rows:
 * one weight block per lane per row, consecutive lanes on consecutive blocks. */
enum { MMV_CHUNK = 1024, MMV_GPAD = 36 };

template <int NT> struct mmv_smem {
    float x[NT][MMV_CHUNK / 32 * MMV_GPAD];
};

/* y[t*ldy + r] = W[r] . x[t] for the R rows at rows[0..R) (row r valid when r < nr), t < n <= NT */
template <int T, int NT, int R>
__device__ __forceinline__ void mmv_rows(mmv_smem<NT> &sm, const uint8_t *const *rows, int nr, int64_t k,
                                         const float *x, int64_t ldx, int n, float *const *y, int64_t ldy) {
    const int lane = threadIdx.x & 31;
    float acc[R][NT];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] = 0.0f;
    const int64_t ng = k / 32;
    for (int64_t c0 = 0; c0 < ng * 32; c0 += MMV_CHUNK) {
        int cn = (int)(ng * 32 - c0 < MMV_CHUNK ? ng * 32 - c0 : MMV_CHUNK); /* elements in this chunk */
        __syncthreads();
        for (int q = threadIdx.x; q < NT * (MMV_CHUNK / 4); q += blockDim.x) {
            int t = q / (MMV_CHUNK / 4), e = (q % (MMV_CHUNK / 4)) * 4;
            float4 v = (t < n && e < cn) ? __ldg((const float4 *)(x + t * ldx + c0 + e)) : make_float4(0, 0, 0, 0);
            *(float4 *)&sm.x[t][(e / 32) * MMV_GPAD + e % 32] = v;
        }
        __syncthreads();
        if (lane * 32 >= cn) continue;
        const int64_t g = c0 / 32 + lane;
        float v[R][32];
#pragma unroll
        for (int r = 0; r < R; r++)
            if (r < nr) deq32<T>(rows[r], g, v[r]);
#pragma unroll
        for (int t = 0; t < NT; t++) {
            if (t >= n) break;
            const float *xs = &sm.x[t][lane * MMV_GPAD];
#pragma unroll
            for (int i = 0; i < 8; i++) {
                float4 xv = *(const float4 *)(xs + 4 * i);
#pragma unroll
                for (int r = 0; r < R; r++)
                    acc[r][t] += v[r][4 * i] * xv.x + v[r][4 * i + 1] * xv.y + v[r][4 * i + 2] * xv.z +
                                 v[r][4 * i + 3] * xv.w;
            }
        }
    }
    if (T == QT_F32 || T == QT_F16 || T == QT_BF16) /* float rows of any length: the tail */
        for (int64_t i = ng * 32 + lane; i < k; i += 32)
#pragma unroll
            for (int r = 0; r < R; r++) {
                if (r >= nr) break;
                float v = deq1<T>(rows[r], i);
#pragma unroll
                for (int t = 0; t < NT; t++)
                    if (t < n) acc[r][t] += v * x[t * ldx + i];
            }
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) {
            float a = acc[r][t];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o);
            if (lane == 0 && t < n && r < nr) y[r][t * ldy] = a;
        }
}

/* Mat-vec over the whole row at once: the block stages all of x (NT rows, groups padded to
 * 36 floats) in dynamic shared memory with one barrier, then each warp walks its rows two at a
 * time, lane l on groups l, l+32, ... of both (four weight blocks in flight per lane for
 * k = 2048). For x that fits (MMV_FULL_SMEM); larger k x n use the chunked mmv_rows. */
#define MMV_FULL_SMEM ((size_t)100 * 1024)

static inline size_t mmv_full_smem(int64_t k, int nt) { return (size_t)(k / 32) * MMV_GPAD * 4 * nt; }

template <int T, int NT>
__device__ __forceinline__ void mmv_full_rows(const float *xs, int64_t ngp, const uint8_t *w, size_t row_bytes,
                                              int64_t k, int64_t j0, int64_t j1, const float *x, int64_t ldx, int n,
                                              float *y, int64_t ldy) {
    const int lane = threadIdx.x & 31;
    const int64_t ng = k / 32;
    for (int64_t j = j0; j < j1; j += 2) {
        const bool two = j + 1 < j1;
        const uint8_t *r0 = w + j * row_bytes, *r1 = two ? r0 + row_bytes : r0;
        float a0[NT], a1[NT];
#pragma unroll
        for (int t = 0; t < NT; t++) a0[t] = a1[t] = 0.0f;
        for (int64_t g = lane; g < ng; g += 32) {
            float v0[32], v1[32];
            deq32<T>(r0, g, v0);
            deq32<T>(r1, g, v1);
#pragma unroll
            for (int t = 0; t < NT; t++) {
                if (t >= n) break;
                const float *xg = xs + t * ngp + g * MMV_GPAD;
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    float4 xv = *(const float4 *)(xg + 4 * i);
                    a0[t] += v0[4 * i] * xv.x + v0[4 * i + 1] * xv.y + v0[4 * i + 2] * xv.z + v0[4 * i + 3] * xv.w;
                    a1[t] += v1[4 * i] * xv.x + v1[4 * i + 1] * xv.y + v1[4 * i + 2] * xv.z + v1[4 * i + 3] * xv.w;
                }
            }
        }
        if (T == QT_F32 || T == QT_F16 || T == QT_BF16)
            for (int64_t i = ng * 32 + lane; i < k; i += 32) {
                float u0 = deq1<T>(r0, i), u1 = deq1<T>(r1, i);
#pragma unroll
                for (int t = 0; t < NT; t++)
                    if (t < n) a0[t] += u0 * x[t * ldx + i], a1[t] += u1 * x[t * ldx + i];
            }
#pragma unroll
        for (int t = 0; t < NT; t++) {
            float b0 = a0[t], b1 = a1[t];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) {
                b0 += __shfl_xor_sync(0xffffffffu, b0, o);
                b1 += __shfl_xor_sync(0xffffffffu, b1, o);
            }
            if (lane == 0 && t < n) {
                y[t * ldy + j] = b0;
                if (two) y[t * ldy + j + 1] = b1;
            }
        }
    }
}

/* q4_0 / q8_0 rows R (1 or 4) at a time: the raw blocks of R rows and G groups are
 * loaded before any arithmetic so that each lane has 72-136 bytes in flight; quants become
 * floats by the exponent trick (byte | 0x4B000000 is 2^23 + byte as a float: one PRMT and one
 * FADD instead of an I2F, which runs at a quarter of the FMA rate). */
template <int T> struct mmv_raw;
template <> struct mmv_raw<QT_Q4_0> { enum { WORDS = 5, GROUPS = 2 }; };
template <> struct mmv_raw<QT_Q8_0> { enum { WORDS = 9, GROUPS = 1 }; };

/* word 0 low half: the f16 scale; then the quants, little-endian (2-byte aligned blocks) */
template <int T> __device__ __forceinline__ void mmv_ldraw(const uint8_t *row, int64_t g, uint32_t *w) {
    const int bb = T == QT_Q4_0 ? 18 : 34;
    const unsigned short *h = (const unsigned short *)(row + g * bb);
    w[0] = h[0];
#pragma unroll
    for (int i = 1; i < mmv_raw<T>::WORDS; i++) w[i] = (uint32_t)h[2 * i - 1] | ((uint32_t)h[2 * i] << 16);
}

__device__ __forceinline__ float mmv_byte_f(uint32_t w, int k, float bias) {
    return __int_as_float(__byte_perm(w, 0x4B000000u, 0x7540u | k)) - bias;
}

/* dot of one raw block with the 32 staged x values at xg */
template <int T> __device__ __forceinline__ float mmv_dotraw(const uint32_t *w, const float *xg) {
    float d = __half2float(__ushort_as_half((unsigned short)w[0])), a = 0.0f;
    if (T == QT_Q4_0) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            uint32_t lo = w[1 + i] & 0x0f0f0f0fu, hi = (w[1 + i] >> 4) & 0x0f0f0f0fu;
            float4 xl = *(const float4 *)(xg + 4 * i), xh = *(const float4 *)(xg + 16 + 4 * i);
            a += mmv_byte_f(lo, 0, 8388616.0f) * xl.x + mmv_byte_f(lo, 1, 8388616.0f) * xl.y +
                 mmv_byte_f(lo, 2, 8388616.0f) * xl.z + mmv_byte_f(lo, 3, 8388616.0f) * xl.w;
            a += mmv_byte_f(hi, 0, 8388616.0f) * xh.x + mmv_byte_f(hi, 1, 8388616.0f) * xh.y +
                 mmv_byte_f(hi, 2, 8388616.0f) * xh.z + mmv_byte_f(hi, 3, 8388616.0f) * xh.w;
        }
    } else {
#pragma unroll
        for (int i = 0; i < 8; i++) {
            uint32_t q = w[1 + i] ^ 0x80808080u; /* signed bytes as unsigned + 128 */
            float4 xv = *(const float4 *)(xg + 4 * i);
            a += mmv_byte_f(q, 0, 8388736.0f) * xv.x + mmv_byte_f(q, 1, 8388736.0f) * xv.y +
                 mmv_byte_f(q, 2, 8388736.0f) * xv.z + mmv_byte_f(q, 3, 8388736.0f) * xv.w;
        }
    }
    return a * d;
}

template <int T, int NT, int R>
__device__ __forceinline__ void mmv_full_rows4(const float *xs, int64_t ngp, const uint8_t *wt, size_t row_bytes,
                                               int64_t k, int64_t j0, int64_t j1, int n, float *y, int64_t ldy) {
    constexpr int W = mmv_raw<T>::WORDS, G = R <= 2 ? 2 : mmv_raw<T>::GROUPS;
    const int lane = threadIdx.x & 31;
    const int64_t ng = k / 32;
    for (int64_t j = j0; j < j1; j += R) {
        const uint8_t *rows[R];
#pragma unroll
        for (int r = 0; r < R; r++) rows[r] = wt + (j + r < j1 ? j + r : j1 - 1) * row_bytes;
        float acc[R][NT];
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int t = 0; t < NT; t++) acc[r][t] = 0.0f;
        for (int64_t g0 = lane; g0 < ng; g0 += 32 * G) {
            uint32_t raw[G][R][W];
#pragma unroll
            for (int q = 0; q < G; q++)
#pragma unroll
                for (int r = 0; r < R; r++) mmv_ldraw<T>(rows[r], g0 + 32 * q < ng ? g0 + 32 * q : g0, raw[q][r]);
#pragma unroll
            for (int q = 0; q < G; q++) {
                if (g0 + 32 * q >= ng) break;
#pragma unroll
                for (int t = 0; t < NT; t++) {
                    if (t >= n) break;
                    const float *xg = xs + t * ngp + (g0 + 32 * q) * MMV_GPAD;
#pragma unroll
                    for (int r = 0; r < R; r++) acc[r][t] += mmv_dotraw<T>(raw[q][r], xg);
                }
            }
        }
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int t = 0; t < NT; t++) {
                float b = acc[r][t];
#pragma unroll
                for (int o = 16; o > 0; o >>= 1) b += __shfl_xor_sync(0xffffffffu, b, o);
                if (lane == 0 && t < n && j + r < j1) y[t * ldy + j + r] = b;
            }
    }
}

/* stages x rows (t < n, zero for n <= t < NT) into xs ([NT][ngp] floats, groups padded) */
template <int NT>
__device__ __forceinline__ void mmv_stage_x(float *xs, int64_t ngp, int64_t k, const float *x, int64_t ldx, int n) {
    const int64_t n4 = k / 32 * 8;
    for (int64_t q = threadIdx.x; q < NT * n4; q += blockDim.x) {
        int t = (int)(q / n4);
        int64_t e4 = q % n4, g = e4 / 8;
        int i = (int)(e4 % 8);
        float4 v = t < n ? __ldg((const float4 *)(x + t * ldx + g * 32) + i) : make_float4(0, 0, 0, 0);
        *(float4 *)(xs + t * ngp + g * MMV_GPAD + 4 * i) = v;
    }
    __syncthreads();
}

/* One 64x64 output tile: weight rows j0.. of w (m rows), activation rows xr[i] (i < nb) of x,
 * results to y rows yr[i]. k a multiple of 32. Uses 128 threads. */
struct __align__(128) mmt_smem {
    float w[MMT_BM][MMT_BK + 4];
    float x[MMT_BN][MMT_BK + 4];
    float c[MMT_BN][MMT_BM + 4];
    int32_t xr[MMT_BN], yr[MMT_BN];
};

template <int T>
__device__ void mmt_tile(mmt_smem &sm, const uint8_t *w, size_t row_bytes, int64_t k, int64_t m, int64_t j0,
                         const float *x, int64_t ldx, int nb, float *y, int64_t ldy) {
    using namespace nvcuda;
    int tid = threadIdx.x, warp = tid / 32;
    int wr = (warp & 1) * 32, wc = (warp >> 1) * 32; /* warp's token rows, weight columns */
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
    for (int a = 0; a < 2; a++)
#pragma unroll
        for (int b = 0; b < 2; b++) wmma::fill_fragment(acc[a][b], 0.0f);
    for (int64_t g = 0; g < k / 32; g++) {
        if (tid < MMT_BM) {
            float v[32];
            if (j0 + tid < m) deq32<T>(w + (j0 + tid) * row_bytes, g, v);
            else
#pragma unroll
                for (int i = 0; i < 32; i++) v[i] = 0.0f;
#pragma unroll
            for (int i = 0; i < 32; i++) sm.w[tid][i] = v[i];
        } else {
            for (int q = tid - MMT_BM; q < MMT_BN * 8; q += MMT_THREADS - MMT_BM) {
                int r = q / 8, c = q % 8;
                float4 v = r < nb ? __ldg((const float4 *)(x + sm.xr[r] * ldx + g * 32) + c) : make_float4(0, 0, 0, 0);
                *(float4 *)&sm.x[r][4 * c] = v;
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < MMT_BK; kk += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb[2];
#pragma unroll
            for (int a = 0; a < 2; a++) {
                wmma::load_matrix_sync(fa[a], &sm.x[wr + 16 * a][kk], MMT_BK + 4);
#pragma unroll
                for (int e = 0; e < fa[a].num_elements; e++) fa[a].x[e] = wmma::__float_to_tf32(fa[a].x[e]);
                wmma::load_matrix_sync(fb[a], &sm.w[wc + 16 * a][kk], MMT_BK + 4);
#pragma unroll
                for (int e = 0; e < fb[a].num_elements; e++) fb[a].x[e] = wmma::__float_to_tf32(fb[a].x[e]);
            }
#pragma unroll
            for (int a = 0; a < 2; a++)
#pragma unroll
                for (int b = 0; b < 2; b++) wmma::mma_sync(acc[a][b], fa[a], fb[b], acc[a][b]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int a = 0; a < 2; a++)
#pragma unroll
        for (int b = 0; b < 2; b++)
            wmma::store_matrix_sync(&sm.c[wr + 16 * a][wc + 16 * b], acc[a][b], MMT_BM + 4, wmma::mem_row_major);
    __syncthreads();
    for (int q = tid; q < MMT_BN * MMT_BM; q += MMT_THREADS) {
        int r = q / MMT_BM, c = q % MMT_BM;
        if (r < nb && j0 + c < m) y[sm.yr[r] * ldy + j0 + c] = sm.c[r][c];
    }
}

#endif
