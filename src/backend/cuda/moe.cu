/* moe.cu: products over the experts each (token, slot) pair selected. Few pairs (decode) run
 * one mat-vec per pair straight from ids. Many pairs are bucketed by expert on the device
 * (count, scan into a tile list, fill), then each tile of up to 64 pairs of one expert runs the
 * tf32 tile body with its activation rows gathered, so an expert's weights are read once per
 * 64 of its rows. The host never learns the counts: the grid is sized by an upper bound. */
#include "matmul.cuh"

enum { MOE_MMV_MAX_PAIRS = 32 };

/* workspace: cnt[E] off[E] cur[E] n_tiles[1] | tiles[max_tiles] (int2: expert, start) | rows[n_pairs] */
static int64_t moe_max_tiles(int64_t n_expert, int64_t n_pairs) {
    return (n_pairs + MMT_BN - 1) / MMT_BN + (n_expert < n_pairs ? n_expert : n_pairs);
}

extern "C" size_t cuda_moe_workspace_bytes(int64_t n_expert, int64_t n_pairs) {
    size_t head = (size_t)(3 * n_expert + 1) * 4;
    head = (head + 15) / 16 * 16;
    return head + (size_t)moe_max_tiles(n_expert, n_pairs) * 8 + (size_t)n_pairs * 4;
}

template <int T>
__global__ void __launch_bounds__(32 * MMV_WARPS)
    moe_mmv_kernel(const uint8_t *w, size_t row_bytes, size_t expert_bytes, int64_t k, int64_t m, int64_t n_expert,
                   const int32_t *ids, int n_used, const float *x, int64_t ldx, float *y, int64_t ldy) {
    __shared__ mmv_smem<1> sm;
    int64_t p = blockIdx.y, j = (int64_t)blockIdx.x * MMV_WARPS + threadIdx.x / 32;
    int32_t e = ids[p];
    if (e < 0 || e >= n_expert) return; /* the whole block: e is the same for all its threads */
    int64_t jj = j < m ? j : m - 1;
    const uint8_t *row = w + e * expert_bytes + jj * row_bytes;
    float *yr = y + p * ldy + jj;
    mmv_rows<T, 1, 1>(sm, &row, j < m ? 1 : 0, k, x + (p / n_used) * ldx, ldx, 1, &yr, ldy);
}

/* the same with the whole x row staged (mmv_full_rows): for k up to ~10900 (48 KB) */
template <int T>
__global__ void __launch_bounds__(32 * MMV_WARPS)
    moe_mmv_full_kernel(const uint8_t *w, size_t row_bytes, size_t expert_bytes, int64_t k, int64_t m,
                        int64_t n_expert, const int32_t *ids, int n_used, const float *x, int64_t ldx, float *y,
                        int64_t ldy, int rows_per_warp) {
    extern __shared__ float4 moe_xs4[];
    int64_t p = blockIdx.y;
    int32_t e = ids[p];
    if (e < 0 || e >= n_expert) return; /* the whole block */
    const int64_t ngp = k / 32 * MMV_GPAD;
    const float *xp = x + (p / n_used) * ldx;
    mmv_stage_x<1>((float *)moe_xs4, ngp, k, xp, ldx, 1);
    int64_t j0 = ((int64_t)blockIdx.x * MMV_WARPS + threadIdx.x / 32) * rows_per_warp;
    int64_t j1 = j0 + rows_per_warp < m ? j0 + rows_per_warp : m;
    if ((T == QT_Q4_0 || T == QT_Q8_0) && rows_per_warp >= 4)
        mmv_full_rows4<T == QT_Q8_0 ? QT_Q8_0 : QT_Q4_0, 1, 4>((const float *)moe_xs4, ngp, w + e * expert_bytes, row_bytes,
                                                           k, j0, j1, 1, y + p * ldy, ldy);
    else if (T == QT_Q4_0 || T == QT_Q8_0)
        mmv_full_rows4<T == QT_Q8_0 ? QT_Q8_0 : QT_Q4_0, 1, 1>((const float *)moe_xs4, ngp, w + e * expert_bytes, row_bytes,
                                                              k, j0, j1, 1, y + p * ldy, ldy);
    else mmv_full_rows<T, 1>((const float *)moe_xs4, ngp, w + e * expert_bytes, row_bytes, k, j0, j1, xp, ldx, 1,
                             y + p * ldy, ldy);
}

