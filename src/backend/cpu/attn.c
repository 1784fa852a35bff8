/* attn.c: attention on the CPU, the scalar reference for every attention path.
 * Standard attention (GQA, causal over one timeline) and latent MLA attention in three
 * forms that compute the same function: mode 1 reads the transposed latent copy for the
 * value product, mode 2 reads latent rows, mode 3 (and -fa) streams the cache once with an
 * online softmax. Work is split over (token, head-range) items across the pool. */
#include <math.h>
#include <string.h>

#include "../../quant/quant.h"
#include "cpu.h"
#include "matmul.h"
#include "vec.h"

static int attn_cap = CPU_ISA_AVX512; /* set before any attention runs (cpu_attn_cap_isa) */

static bool has_avx2(void) {
    static int v = -1; /* decided once; a benign race sets the same value */
    if (v < 0) v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return v && attn_cap >= CPU_ISA_AVX2;
}

static bool has_avx512(void) {
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("avx512f");
    return v && has_avx2() && attn_cap >= CPU_ISA_AVX512;
}

int cpu_attn_cap_isa(int isa) {
    int old = attn_cap;
    attn_cap = isa;
    return old;
}

const float *cpu_row_f32(uint32_t type, const void *row, int64_t n, float *buf) {
    if (type == QT_F32) return (const float *)row;
    if (type == QT_F16 && has_avx2()) cpu_f16_to_f32_avx2(row, buf, (int)n);
    else quant_dequant_row(type, row, buf, n);
    return buf;
}

