/* backend_cpu.c: the CPU backend's op table. Elementwise ops, norms, rope, embedding
 * lookup and cache writes are here; matmuls go to matmul.c's kernels (SIMD, threaded)
 * and attention to attn.c. Every op is the scalar reference the other backends are
 * checked against. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../quant/quant.h"
#include "cpu.h"
#include "matmul.h"

int cpu_grow(void **buf, size_t *cap, size_t n, size_t elt) {
    if (n <= *cap) return 0;
    void *nb = realloc(*buf, n * elt);
    if (!nb) return LATTE_E_NOMEM;
    *buf = nb;
    *cap = n;
    return 0;
}

int cpu_scratch_reserve(cpu_backend *cb, size_t n) {
    for (int t = 0; t < cb->n_threads; t++)
        if (cpu_grow((void **)&cb->scratch[t], &cb->scratch_n[t], n, sizeof(float))) return LATTE_E_NOMEM;
    return 0;
}

static bool cpu_supports_type(backend *b, uint32_t t) { return cpu_matmul_supports(t); }

static int cpu_mm(backend *b, const lt_tensor *w, int64_t row0, int64_t m, const float *x, int64_t n, float *y,
                  int64_t ldy) {
    cpu_backend *cb = (cpu_backend *)b;
    const char *base = (const char *)w->data + (size_t)row0 * w->row_bytes;
    return cpu_matmul(cb->pool, w->type, base, w->row_bytes, m, w->ne[0], x, n, y, ldy);
}

/* Groups the (token, slot) pairs by expert, so each expert's matrix is read once per call. */
static int cpu_mm_experts(backend *b, const lt_tensor *w, const int32_t *ids, int n_used, const float *x,
                          int64_t ldx, int64_t n, float *y) {
    cpu_backend *cb = (cpu_backend *)b;
    int64_t k = w->ne[0], m = w->ne[1], n_pairs = n * n_used;
    if (cpu_grow((void **)&cb->moe_x, &cb->moe_x_n, (size_t)(n_pairs * k), sizeof(float)) ||
        cpu_grow((void **)&cb->moe_y, &cb->moe_y_n, (size_t)(n_pairs * m), sizeof(float)) ||
        cpu_grow((void **)&cb->moe_rows, &cb->moe_rows_n, (size_t)n_pairs, sizeof(int32_t)))
        return LATTE_E_NOMEM;
    for (int64_t e = 0; e < w->ne[2]; e++) {
        int64_t cnt = 0;
        for (int64_t p = 0; p < n_pairs; p++)
            if (ids[p] == e) {
                memcpy(cb->moe_x + cnt * k, x + (p / n_used) * ldx, sizeof(float) * k);
                cb->moe_rows[cnt++] = (int32_t)p;
            }
        if (!cnt) continue;
        int rc = cpu_mm(b, w, e * m, m, cb->moe_x, cnt, cb->moe_y, m);
        if (rc) return rc;
        for (int64_t c = 0; c < cnt; c++) memcpy(y + cb->moe_rows[c] * m, cb->moe_y + c * m, sizeof(float) * m);
    }
    return 0;
}

static int cpu_get_rows(backend *b, const lt_tensor *w, const int32_t *ids, int n, float *out) {
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= w->ne[1])
            return LATTE_E_ARG; /* the caller checks token ids first; this is a last guard */
        quant_dequant_row(w->type, (const char *)w->data + (size_t)ids[i] * w->row_bytes, out + (size_t)i * w->ne[0],
                          w->ne[0]);
    }
    return 0;
}

static void cpu_rms_norm(backend *b, const float *x, int64_t ldx, const float *w, int n, int d, float eps, float *y,
                         int64_t ldy) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy;
        double ss = 0.0;
        for (int j = 0; j < d; j++) ss += (double)xi[j] * xi[j];
        float s = (float)(1.0 / sqrt(ss / d + eps));
        for (int j = 0; j < d; j++) yi[j] = xi[j] * s * (w ? w[j] : 1.0f);
    }
}

static void cpu_rope(backend *b, float *x, int n_tok, int n_head, int64_t ld_tok, int64_t ld_head, int pos0,
                     const rope_table *rt) {
    int half = rt->n_rot / 2;
    for (int i = 0; i < n_tok; i++) {
        float pos = (float)(pos0 + i);
        for (int p = 0; p < half; p++) {
            float ang = pos * rt->theta[p];
            float c = cosf(ang) * rt->mscale, s = sinf(ang) * rt->mscale;
            int i0 = rt->neox ? p : 2 * p, i1 = rt->neox ? p + half : 2 * p + 1;
            for (int h = 0; h < n_head; h++) {
                float *v = x + i * ld_tok + h * ld_head;
                float a = v[i0], bb = v[i1];
                v[i0] = a * c - bb * s;
                v[i1] = a * s + bb * c;
            }
        }
    }
}

static void cpu_add(backend *b, const float *a, const float *bb, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + bb[i];
}

static void cpu_add_bias(backend *b, float *x, const float *bias, int n, int d) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] += bias[j];
}

static void cpu_silu_mul(backend *b, const float *g, const float *u, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void cpu_cache_write(backend *b, void *dst, uint32_t t, int64_t ld, bool transposed, int row0,
                            const float *src, int n, int d) {
    if (!transposed) {
        size_t rb = quant_row_bytes(t, d);
        for (int i = 0; i < n; i++) quant_quant_row(t, src + (size_t)i * d, (char *)dst + (size_t)(row0 + i) * rb, d);
        return;
    }
    /* transposed: dst is [d][ld] of a one-element-per-block type (f32/f16/bf16) */
    size_t es = quant_row_bytes(t, 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            quant_quant_row(t, src + (size_t)i * d + j, (char *)dst + ((size_t)j * ld + row0 + i) * es, 1);
}

static const backend_ops CPU_OPS = {
    .name = "cpu",
    .supports_type = cpu_supports_type,
    .matmul = cpu_mm,
    .matmul_experts = cpu_mm_experts,
    .get_rows = cpu_get_rows,
    .rms_norm = cpu_rms_norm,
    .rope = cpu_rope,
    .add = cpu_add,
    .add_bias = cpu_add_bias,
    .silu_mul = cpu_silu_mul,
    .cache_write = cpu_cache_write,
    .attn_std = cpu_attn_std,
    .attn_latent = cpu_attn_latent,
};

int backend_cpu_init(backend **out, int n_threads, latte_err *err) {
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb) return err_set(err, LATTE_E_NOMEM, "out of memory creating the CPU backend");
    if (n_threads > CPU_MAX_THREADS) n_threads = CPU_MAX_THREADS;
    cb->pool = cpu_pool_init(n_threads);
    if (!cb->pool) {
        free(cb);
        return err_set(err, LATTE_E_NOMEM, "cannot start %d CPU threads", n_threads);
    }
    cb->n_threads = cpu_pool_size(cb->pool);
    cb->base.ops = &CPU_OPS;
    cb->base.impl = cb;
    *out = &cb->base;
    return 0;
}

void backend_free(backend *b) {
    if (!b) return;
    cpu_backend *cb = (cpu_backend *)b;
    cpu_pool_free(cb->pool);
    for (int t = 0; t < CPU_MAX_THREADS; t++) free(cb->scratch[t]);
    free(cb->moe_x);
    free(cb->moe_y);
    free(cb->moe_rows);
    free(cb);
}