__global__ void moe_count_kernel(const int32_t *ids, int64_t n_pairs, int64_t n_expert, int32_t *cnt) {
    int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p < n_pairs && ids[p] >= 0 && ids[p] < n_expert) atomicAdd(&cnt[ids[p]], 1);
}

/* one thread: exclusive scan of the counts and the tile list */
__global__ void moe_scan_kernel(const int32_t *cnt, int64_t n_expert, int32_t *off, int32_t *n_tiles, int2 *tiles) {
    int32_t o = 0, nt = 0;
    for (int64_t e = 0; e < n_expert; e++) {
        off[e] = o;
        for (int32_t s = 0; s < cnt[e]; s += MMT_BN) tiles[nt++] = make_int2((int)e, o + s);
        o += cnt[e];
    }
    *n_tiles = nt;
}

__global__ void moe_fill_kernel(const int32_t *ids, int64_t n_pairs, int64_t n_expert, const int32_t *off,
                                int32_t *cur, int32_t *rows) {
    int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (p < n_pairs && ids[p] >= 0 && ids[p] < n_expert) rows[off[ids[p]] + atomicAdd(&cur[ids[p]], 1)] = (int32_t)p;
}

template <int T>
__global__ void __launch_bounds__(MMT_THREADS)
    moe_mmt_kernel(const uint8_t *w, size_t row_bytes, size_t expert_bytes, int64_t k, int64_t m, const int32_t *cnt,
                   const int32_t *off, const int32_t *n_tiles, const int2 *tiles, const int32_t *rows, int n_used,
                   const float *x, int64_t ldx, float *y, int64_t ldy) {
    __shared__ mmt_smem sm;
    if ((int)blockIdx.y >= *n_tiles) return;
    int2 tl = tiles[blockIdx.y];
    int e = tl.x, start = tl.y, end = off[e] + cnt[e];
    int nb = end - start < MMT_BN ? end - start : MMT_BN;
    if (threadIdx.x < MMT_BN) {
        int32_t p = threadIdx.x < nb ? rows[start + threadIdx.x] : 0;
        sm.xr[threadIdx.x] = p / n_used;
        sm.yr[threadIdx.x] = p;
    }
    __syncthreads();
    mmt_tile<T>(sm, w + e * expert_bytes, row_bytes, k, m, (int64_t)blockIdx.x * MMT_BM, x, ldx, nb, y, ldy);
}

struct moe_launch {
    cudaStream_t st;
    const cuda_weight *w;
    const int32_t *ids;
    int n_used;
    const float *x;
    int64_t ldx, n_pairs;
    float *y;
    int64_t ldy;
    char *ws;
};

