/* backend_cpu.c: the CPU backend's op table. Memory, copies and events are plain host
 * memory and no-ops (every op runs to completion before it returns); elementwise ops,
 * norms, rope, embedding lookup, the expert combine and cache writes are here; matmuls go
 * to matmul.c's kernels (SIMD, threaded), per-head products to heads.c, routing to route.c
 * and attention to attn.c. Every op is the scalar reference other backends are checked
 * against. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---- capabilities, memory, copies, events ---- */

static bool cpu_supports(backend *b, backend_op op, uint32_t t) {
    switch (op) {
    case BOP_MATMUL: return cpu_matmul_supports(t);
    case BOP_GET_ROWS: return quant_can_dequant(t) && quant_type_info_get(t)->row_interleave == 1;
    case BOP_CACHE: /* the attention kernels convert rows of these */
        return t == QT_F32 || t == QT_F16 || t == QT_BF16 || t == QT_Q8_0 || t == QT_Q6_0 || t == QT_Q4_0;
    }
    return false;
}

static void *cpu_buf_alloc(backend *b, size_t bytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) return NULL;
    memset(p, 0, bytes);
    return p;
}

static void cpu_buf_free(backend *b, void *p) { free(p); }

static int cpu_copy(backend *b, void *dst, const void *src, size_t bytes) {
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

static int cpu_copy_2d(backend *b, void *dst, size_t dld, const void *src, size_t sld, size_t width, int64_t rows) {
    for (int64_t i = 0; i < rows; i++) memmove((char *)dst + (size_t)i * dld, (const char *)src + (size_t)i * sld, width);
    return 0;
}

/* CPU work is done when its op returns: an event is only a token */
struct backend_event {
    int unused;
};

static backend_event *cpu_event_new(backend *b) { return calloc(1, sizeof(backend_event)); }
static void cpu_event_free(backend *b, backend_event *e) { free(e); }
static int cpu_event_nop(backend *b, backend_event *e) { return 0; }
static int cpu_sync(backend *b) { return 0; }

/* ---- compute ---- */

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

static int cpu_rms_norm(backend *b, const float *x, int64_t ldx, const lt_tensor *wt, int n, int d, float eps, float *y,
                        int64_t ldy) {
    const float *w = wt ? (const float *)wt->data : NULL;
    for (int i = 0; i < n; i++) {
        const float *xi = x + i * ldx;
        float *yi = y + i * ldy;
        double ss = 0.0;
        for (int j = 0; j < d; j++) ss += (double)xi[j] * xi[j];
        float s = (float)(1.0 / sqrt(ss / d + eps));
        for (int j = 0; j < d; j++) yi[j] = xi[j] * s * (w ? w[j] : 1.0f);
    }
    return 0;
}

static int cpu_rope(backend *b, float *x, int n_tok, int n_head, int64_t ld_tok, int64_t ld_head, const int32_t *pos,
                    const rope_table *rt) {
    int half = rt->n_rot / 2;
    for (int i = 0; i < n_tok; i++) {
        float p_i = (float)pos[i];
        for (int p = 0; p < half; p++) {
            float ang = p_i * rt->theta[p];
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
    return 0;
}

static int cpu_add(backend *b, const float *a, const float *bb, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = a[i] + bb[i];
    return 0;
}

static int cpu_add_bias(backend *b, float *x, const lt_tensor *bias, int n, int d) {
    const float *bv = (const float *)bias->data;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) x[(size_t)i * d + j] += bv[j];
    return 0;
}

static int cpu_silu_mul(backend *b, const float *g, const float *u, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    return 0;
}

static int cpu_route(backend *b, const route_params *rp, const float *logits, const lt_tensor *bias, int n,
                     int32_t *ids, float *weights) {
    cpu_route_ref(rp, logits, bias ? (const float *)bias->data : NULL, n, ids, weights);
    return 0;
}

static int cpu_moe_combine(backend *b, const float *d, const int32_t *ids, const float *weights, int n, int n_used,
                           int dim, float *out, bool accumulate) {
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * dim;
        if (!accumulate) memset(o, 0, sizeof(float) * dim);
        for (int k = 0; k < n_used; k++) {
            if (ids[i * n_used + k] < 0) continue;
            float w = weights[i * n_used + k];
            const float *dk = d + ((size_t)i * n_used + k) * dim;
            for (int j = 0; j < dim; j++) o[j] += w * dk[j];
        }
    }
    return 0;
}

static int cpu_cache_write(backend *b, void *dst, uint32_t t, int64_t ld, bool transposed, const int64_t *rows,
                           const float *src, int n, int d) {
    if (!transposed) {
        size_t rb = quant_row_bytes(t, d);
        for (int i = 0; i < n; i++) quant_kv_row(t, src + (size_t)i * d, (char *)dst + (size_t)rows[i] * rb, d);
        return 0;
    }
    /* transposed: dst is [d][ld] of a one-element-per-block type (f32/f16/bf16) */
    size_t es = quant_row_bytes(t, 1);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++)
            quant_quant_row(t, src + (size_t)i * d + j, (char *)dst + ((size_t)j * ld + (size_t)rows[i]) * es, 1);
    return 0;
}

/* in-place fast Walsh-Hadamard transform of each len-block, scaled by 1/sqrt(len) */
static int cpu_hadamard(backend *b, float *x, int64_t ld, int64_t n, int64_t width, int len) {
    if (len < 1 || (len & (len - 1)) || width % len) return LATTE_E_ARG;
    float s = 1.0f / sqrtf((float)len);
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < width; o += len) {
            float *v = x + i * ld + o;
            for (int h = 1; h < len; h *= 2)
                for (int j = 0; j < len; j += 2 * h)
                    for (int k = j; k < j + h; k++) {
                        float a = v[k], c = v[k + h];
                        v[k] = a + c;
                        v[k + h] = a - c;
                    }
            for (int k = 0; k < len; k++) v[k] *= s;
        }
    return 0;
}