static float dot(const float *a, const float *b, int n) {
    if (has_avx2()) return cpu_vdot_avx2(a, b, n);
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static void axpy(float *y, float a, const float *x, int n) {
    if (has_avx2()) {
        cpu_vaxpy_avx2(y, a, x, n);
        return;
    }
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* scalar references of the blocked kernels (vec.h); tests/test_attn.c checks the AVX2 ones */
void cpu_vdot_blk_ref(const float *const *q, int nq, const float *k, size_t ks, int nk, int n, float *s,
                      size_t ss, int acc) {
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk; j++) {
            float r = 0.0f;
            for (int d = 0; d < n; d++) r += q[i][d] * k[j * ks + d];
            float *o = s + i * ss + j;
            *o = acc ? *o + r : r;
        }
}

void cpu_vaxpy_blk_ref(float *const *y, int ny, const float *p, size_t ps, const float *x, size_t xs, int nx,
                       int n) {
    for (int i = 0; i < ny; i++)
        for (int t = 0; t < nx; t++) {
            float c = p[i * ps + t];
            for (int d = 0; d < n; d++) y[i][d] += c * x[t * xs + d];
        }
}

static void dot_blk(const float *const *q, int nq, const float *k, size_t ks, int nk, int n, float *s, size_t ss,
                    int acc) {
    if (has_avx512()) cpu_vdot_blk_avx512(q, nq, k, ks, nk, n, s, ss, acc);
    else if (has_avx2()) cpu_vdot_blk_avx2(q, nq, k, ks, nk, n, s, ss, acc);
    else cpu_vdot_blk_ref(q, nq, k, ks, nk, n, s, ss, acc);
}

static void axpy_blk(float *const *y, int ny, const float *p, size_t ps, const float *x, size_t xs, int nx, int n) {
    if (has_avx512()) cpu_vaxpy_blk_avx512(y, ny, p, ps, x, xs, nx, n);
    else if (has_avx2()) cpu_vaxpy_blk_avx2(y, ny, p, ps, x, xs, nx, n);
    else cpu_vaxpy_blk_ref(y, ny, p, ps, x, xs, nx, n);
}

/* s[i] = e^(s[i] - m), returning their sum */
static float exp_sum(float *s, int n, float m) {
    if (has_avx2()) return cpu_vexp_sum_avx2(s, n, m);
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += (s[i] = expf(s[i] - m));
    return sum;
}

/* Online softmax over one tile of nb keys for rows [0, R): s[r*ld + t] holds the raw dots;
 * row r sees min(lim0 + r / per, nb) keys (causal: per rows share a token). Scales the
 * scores, updates the running max m[r] and sum l[r], rescales o[r] when the max grows, and
 * leaves the weights (0 past the causal limit) in s for the value pass. */
static void flash_rows(int R, int per, int lim0, int nb, float *s, size_t ld, float scale, float *m, float *l,
                       float *const *o, int dv) {
    for (int r = 0; r < R; r++) {
        int nk = lim0 + r / per;
        nk = nk < nb ? nk : nb;
        float *sr = s + (size_t)r * ld;
        if (nk <= 0) {
            memset(sr, 0, sizeof(float) * nb);
            continue;
        }
        float bm = -INFINITY;
        for (int t = 0; t < nk; t++) {
            sr[t] *= scale;
            bm = sr[t] > bm ? sr[t] : bm;
        }
        if (bm > m[r]) {
            float c = expf(m[r] - bm);
            for (int d = 0; d < dv; d++) o[r][d] *= c;
            l[r] *= c;
            m[r] = bm;
        }
        l[r] += exp_sum(sr, nk, m[r]);
        for (int t = nk; t < nb; t++) sr[t] = 0.0f;
    }
}

/* floats of scratch that hold n pointers (placed first, so they stay aligned) */
static size_t ptr_floats(size_t n) { return (n * sizeof(void *) + sizeof(float) - 1) / sizeof(float); }

/* softmax of s[0..n) in place; returns nothing, sum is 1 */
static void softmax(float *s, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = s[i] > m ? s[i] : m;
    float inv = 1.0f / exp_sum(s, n, m);
    for (int i = 0; i < n; i++) s[i] *= inv;
}

/* Work items over the runs of a micro-batch: tokens [i0, i0+ni) of run `run` (offsets in
 * the run) and heads [h0, h1) (standard attention: h0 is the kv head). Built on the caller
 * thread before a job; each worker takes items ith, ith+nth, ... */
typedef struct attn_item {
    int run, i0, ni, h0, h1;
} attn_item;

/* Appends the items of every run: blocks of tb tokens, each split into `chunks` head ranges
 * of n_head heads. Returns the item count or -1 when memory cannot be had. */
static int items_make(cpu_backend *cb, attn_item **items, size_t *cap, const attn_run *runs, int n_runs, int tb,
                      int n_head, int chunks) {
    int n = 0;
    for (int r = 0; r < n_runs; r++) n += (runs[r].n_tok + tb - 1) / tb * chunks;
    if (cpu_grow((void **)items, cap, (size_t)(n > 0 ? n : 1), sizeof **items)) return -1;
    int k = 0;
    for (int r = 0; r < n_runs; r++)
        for (int i0 = 0; i0 < runs[r].n_tok; i0 += tb)
            for (int c = 0; c < chunks; c++) {
                int ni = runs[r].n_tok - i0 < tb ? runs[r].n_tok - i0 : tb;
                (*items)[k++] = (attn_item){r, i0, ni, (int)((long)n_head * c / chunks),
                                            (int)((long)n_head * (c + 1) / chunks)};
            }
    return n;
}

/* blocks of tb tokens over all runs */
static int count_blocks(const attn_run *runs, int n_runs, int tb) {
    int n = 0;
    for (int r = 0; r < n_runs; r++) n += (runs[r].n_tok + tb - 1) / tb;
    return n;
}

/* ---- standard attention ----
 * Work item = (kv head, block of STD_QB query tokens): every query head of the group and
 * every token of the block walk the keys together, so each K/V row is converted to f32
 * once per item, not once per (token, head). Without -fa a full score row is kept per
 * (token, head) and normalised before the value pass; with -fa one pass keeps an online
 * softmax (running max, sum and rescaled accumulator). */

#define STD_QB 8 /* query tokens per work item */
#define STD_KT 32 /* keys converted at once */

typedef struct std_job {
    const attn_std_args *a;
    cpu_backend *cb;
    const attn_item *items;
    int n_items;
    int group; /* query heads per kv head */
    int max_keys; /* most keys any token sees (explicit score rows) */
} std_job;

/* converts rows [t0, t0+nt) of head hk's K or V into dst [nt][d] */
static void std_tile(const void *cache, uint32_t type, size_t row, size_t head_off, int64_t t0, int nt, int d,
                     float *dst) {
    for (int t = 0; t < nt; t++) {
        const float *r = cpu_row_f32(type, (const char *)cache + (size_t)(t0 + t) * row + head_off, d, dst + (size_t)t * d);
        if (r != dst + (size_t)t * d) memcpy(dst + (size_t)t * d, r, sizeof(float) * d);
    }
}

static void std_worker(void *arg, int ith, int nth) {
    const std_job *j = arg;
    const attn_std_args *a = j->a;
    int G = j->group, R = STD_QB * G; /* rows: (token, head in group) */
    float **op = (float **)(void *)j->cb->scratch[ith];
    const float **qp = (const float **)(void *)(op + R);
    float *ktile = j->cb->scratch[ith] + ptr_floats(2 * (size_t)R), *vtile = ktile + STD_KT * a->d_k,
          *m = vtile + STD_KT * a->d_v, *l = m + R,
          *scores = l + R; /* flash: scores[R][STD_KT]; explicit: scores[R][max_keys] */
    size_t krow = quant_row_bytes(a->k_type, (int64_t)a->n_head_kv * a->d_k);
    size_t vrow = quant_row_bytes(a->v_type, (int64_t)a->n_head_kv * a->d_v);
    size_t ld = a->flash ? STD_KT : (size_t)j->max_keys;
    for (int it = ith; it < j->n_items; it += nth) {
        const attn_item *item = &j->items[it];
        const attn_run *run = &a->runs[item->run];
        int hk = item->h0, i0 = item->i0, ni = item->ni, nr = ni * G, pos0 = run->pos0;
        int64_t kv0 = run->kv0;
        size_t koff = quant_row_bytes(a->k_type, (int64_t)hk * a->d_k), voff = quant_row_bytes(a->v_type, (int64_t)hk * a->d_v);
        int n_t = pos0 + i0 + ni; /* keys seen by the last token of the block */
        for (int i = 0; i < ni; i++)
            for (int g = 0; g < G; g++) {
                size_t row = (size_t)(run->tok0 + i0 + i) * a->n_head + hk * G + g;
                qp[i * G + g] = a->q + row * a->d_k;
                op[i * G + g] = a->out + row * a->d_v;
                memset(op[i * G + g], 0, sizeof(float) * a->d_v);
                m[i * G + g] = -INFINITY, l[i * G + g] = 0.0f;
            }
        /* every row scores the whole tile (keys past a token's causal limit are computed and
         * then ignored or weighted 0), so the blocked kernel shares each load */
        for (int t0 = 0; t0 < n_t; t0 += STD_KT) {
            int nt = n_t - t0 < STD_KT ? n_t - t0 : STD_KT, lim0 = pos0 + i0 + 1 - t0;
            std_tile(a->k_cache, a->k_type, krow, koff, kv0 + t0, nt, a->d_k, ktile);
            float *sc = a->flash ? scores : scores + t0;
            dot_blk(qp, nr, ktile, a->d_k, nt, a->d_k, sc, ld, 0);
            if (!a->flash) {
                for (int r = 0; r < nr; r++) {
                    int nk = lim0 + r / G;
                    nk = nk < nt ? nk : nt;
                    for (int t = 0; t < nk; t++) sc[r * ld + t] *= a->scale;
                }
                continue;
            }
            std_tile(a->v_cache, a->v_type, vrow, voff, kv0 + t0, nt, a->d_v, vtile);
            flash_rows(nr, G, lim0, nt, sc, ld, a->scale, m, l, op, a->d_v);
            axpy_blk(op, nr, sc, ld, vtile, a->d_v, nt, a->d_v);
        }
        if (a->flash) {
            for (int r = 0; r < nr; r++) {
                float *o = op[r], inv = 1.0f / l[r];
                for (int d = 0; d < a->d_v; d++) o[d] *= inv;
            }
            continue;
        }
        /* explicit: normalise each score row (zero past its causal limit), then one pass over V */
        for (int r = 0; r < nr; r++) {
            float *sr = scores + (size_t)r * ld;
            int lim = pos0 + i0 + r / G + 1;
            softmax(sr, lim);
            for (int t = lim; t < n_t; t++) sr[t] = 0.0f;
        }
        for (int t0 = 0; t0 < n_t; t0 += STD_KT) {
            int nt = n_t - t0 < STD_KT ? n_t - t0 : STD_KT;
            std_tile(a->v_cache, a->v_type, vrow, voff, kv0 + t0, nt, a->d_v, vtile);
            axpy_blk(op, nr, scores + t0, ld, vtile, a->d_v, nt, a->d_v);
        }
    }
}

static int max_keys(const attn_run *runs, int n_runs) {
    int mk = 1;
    for (int r = 0; r < n_runs; r++)
        if (runs[r].pos0 + runs[r].n_tok > mk) mk = runs[r].pos0 + runs[r].n_tok;
    return mk;
}

int cpu_attn_std(backend *b, const attn_std_args *a) {
    cpu_backend *cb = (cpu_backend *)b;
    /* one item per (kv head, block of STD_QB tokens of a run) */
    int n = items_make(cb, (attn_item **)&cb->attn_items, &cb->attn_items_n, a->runs, a->n_runs, STD_QB,
                       a->n_head_kv, a->n_head_kv);
    if (n < 0) return LATTE_E_NOMEM;
    for (int i = 0; i < n; i++) { /* items_make gave head ranges [h0, h0+1): h0 is the kv head */
        attn_item *it = &((attn_item *)cb->attn_items)[i];
        it->h1 = it->h0 + 1;
    }
    std_job j = {a, cb, cb->attn_items, n, a->n_head / a->n_head_kv, max_keys(a->runs, a->n_runs)};
    size_t R = (size_t)STD_QB * j.group;
    size_t need = ptr_floats(2 * R) + (size_t)STD_KT * (a->d_k + a->d_v) + 2 * R +
                  R * (a->flash ? STD_KT : (size_t)j.max_keys);
    int rc = cpu_scratch_reserve(cb, need);
    if (rc) return rc;
    cpu_pool_run(cb->pool, std_worker, &j);
    return 0;
}

/* ---- latent (MLA) attention ---- */

typedef struct lat_job {
    const attn_latent_args *a;
    cpu_backend *cb;
    const attn_item *items;
    int n_items, max_keys;
} lat_job;

#define LAT_BLOCK 32 /* cache rows converted at once in the fused path */
#define LAT_TB 4     /* tokens per work item in the fused path: they share each converted block */

/* mode 3 / -fa: rows (token of [i0, i0+ni) of the run, head of [h0, h1)) stream the
 * sequence's cache rows together, each converted block of LAT_BLOCK rows scored and
 * accumulated by the blocked kernels */
static void lat_fused(const attn_latent_args *a, const attn_run *run, int i0, int ni, int h0, int h1, float *scr) {
    int w = a->r + a->d_rope, nh = h1 - h0, R = ni * nh, n_t = run->pos0 + i0 + ni;
    size_t row = quant_row_bytes(a->kv_type, w);
    float **op = (float **)(void *)scr;
    const float **qlp = (const float **)(void *)(op + R), **qpp = qlp + R;
    float *blk = scr + ptr_floats(3 * (size_t)R), *m = blk + (size_t)LAT_BLOCK * w, *l = m + R, *s = l + R;
    for (int i = 0; i < ni; i++)
        for (int h = 0; h < nh; h++) {
            size_t qr = (size_t)(run->tok0 + i0 + i) * a->n_head + h0 + h;
            int r = i * nh + h;
            qlp[r] = a->q_lat + qr * a->r;
            qpp[r] = a->q_pe + qr * a->d_rope;
            op[r] = a->out + qr * a->r;
            m[r] = -INFINITY, l[r] = 0.0f;
            memset(op[r], 0, sizeof(float) * a->r);
        }
    for (int t0 = 0; t0 < n_t; t0 += LAT_BLOCK) {
        int nb = n_t - t0 < LAT_BLOCK ? n_t - t0 : LAT_BLOCK;
        for (int t = 0; t < nb; t++) {
            const void *src = (const char *)a->kv_cache + (size_t)(run->kv0 + t0 + t) * row;
            const float *r = cpu_row_f32(a->kv_type, src, w, blk + (size_t)t * w);
            if (r != blk + (size_t)t * w) memcpy(blk + (size_t)t * w, r, sizeof(float) * w);
        }
        dot_blk(qlp, R, blk, w, nb, a->r, s, LAT_BLOCK, 0);
        dot_blk(qpp, R, blk + a->r, w, nb, a->d_rope, s, LAT_BLOCK, 1);
        flash_rows(R, nh, run->pos0 + i0 + 1 - t0, nb, s, LAT_BLOCK, a->scale, m, l, op, a->r);
        axpy_blk(op, R, s, LAT_BLOCK, blk, w, nb, a->r);
    }
    for (int r = 0; r < R; r++)
        for (int d = 0; d < a->r; d++) op[r][d] /= l[r];
}

/* modes 1 and 2: a full score row, softmax, then the value product (token i of the run) */
static void lat_explicit(const attn_latent_args *a, const attn_run *run, int i, int h0, int h1, float *scr,
                         int max_keys) {
    int w = a->r + a->d_rope, n_t = run->pos0 + i + 1;
    size_t row = quant_row_bytes(a->kv_type, w);
    size_t trow = a->mode == 1 ? quant_row_bytes(a->ct_type, a->ct_ld) : 0, es = a->mode == 1 ? quant_row_bytes(a->ct_type, 1) : 0;
    const char *kv = (const char *)a->kv_cache + (size_t)run->kv0 * row;
    /* scores first: a converted transposed row (n_t floats) may be longer than w */
    float *scores = scr, *rbuf = scr + max_keys;
    size_t ti = (size_t)run->tok0 + i;
    for (int h = h0; h < h1; h++) {
        const float *ql = a->q_lat + (ti * a->n_head + h) * a->r;
        const float *qp = a->q_pe + (ti * a->n_head + h) * a->d_rope;
        float *o = a->out + (ti * a->n_head + h) * a->r;
        for (int t = 0; t < n_t; t++) {
            const float *c = cpu_row_f32(a->kv_type, kv + (size_t)t * row, w, rbuf);
            scores[t] = a->scale * (dot(ql, c, a->r) + dot(qp, c + a->r, a->d_rope));
        }
        softmax(scores, n_t);
        if (a->mode == 1) { /* o[d] = sum_t p_t * cT[d][kv0 + t] */
            for (int d = 0; d < a->r; d++) {
                const char *col = (const char *)a->ct_cache + (size_t)d * trow + (size_t)run->kv0 * es;
                o[d] = dot(scores, cpu_row_f32(a->ct_type, col, n_t, rbuf), n_t);
            }
        } else {
            memset(o, 0, sizeof(float) * a->r);
            for (int t = 0; t < n_t; t++) axpy(o, scores[t], cpu_row_f32(a->kv_type, kv + (size_t)t * row, w, rbuf), a->r);
        }
    }
}

static void lat_worker(void *arg, int ith, int nth) {
    const lat_job *j = arg;
    const attn_latent_args *a = j->a;
    for (int it = ith; it < j->n_items; it += nth) {
        const attn_item *item = &j->items[it];
        const attn_run *run = &a->runs[item->run];
        if (a->mode == 3 || a->flash) lat_fused(a, run, item->i0, item->ni, item->h0, item->h1, j->cb->scratch[ith]);
        else
            for (int i = item->i0; i < item->i0 + item->ni; i++)
                lat_explicit(a, run, i, item->h0, item->h1, j->cb->scratch[ith], j->max_keys);
    }
}

int cpu_attn_latent(backend *b, const attn_latent_args *a) {
    cpu_backend *cb = (cpu_backend *)b;
    bool fused = a->mode == 3 || a->flash;
    int tb = fused ? LAT_TB : 1, nth = cb->n_threads;
    /* split heads only when the token blocks alone leave threads idle */
    int chunks = count_blocks(a->runs, a->n_runs, tb) < nth ? (nth < a->n_head ? nth : a->n_head) : 1;
    int n = items_make(cb, (attn_item **)&cb->attn_items, &cb->attn_items_n, a->runs, a->n_runs, tb, a->n_head, chunks);
    if (n < 0) return LATTE_E_NOMEM;
    lat_job j = {a, cb, cb->attn_items, n, max_keys(a->runs, a->n_runs)};
    size_t w = (size_t)a->r + a->d_rope, n_t = (size_t)j.max_keys, R = (size_t)LAT_TB * a->n_head;
    size_t need = fused ? ptr_floats(3 * R) + LAT_BLOCK * w + 2 * R + R * LAT_BLOCK : (w > n_t ? w : n_t) + n_t;
    int rc = cpu_scratch_reserve(cb, need);
    if (rc) return rc;
    cpu_pool_run(cb->pool, lat_worker, &j);
    return 0;
}
