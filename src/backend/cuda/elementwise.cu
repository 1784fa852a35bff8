/* elementwise.cu: add, add_bias and silu_mul over f32 buffers, one thread per element
 * (grid-stride, so any n fits one launch), and a device-to-device copy kernel. silu uses expf, as the CPU reference does. */
#include "common.cuh"

__global__ void add_kernel(const float *a, const float *b, float *y, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = a[i] + b[i];
}

__global__ void silu_mul_kernel(const float *g, const float *u, float *y, int64_t n) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

__global__ void add_bias_kernel(float *x, const float *bias, int64_t n, int d) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        x[i] += bias[i % d];
}

/* 16 bytes per thread and step when both ends allow it */
__global__ void copy_kernel(uint8_t *dst, const uint8_t *src, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, step = (size_t)gridDim.x * blockDim.x;
    if ((((uintptr_t)dst | (uintptr_t)src) & 15) == 0) {
        for (size_t q = i; q < n / 16; q += step) ((uint4 *)dst)[q] = __ldg((const uint4 *)src + q);
        for (size_t q = n / 16 * 16 + i; q < n; q += step) dst[q] = src[q];
    } else {
        for (size_t q = i; q < n; q += step) dst[q] = src[q];
    }
}

static unsigned ew_blocks(int64_t n) {
    int64_t b = (n + 255) / 256;
    return (unsigned)(b < 65536 ? b : 65536);
}

extern "C" int cuda_add(cuda_stream s, const float *a, const float *b, float *y, int64_t n, latte_err *err) {
    if (n <= 0) return n == 0 ? 0 : err_set(err, LATTE_E_ARG, "cuda add: n = %lld", (long long)n);
    add_kernel<<<ew_blocks(n), 256, 0, CUDA_STREAM(s)>>>(a, b, y, n);
    return cuda_check_launch(err, "add");
}

extern "C" int cuda_silu_mul(cuda_stream s, const float *g, const float *u, float *y, int64_t n, latte_err *err) {
    if (n <= 0) return n == 0 ? 0 : err_set(err, LATTE_E_ARG, "cuda silu_mul: n = %lld", (long long)n);
    silu_mul_kernel<<<ew_blocks(n), 256, 0, CUDA_STREAM(s)>>>(g, u, y, n);
    return cuda_check_launch(err, "silu_mul");
}

extern "C" int cuda_add_bias(cuda_stream s, float *x, const float *bias, int n, int d, latte_err *err) {
    if (n < 0 || d <= 0) return err_set(err, LATTE_E_ARG, "cuda add_bias: n %d, d %d", n, d);
    int64_t total = (int64_t)n * d;
    if (total == 0) return 0;
    add_bias_kernel<<<ew_blocks(total), 256, 0, CUDA_STREAM(s)>>>(x, bias, total, d);
    return cuda_check_launch(err, "add_bias");
}

extern "C" int cuda_copy(cuda_stream s, void *dst, const void *src, size_t n, latte_err *err) {
    if (n == 0) return 0;
    unsigned blocks = (unsigned)((n / 16 + 255) / 256);
    copy_kernel<<<blocks < 4096 ? (blocks ? blocks : 1) : 4096, 256, 0, CUDA_STREAM(s)>>>((uint8_t *)dst,
                                                                                       (const uint8_t *)src, n);
    return cuda_check_launch(err, "copy");
}