static void cpu_free(backend *b);

static const backend_ops CPU_OPS = {
    .name = "CPU",
    .free = cpu_free,
    .supports = cpu_supports,
    .buf_alloc = cpu_buf_alloc,
    .buf_free = cpu_buf_free,
    .host_alloc = cpu_buf_alloc,
    .host_free = cpu_buf_free,
    .copy_in = cpu_copy,
    .copy_out = cpu_copy,
    .copy_2d = cpu_copy_2d,
    .event_new = cpu_event_new,
    .event_free = cpu_event_free,
    .event_record = cpu_event_nop,
    .event_wait = cpu_event_nop,
    .event_sync = cpu_event_nop,
    .sync = cpu_sync,
    .matmul = cpu_mm,
    .matmul_heads = cpu_matmul_heads,
    .matmul_experts = cpu_mm_experts,
    .get_rows = cpu_get_rows,
    .rms_norm = cpu_rms_norm,
    .rope = cpu_rope,
    .add = cpu_add,
    .add_bias = cpu_add_bias,
    .silu_mul = cpu_silu_mul,
    .route = cpu_route,
    .moe_combine = cpu_moe_combine,
    .cache_write = cpu_cache_write,
    .hadamard = cpu_hadamard,
    .attn_std = cpu_attn_std,
    .attn_latent = cpu_attn_latent,
};

/* ---- threads and cores ---- */

int backend_cpu_logical_cpus(void) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)(c > 65536 ? 65536 : c) : 1;
}

/* Distinct (package, core) pairs among the online CPUs, from sysfs; the logical count when
 * sysfs says nothing (containers may hide it). */
int backend_cpu_physical_cores(void) {
    int n_log = backend_cpu_logical_cpus(), found = 0, n = 0;
    enum { MAXC = 4096 };
    static const int cap = MAXC;
    long *keys = malloc(sizeof(long) * MAXC);
    if (!keys) return n_log;
    for (int cpu = 0; cpu < cap && found < n_log; cpu++) {
        char path[128];
        long core = -1, pkg = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fscanf(f, "%ld", &core) != 1) core = -1;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/physical_package_id", cpu);
        if ((f = fopen(path, "r"))) {
            if (fscanf(f, "%ld", &pkg) != 1) pkg = 0;
            fclose(f);
        }
        found++;
        if (core < 0) continue;
        long key = pkg * 1000003L + core;
        bool seen = false;
        for (int i = 0; i < n && !seen; i++) seen = keys[i] == key;
        if (!seen) keys[n++] = key;
    }
    free(keys);
    if (n <= 0 || n > n_log) return n_log;
    return n;
}

int backend_cpu_init(backend **out, int n_threads, latte_err *err) {
    *out = NULL;
    cpu_backend *cb = calloc(1, sizeof *cb);
    if (!cb) return err_set(err, LATTE_E_NOMEM, "out of memory creating the CPU backend");
    /* LATTE_CPU_ISA=ref|avx2|avx512 caps the kernels (all CPU contexts of the process):
     * to compare paths end to end on one machine */
    const char *isa = getenv("LATTE_CPU_ISA");
    if (isa && *isa) {
        int cap = !strcmp(isa, "ref") ? CPU_ISA_REF : !strcmp(isa, "avx2") ? CPU_ISA_AVX2
                : !strcmp(isa, "avx512") ? CPU_ISA_AVX512 : -1;
        if (cap < 0) {
            free(cb);
            return err_set(err, LATTE_E_ARG, "LATTE_CPU_ISA='%s': expected ref, avx2 or avx512", isa);
        }
        cpu_matmul_cap_isa(cap);
        cpu_attn_cap_isa(cap);
    }
    if (n_threads <= 0) n_threads = backend_cpu_physical_cores();
    cb->pool = cpu_pool_init(n_threads);
    if (!cb->pool) {
        free(cb);
        return err_set(err, LATTE_E_NOMEM, "cannot start %d CPU threads", n_threads);
    }
    cb->n_threads = cpu_pool_size(cb->pool);
    /* per-thread arrays sized by the pool itself, whatever the thread count */
    cb->scratch = calloc((size_t)cb->n_threads, sizeof *cb->scratch);
    cb->scratch_n = calloc((size_t)cb->n_threads, sizeof *cb->scratch_n);
    cb->base.ops = &CPU_OPS;
    cb->base.impl = cb;
    if (!cb->scratch || !cb->scratch_n) {
        cpu_free(&cb->base);
        return err_set(err, LATTE_E_NOMEM, "out of memory for %d CPU threads", n_threads);
    }
    *out = &cb->base;
    return 0;
}

int backend_cpu_threads(const backend *b) { return ((const cpu_backend *)b)->n_threads; }

static void cpu_free(backend *b) {
    cpu_backend *cb = (cpu_backend *)b;
    cpu_pool_free(cb->pool);
    for (int t = 0; cb->scratch && t < cb->n_threads; t++) free(cb->scratch[t]);
    free(cb->scratch);
    free(cb->scratch_n);
    free(cb->moe_x);
    free(cb->moe_y);
    free(cb->moe_rows);
    free(cb->attn_items);
    free(cb);
}

void backend_free(backend *b) {
    if (b) b->ops->free(b);
}
