/* heads.c: matmul_heads on the CPU: one matrix product per attention head (MLA's absorbed
 * W_kb before attention and W_vb after it), all heads in one pool job. Work items are
 * (head, range of weight rows); each thread gathers its head's strided x rows into its own
 * scratch and runs the single-thread kernel of matmul.c on them, so a 128-head layer costs
 * one fork-join instead of 128. */
#include <stdint.h>
#include <string.h>

#include "../../quant/quant.h"
#include "cpu.h"
#include "matmul.h"

typedef struct heads_job {
    cpu_backend *cb;
    const lt_tensor *w;
    int n_head, chunks;
    int64_t head_rows, row_off, m, k, ldx, xs, n, ldy, ys;
    const float *x;
    float *y;
    size_t qbytes; /* quantized-x scratch bytes per thread, after the gathered x */
} heads_job;

static void heads_worker(void *arg, int ith, int nth) {
    const heads_job *j = arg;
    float *xg = j->cb->scratch[ith];
    void *qs = (void *)(((uintptr_t)(xg + j->n * j->k) + 63) & ~(uintptr_t)63); /* 16 spare floats reserved */
    /* row ranges are whole gemm tiles so the kernels see aligned starts */
    int64_t tiles = (j->m + CPU_MM_GEMM_TILE - 1) / CPU_MM_GEMM_TILE;
    int prev_h = -1;
    for (int it = ith; it < j->n_head * j->chunks; it += nth) {
        int h = it / j->chunks, c = it % j->chunks;
        int64_t j0 = tiles * c / j->chunks * CPU_MM_GEMM_TILE, j1 = tiles * (c + 1) / j->chunks * CPU_MM_GEMM_TILE;
        if (j1 > j->m) j1 = j->m;
        if (j0 >= j1) continue;
        if (h != prev_h) { /* gather head h's x rows: [n][k] */
            for (int64_t i = 0; i < j->n; i++)
                memcpy(xg + i * j->k, j->x + i * j->ldx + (int64_t)h * j->xs, sizeof(float) * (size_t)j->k);
            prev_h = h;
        }
        const char *wh = (const char *)j->w->data + (size_t)(h * j->head_rows + j->row_off) * j->w->row_bytes;
        cpu_matmul_rows(j->w->type, wh, j->w->row_bytes, j0, j1, j->k, xg, j->n, j->y + (int64_t)h * j->ys, j->ldy, qs,
                        j->qbytes);
    }
}

int cpu_matmul_heads(backend *b, const lt_tensor *w, int n_head, int64_t head_rows, int64_t row_off, int64_t m,
                     const float *x, int64_t ldx, int64_t xs, int64_t n, float *y, int64_t ldy, int64_t ys) {
    cpu_backend *cb = (cpu_backend *)b;
    int64_t k = w->ne[0];
    if (!cpu_matmul_supports(w->type)) return LATTE_E_UNSUPPORTED;
    const quant_type_info *ti = quant_type_info_get(w->type);
    if (n_head <= 0 || m <= 0 || n <= 0) return n_head < 0 || m < 0 || n < 0 ? LATTE_E_ARG : 0;
    if (k % ti->block_elems || row_off + m > head_rows || (int64_t)n_head * head_rows > w->ne[1] * w->ne[2])
        return LATTE_E_ARG;
    int nth = cb->n_threads;
    /* enough items for every thread: split a head's rows when there are few heads */
    int64_t tiles = (m + CPU_MM_GEMM_TILE - 1) / CPU_MM_GEMM_TILE;
    int chunks = n_head >= 2 * nth ? 1 : (2 * nth + n_head - 1) / n_head;
    if (chunks > tiles) chunks = (int)tiles;
    size_t qbytes = cpu_matmul_scratch_bytes(w->type, k, n);
    int rc = cpu_scratch_reserve(cb, (size_t)(n * k) + (qbytes + sizeof(float) - 1) / sizeof(float) + 16);
    if (rc) return rc;
    heads_job j = {cb, w, n_head, chunks, head_rows, row_off, m, k, ldx, xs, n, ldy, ys, x, y, qbytes};
    cpu_pool_run(cb->pool, heads_worker, &j);
    return 0;
}
