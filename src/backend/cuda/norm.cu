/* norm.cu: RMS norm over rows, one block per row: the sum of squares in f32 per thread, then
 * across the block; scale and optional weight applied in the same pass. Matches the CPU
 * reference (which sums in double) to f32 rounding. */
#include "common.cuh"

__global__ void rms_norm_kernel(const float *x, int64_t ldx, const float *w, int d, float eps, float *y, int64_t ldy) {
    __shared__ float part[32];
    const float *xi = x + blockIdx.x * ldx;
    float *yi = y + blockIdx.x * ldy;
    float ss = 0.0f;
    for (int j = threadIdx.x; j < d; j += blockDim.x) ss += xi[j] * xi[j];
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x / 32] = ss;
    __syncthreads();
    if (threadIdx.x < 32) {
        ss = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : 0.0f;
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        if (threadIdx.x == 0) part[0] = ss;
    }
    __syncthreads();
    float s = rsqrtf(part[0] / d + eps);
    for (int j = threadIdx.x; j < d; j += blockDim.x) yi[j] = xi[j] * s * (w ? w[j] : 1.0f);
}

extern "C" int cuda_rms_norm(cuda_stream s, const float *x, int64_t ldx, const float *w, int n, int d, float eps,
                             float *y, int64_t ldy, latte_err *err) {
    if (n < 0 || d <= 0 || ldx < d || ldy < d)
        return err_set(err, LATTE_E_ARG, "cuda rms_norm: n %d, d %d, ldx %lld, ldy %lld", n, d, (long long)ldx,
                       (long long)ldy);
    if (n == 0) return 0;
    rms_norm_kernel<<<n, 256, 0, CUDA_STREAM(s)>>>(x, ldx, w, d, eps, y, ldy);
    return cuda_check_launch(err, "rms_norm");
}
