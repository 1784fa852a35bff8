/* matmul.cu: weight x activation products for every weight type the CUDA ops run, and the
 * embedding lookup (get_rows). Up to 8 activation rows run a mat-vec body (decode: bound by
 * reading the weights once); more run the tf32 tile body in 64x64 tiles. The bodies live in
 * matmul.cuh so moe.cu runs the same code over experts. */
#include "matmul.cuh"


extern "C" bool cuda_matmul_supports(uint32_t type) {
    int bytes;
    return cuda_type_block(type, &bytes) > 0;
}

template <int T, int NT, int R>
__global__ void __launch_bounds__(32 * MMV_WARPS) mmv_kernel(const uint8_t *w, size_t row_bytes, int64_t k, int64_t m,
                                                             const float *x, int64_t ldx, int n, float *y,
                                                             int64_t ldy) {
    __shared__ mmv_smem<NT> sm;
    int64_t j0 = ((int64_t)blockIdx.x * MMV_WARPS + threadIdx.x / 32) * R;
    const uint8_t *rows[R];
    float *ys[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        int64_t j = j0 + r < m ? j0 + r : m - 1;
        rows[r] = w + j * row_bytes;
        ys[r] = y + j;
    }
    int nr = m - j0 < R ? (int)(m - j0) : R; /* may be <= 0: the warp still helps stage x */
    mmv_rows<T, NT, R>(sm, rows, nr, k, x, ldx, n, ys, ldy);
}

template <int T, int NT>
__global__ void __launch_bounds__(32 * MMV_WARPS) mmv_full_kernel(const uint8_t *w, size_t row_bytes, int64_t k,
                                                                  int64_t m, const float *x, int64_t ldx, int n,
                                                                  float *y, int64_t ldy, int rows_per_warp) {
    extern __shared__ float4 mmv_xs4[];
    const int64_t ngp = k / 32 * MMV_GPAD;
    mmv_stage_x<NT>((float *)mmv_xs4, ngp, k, x, ldx, n);
    int64_t j0 = ((int64_t)blockIdx.x * MMV_WARPS + threadIdx.x / 32) * rows_per_warp;
    int64_t j1 = j0 + rows_per_warp < m ? j0 + rows_per_warp : m;
    if ((T == QT_Q4_0 || T == QT_Q8_0) && rows_per_warp >= 4)
        mmv_full_rows4<T == QT_Q8_0 ? QT_Q8_0 : QT_Q4_0, NT, 4>((const float *)mmv_xs4, ngp, w, row_bytes, k, j0, j1, n, y,
                                                            ldy);
    else if (T == QT_Q4_0 || T == QT_Q8_0)
        mmv_full_rows4<T == QT_Q8_0 ? QT_Q8_0 : QT_Q4_0, NT, 1>((const float *)mmv_xs4, ngp, w, row_bytes, k, j0, j1, n, y,
                                                               ldy);
    else mmv_full_rows<T, NT>((const float *)mmv_xs4, ngp, w, row_bytes, k, j0, j1, x, ldx, n, y, ldy);
}

/* raises the full mat-vec kernels' shared memory limit to MMV_FULL_SMEM (cuda_ops_init) */
template <int T> static void prepare_mmv(int lim, bool *ok) {
    *ok &= cudaFuncSetAttribute(mmv_full_kernel<T, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize, lim) == cudaSuccess;
    *ok &= cudaFuncSetAttribute(mmv_full_kernel<T, 2>, cudaFuncAttributeMaxDynamicSharedMemorySize, lim) == cudaSuccess;
    *ok &= cudaFuncSetAttribute(mmv_full_kernel<T, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize, lim) == cudaSuccess;
    *ok &= cudaFuncSetAttribute(mmv_full_kernel<T, 8>, cudaFuncAttributeMaxDynamicSharedMemorySize, lim) == cudaSuccess;
}

int cuda_matmul_prepare(const cuda_device_info *d, latte_err *err) {
    int lim = (int)(d->smem_optin < MMV_FULL_SMEM ? d->smem_optin : MMV_FULL_SMEM);
    bool ok = true;
    static const uint32_t types[] = {QT_F32, QT_F16, QT_BF16, QT_Q8_0, QT_Q4_0, QT_Q4_1, QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_IQ4_XS};
    for (uint32_t t : types) CUDA_TYPE_DISPATCH(t, prepare_mmv, lim, &ok);
    return ok ? 0 : err_set(err, LATTE_E_UNSUPPORTED, "cuda matmul: %s", cudaGetErrorString(cudaGetLastError()));
}