template <int T> static void launch_moe(const moe_launch &a) {
    const cuda_weight *w = a.w;
    const uint8_t *wd = (const uint8_t *)w->data;
    if (a.n_pairs <= MOE_MMV_MAX_PAIRS && mmv_full_smem(w->k, 1) <= 48 * 1024) {
        /* rows spread so that all pairs together fill ~32 warps per SM */
        const cuda_device_info *dev = cuda_dev_current();
        int64_t warps = (int64_t)(dev ? dev->n_sm : 132) * 32, rpw = (w->m * a.n_pairs + warps - 1) / warps;
        if ((T == QT_Q4_0 || T == QT_Q8_0) && rpw > 1) rpw = (rpw + 3) / 4 * 4;
        dim3 grid((unsigned)((w->m + rpw * MMV_WARPS - 1) / (rpw * MMV_WARPS)), (unsigned)a.n_pairs);
        moe_mmv_full_kernel<T><<<grid, 32 * MMV_WARPS, mmv_full_smem(w->k, 1), a.st>>>(
            wd, w->row_bytes, w->expert_bytes, w->k, w->m, w->n_expert, a.ids, a.n_used, a.x, a.ldx, a.y, a.ldy,
            (int)rpw);
        return;
    }
    if (a.n_pairs <= MOE_MMV_MAX_PAIRS) {
        dim3 grid((unsigned)((w->m + MMV_WARPS - 1) / MMV_WARPS), (unsigned)a.n_pairs);
        moe_mmv_kernel<T><<<grid, 32 * MMV_WARPS, 0, a.st>>>(wd, w->row_bytes, w->expert_bytes, w->k, w->m,
                                                             w->n_expert, a.ids, a.n_used, a.x, a.ldx, a.y, a.ldy);
        return;
    }
    int64_t E = w->n_expert;
    int32_t *cnt = (int32_t *)a.ws, *off = cnt + E, *cur = off + E, *n_tiles = cur + E;
    size_t head = ((size_t)(3 * E + 1) * 4 + 15) / 16 * 16;
    int64_t max_tiles = moe_max_tiles(E, a.n_pairs);
    int2 *tiles = (int2 *)(a.ws + head);
    int32_t *rows = (int32_t *)(tiles + max_tiles);
    unsigned pb = (unsigned)((a.n_pairs + 255) / 256);
    cudaMemsetAsync(cnt, 0, sizeof(int32_t) * 3 * E, a.st);
    moe_count_kernel<<<pb, 256, 0, a.st>>>(a.ids, a.n_pairs, E, cnt);
    moe_scan_kernel<<<1, 1, 0, a.st>>>(cnt, E, off, n_tiles, tiles);
    moe_fill_kernel<<<pb, 256, 0, a.st>>>(a.ids, a.n_pairs, E, off, cur, rows);
    dim3 grid((unsigned)((w->m + MMT_BM - 1) / MMT_BM), (unsigned)max_tiles);
    moe_mmt_kernel<T><<<grid, MMT_THREADS, 0, a.st>>>(wd, w->row_bytes, w->expert_bytes, w->k, w->m, cnt, off,
                                                      n_tiles, tiles, rows, a.n_used, a.x, a.ldx, a.y, a.ldy);
}

extern "C" int cuda_moe_matmul(cuda_stream s, const cuda_weight *w, const int32_t *ids, int n_used, const float *x,
                               int64_t ldx, int64_t n, float *y, int64_t ldy, void *ws, size_t ws_bytes,
                               latte_err *err) {
    int rc = cuda_weight_check(w, err);
    if (rc) return rc;
    if (w->n_expert <= 0 || w->expert_bytes < w->row_bytes * (size_t)w->m)
        return err_set(err, LATTE_E_ARG, "cuda moe: %lld experts of %zu bytes do not hold %lld rows",
                       (long long)w->n_expert, w->expert_bytes, (long long)w->m);
    if (n_used <= 0 || n < 0 || ldy < w->m || (uintptr_t)x % 16 || ldx % 4 || ldx < w->k)
        return err_set(err, LATTE_E_ARG, "cuda moe: bad shape (n_used %d, n %lld, ldx %lld, ldy %lld)", n_used,
                       (long long)n, (long long)ldx, (long long)ldy);
    int64_t n_pairs = n * n_used;
    if (n_pairs == 0) return 0;
    if (n_pairs > MOE_MMV_MAX_PAIRS && (w->k % 32 || !ws || ws_bytes < cuda_moe_workspace_bytes(w->n_expert, n_pairs)))
        return err_set(err, LATTE_E_ARG, "cuda moe: %lld pairs need %zu bytes of workspace and k %% 32 == 0",
                       (long long)n_pairs, cuda_moe_workspace_bytes(w->n_expert, n_pairs));
    moe_launch a = {CUDA_STREAM(s), w, ids, n_used, x, ldx, n_pairs, y, ldy, (char *)ws};
    CUDA_TYPE_DISPATCH(w->type, launch_moe, a);
    return cuda_check_launch(err, "moe_matmul");
}
