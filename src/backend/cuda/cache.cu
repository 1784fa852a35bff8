/* cache.cu: writing f32 rows into a KV cache of f32, f16, bf16 or q8_0 (rows, or one element
 * per position when transposed), and the weighted combine of the experts' outputs. Rounding
 * follows the CPU's quant_quant_row: round to nearest even for f16/bf16, q8_0 with
 * d = amax / 127 stored as f16 and roundf(x / d) per element. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "common.cuh"

__device__ static inline void put_elem(uint8_t *p, uint32_t t, float v) {
    if (t == QT_F32) *(float *)p = v;
    else if (t == QT_F16) *(__half *)p = __float2half_rn(v);
    else *(__nv_bfloat16 *)p = __float2bfloat16_rn(v);
}

/* one block per row: f32/f16/bf16 element by element, q8_0 a thread per block of 32 */
__global__ void cache_rows_kernel(uint8_t *dst, uint32_t t, size_t row_bytes, const int64_t *rows, const float *src,
                                  int d) {
    const float *x = src + (int64_t)blockIdx.x * d;
    uint8_t *o = dst + (size_t)rows[blockIdx.x] * row_bytes;
    if (t != QT_Q8_0) {
        size_t es = t == QT_F32 ? 4 : 2;
        for (int j = threadIdx.x; j < d; j += blockDim.x) put_elem(o + j * es, t, x[j]);
        return;
    }
    /* q8_0: one thread per block of 32, the CPU's arithmetic step by step */
    for (int g = threadIdx.x; g < d / 32; g += blockDim.x) {
        const float *xb = x + g * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(xb[j]));
        float dd = __fdiv_rn(amax, 127.0f), id = dd != 0.0f ? __fdiv_rn(1.0f, dd) : 0.0f;
        uint8_t *b = o + (size_t)g * 34;
        *(__half *)b = __float2half_rn(dd); /* 2-byte aligned: rows and blocks are an even number of bytes */
        for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)roundf(__fmul_rn(xb[j], id));
    }
}

/* transposed: element (i, j) to dst[j][rows[i]] */
__global__ void cache_cols_kernel(uint8_t *dst, uint32_t t, int64_t ld, const int64_t *rows, const float *src, int n,
                                  int d) {
    size_t es = t == QT_F32 ? 4 : 2;
    int64_t total = (int64_t)n * d;
    for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < total; q += (int64_t)gridDim.x * blockDim.x) {
        int64_t i = q / d, j = q % d;
        put_elem(dst + ((size_t)j * ld + (size_t)rows[i]) * es, t, src[q]);
    }
}

extern "C" int cuda_cache_write(cuda_stream s, void *dst, uint32_t t, int64_t ld, bool transposed, const int64_t *rows,
                                const float *src, int n, int d, latte_err *err) {
    if (n < 0 || d <= 0) return err_set(err, LATTE_E_ARG, "cuda cache_write: %d rows of %d", n, d);
    if (t != QT_F32 && t != QT_F16 && t != QT_BF16 && (t != QT_Q8_0 || transposed || d % 32))
        return err_set(err, LATTE_E_UNSUPPORTED, "cuda cache_write: cache type %u%s has no CUDA kernel", t,
                       transposed ? " (transposed)" : "");
    if (!n) return 0;
    if (transposed) {
        int64_t total = (int64_t)n * d, b = (total + 255) / 256;
        cache_cols_kernel<<<(unsigned)(b < 65536 ? b : 65536), 256, 0, CUDA_STREAM(s)>>>((uint8_t *)dst, t, ld, rows,
                                                                                        src, n, d);
    } else {
        size_t rb = t == QT_F32 ? 4 * (size_t)d : t == QT_Q8_0 ? (size_t)d / 32 * 34 : 2 * (size_t)d;
        cache_rows_kernel<<<n, 256, 0, CUDA_STREAM(s)>>>((uint8_t *)dst, t, rb, rows, src, d);
    }
    return cuda_check_launch(err, "cache_write");
}

/* one block per token: out[i] (+)= sum over slots with ids >= 0 of w * d[i*n_used + s] */
__global__ void moe_combine_kernel(const float *dd, const int32_t *ids, const float *w, int n_used, int dim, float *out,
                                   bool accumulate) {
    int64_t i = blockIdx.x;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) {
        float acc = accumulate ? out[i * dim + j] : 0.0f;
        for (int s = 0; s < n_used; s++) {
            int64_t p = i * n_used + s;
            if (ids[p] < 0) continue;
            acc += w[p] * dd[p * dim + j];
        }
        out[i * dim + j] = acc;
    }
}

extern "C" int cuda_moe_combine(cuda_stream s, const float *d, const int32_t *ids, const float *weights, int n,
                                int n_used, int dim, float *out, bool accumulate, latte_err *err) {
    if (n < 0 || n_used <= 0 || dim <= 0)
        return err_set(err, LATTE_E_ARG, "cuda moe_combine: n %d, n_used %d, dim %d", n, n_used, dim);
    if (!n) return 0;
    moe_combine_kernel<<<n, 256, 0, CUDA_STREAM(s)>>>(d, ids, weights, n_used, dim, out, accumulate);
    return cuda_check_launch(err, "moe_combine");
}