template <int T>
__global__ void __launch_bounds__(MMT_THREADS) mmt_kernel(const uint8_t *w, size_t row_bytes, int64_t k, int64_t m,
                                                          const float *x, int64_t ldx, int64_t n, float *y,
                                                          int64_t ldy) {
    __shared__ mmt_smem sm;
    int64_t i0 = (int64_t)blockIdx.y * MMT_BN;
    int nb = (int)(n - i0 < MMT_BN ? n - i0 : MMT_BN);
    if (threadIdx.x < MMT_BN) sm.xr[threadIdx.x] = sm.yr[threadIdx.x] = (int32_t)(i0 + threadIdx.x);
    __syncthreads();
    mmt_tile<T>(sm, w, row_bytes, k, m, (int64_t)blockIdx.x * MMT_BM, x, ldx, nb, y, ldy);
}

template <int T>
static void launch_mm(cudaStream_t st, const cuda_weight *w, const float *x, int64_t ldx, int64_t n, float *y,
                      int64_t ldy) {
    const uint8_t *wd = (const uint8_t *)w->data;
    bool tiles = n > 8 && w->k % 32 == 0;
    if (tiles) {
        dim3 grid((unsigned)((w->m + MMT_BM - 1) / MMT_BM), (unsigned)((n + MMT_BN - 1) / MMT_BN));
        mmt_kernel<T><<<grid, MMT_THREADS, 0, st>>>(wd, w->row_bytes, w->k, w->m, x, ldx, n, y, ldy);
        return;
    }
    const cuda_device_info *dev = cuda_dev_current();
    size_t lim = dev->smem_optin < MMV_FULL_SMEM ? dev->smem_optin : MMV_FULL_SMEM;
    int ntf = n == 1 ? 1 : n == 2 ? 2 : n <= 4 ? 4 : 8;
    /* whole x in shared memory, rows spread over ~32 warps per SM; past k = 4096 staging x per
     * block costs more than the chunked kernel's barriers (measured on the H200) */
    if (w->k <= 4096 && mmv_full_smem(w->k, ntf) <= lim) {
        int64_t warps = (int64_t)dev->n_sm * 32, rpw = (w->m + warps - 1) / warps;
        if ((T == QT_Q4_0 || T == QT_Q8_0) && rpw > 1) rpw = (rpw + 3) / 4 * 4; /* whole groups of four rows */
        unsigned blocks = (unsigned)((w->m + rpw * MMV_WARPS - 1) / (rpw * MMV_WARPS));
        size_t sm = mmv_full_smem(w->k, ntf);
        for (int64_t i0 = 0; i0 < n; i0 += 8) {
            int nb = (int)(n - i0 < 8 ? n - i0 : 8);
            const float *xi = x + i0 * ldx;
            float *yi = y + i0 * ldy;
#define MMV_FULL(NT) mmv_full_kernel<T, NT><<<blocks, 32 * MMV_WARPS, sm, st>>>(wd, w->row_bytes, w->k, w->m, xi, ldx, nb, yi, ldy, (int)rpw)
            if (ntf == 1) MMV_FULL(1);
            else if (ntf == 2) MMV_FULL(2);
            else if (ntf == 4) MMV_FULL(4);
            else MMV_FULL(8);
#undef MMV_FULL
        }
        return;
    }
    /* two rows per warp once that still leaves two blocks per multiprocessor */
    bool r2 = w->m >= 2 * 2 * dev->n_sm * MMV_WARPS;
    int64_t rows_per_block = MMV_WARPS * (r2 ? 2 : 1);
    unsigned blocks = (unsigned)((w->m + rows_per_block - 1) / rows_per_block);
    for (int64_t i0 = 0; i0 < n; i0 += 8) { /* 8 activation rows per pass over the weights */
        int nb = (int)(n - i0 < 8 ? n - i0 : 8);
        const float *xi = x + i0 * ldx;
        float *yi = y + i0 * ldy;
#define MMV_LAUNCH(NT, R) mmv_kernel<T, NT, R><<<blocks, 32 * MMV_WARPS, 0, st>>>(wd, w->row_bytes, w->k, w->m, xi, ldx, nb, yi, ldy)
        if (nb == 1) r2 ? MMV_LAUNCH(1, 2) : MMV_LAUNCH(1, 1);
        else if (nb == 2) r2 ? MMV_LAUNCH(2, 2) : MMV_LAUNCH(2, 1);
        else if (nb <= 4) r2 ? MMV_LAUNCH(4, 2) : MMV_LAUNCH(4, 1);
        else r2 ? MMV_LAUNCH(8, 2) : MMV_LAUNCH(8, 1);
#undef MMV_LAUNCH
    }
}

/* checks shared by cuda_matmul, cuda_moe_matmul and cuda_get_rows */
int cuda_weight_check(const cuda_weight *w, latte_err *err) {
    int bytes, be = cuda_type_block(w->type, &bytes);
    if (be == 0) return err_set(err, LATTE_E_UNSUPPORTED, "cuda: weight type %u has no CUDA kernel", w->type);
    if (w->k <= 0 || w->m <= 0 || w->k % be != 0)
        return err_set(err, LATTE_E_ARG, "cuda: weight shape %lld x %lld does not fit type %u blocks of %d",
                       (long long)w->k, (long long)w->m, w->type, be);
    if (w->row_bytes < (size_t)(w->k / be) * (size_t)bytes)
        return err_set(err, LATTE_E_ARG, "cuda: row_bytes %zu under the %lld elements of a row", w->row_bytes,
                       (long long)w->k);
    int align = w->type == QT_F32 ? 4 : (w->type == QT_Q4_1 || be == 256) && w->type != QT_Q6_K ? 4 : 2;
    if ((uintptr_t)w->data % (unsigned)align || w->row_bytes % (unsigned)align)
        return err_set(err, LATTE_E_ARG, "cuda: weight rows of type %u must be %d-byte aligned", w->type, align);
    return 0;
}

static int check_x(const float *x, int64_t ldx, int64_t k, latte_err *err) {
    if ((uintptr_t)x % 16 || ldx % 4 || ldx < k)
        return err_set(err, LATTE_E_ARG, "cuda matmul: activations must be 16-byte aligned rows (ldx %lld, k %lld)",
                       (long long)ldx, (long long)k);
    return 0;
}

extern "C" int cuda_matmul(cuda_stream s, const cuda_weight *w, const float *x, int64_t ldx, int64_t n, float *y,
                           int64_t ldy, latte_err *err) {
    int rc;
    if (!cuda_dev_current()) return err_set(err, LATTE_E_ARG, "cuda matmul: cuda_ops_init was not called for this device");
    if ((rc = cuda_weight_check(w, err)) || (rc = check_x(x, ldx, w->k, err))) return rc;
    if (n <= 0) return n == 0 ? 0 : err_set(err, LATTE_E_ARG, "cuda matmul: n = %lld", (long long)n);
    if (n > 1 && ldy < w->m) return err_set(err, LATTE_E_ARG, "cuda matmul: ldy %lld < m %lld", (long long)ldy, (long long)w->m);
    CUDA_TYPE_DISPATCH(w->type, launch_mm, CUDA_STREAM(s), w, x, ldx, n, y, ldy);
    return cuda_check_launch(err, "matmul");
}

/* ---- get_rows ---- */

template <int T>
__global__ void get_rows_kernel(const uint8_t *w, size_t row_bytes, int64_t k, int64_t m, const int32_t *ids,
                                float *out) {
    int64_t i = blockIdx.x;
    int32_t id = ids[i];
    float *o = out + i * k;
    if (id < 0 || id >= m) {
        for (int64_t c = threadIdx.x; c < k; c += blockDim.x) o[c] = __int_as_float(0x7fc00000);
        return;
    }
    const uint8_t *row = w + id * row_bytes;
    int64_t ng = k / 32;
    for (int64_t g = threadIdx.x; g < ng; g += blockDim.x) {
        float v[32];
        deq32<T>(row, g, v);
#pragma unroll
        for (int c = 0; c < 32; c++) o[g * 32 + c] = v[c];
    }
    if (T == QT_F32 || T == QT_F16 || T == QT_BF16)
        for (int64_t c = ng * 32 + threadIdx.x; c < k; c += blockDim.x) o[c] = deq1<T>(row, c);
}

template <int T>
static void launch_get_rows(cudaStream_t st, const cuda_weight *w, const int32_t *ids, int n, float *out) {
    get_rows_kernel<T><<<n, 128, 0, st>>>((const uint8_t *)w->data, w->row_bytes, w->k, w->m, ids, out);
}

extern "C" int cuda_get_rows(cuda_stream s, const cuda_weight *w, const int32_t *ids, int n, float *out,
                             latte_err *err) {
    int rc = cuda_weight_check(w, err);
    if (rc) return rc;
    if (n <= 0) return n == 0 ? 0 : err_set(err, LATTE_E_ARG, "cuda get_rows: n = %d", n);
    CUDA_TYPE_DISPATCH(w->type, launch_get_rows, CUDA_STREAM(s), w, ids, n, out);
    return cuda_check_launch(err, "get_rows");
}
