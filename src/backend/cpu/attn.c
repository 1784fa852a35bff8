/* attn.c: attention on the CPU, the scalar reference for every attention path.
 * Standard attention (GQA, causal over one timeline) and latent MLA attention in three
 * forms that compute the same function: mode 1 reads the transposed latent copy for the
 * value product, mode 2 reads latent rows, mode 3 (and -fa) streams the cache once with an
 * online softmax. Work is split over (token, head-range) items across the pool. */
#include <math.h>
#include <string.h>

#include "../../quant/quant.h"
#include "cpu.h"
#include "vec.h"

static bool has_avx2(void) {
    static int v = -1; /* decided once; a benign race sets the same value */
    if (v < 0) v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return v;
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

/* softmax of s[0..n) in place; returns nothing, sum is 1 */
static void softmax(float *s, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = s[i] > m ? s[i] : m;
    float sum = 0.0f;
    for (int i = 0; i < n; i++) sum += (s[i] = expf(s[i] - m));
    for (int i = 0; i < n; i++) s[i] /= sum;
}

/* Work split: n_tok tokens x head chunks; item -> (token, first head, end head). */
typedef struct split {
    int n_tok, n_head, chunks;
} split;

static split split_make(int n_tok, int n_head, int nth) {
    split s = {n_tok, n_head, 1};
    if (n_tok < nth) s.chunks = nth < n_head ? nth : n_head;
    return s;
}

static void split_item(const split *s, int item, int *i, int *h0, int *h1) {
    *i = item / s->chunks;
    int c = item % s->chunks;
    *h0 = (int)((long)s->n_head * c / s->chunks);
    *h1 = (int)((long)s->n_head * (c + 1) / s->chunks);
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
    int n_qb;  /* query blocks */
    int group; /* query heads per kv head */
    int n_ctx_used;
} std_job;

/* converts rows [t0, t0+nt) of head hk's K or V into dst [nt][d] */
static void std_tile(const void *cache, uint32_t type, size_t row, size_t head_off, int t0, int nt, int d,
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
    float *ktile = j->cb->scratch[ith], *vtile = ktile + STD_KT * a->d_k, *m = vtile + STD_KT * a->d_v,
          *l = m + R, *scores = l + R; /* flash: scores[STD_KT]; explicit: scores[R][n_ctx_used] */
    size_t krow = quant_row_bytes(a->k_type, (int64_t)a->n_head_kv * a->d_k);
    size_t vrow = quant_row_bytes(a->v_type, (int64_t)a->n_head_kv * a->d_v);
    for (int it = ith; it < a->n_head_kv * j->n_qb; it += nth) {
        int hk = it / j->n_qb, i0 = (it % j->n_qb) * STD_QB;
        int ni = a->n_tok - i0 < STD_QB ? a->n_tok - i0 : STD_QB;
        size_t koff = quant_row_bytes(a->k_type, (int64_t)hk * a->d_k), voff = quant_row_bytes(a->v_type, (int64_t)hk * a->d_v);
        int n_t = a->pos0 + i0 + ni; /* keys seen by the last token of the block */
#define ROW_Q(i, g) (a->q + ((size_t)(i0 + (i)) * a->n_head + hk * G + (g)) * a->d_k)
#define ROW_O(i, g) (a->out + ((size_t)(i0 + (i)) * a->n_head + hk * G + (g)) * a->d_v)
        for (int i = 0; i < ni; i++)
            for (int g = 0; g < G; g++) {
                memset(ROW_O(i, g), 0, sizeof(float) * a->d_v);
                m[i * G + g] = -INFINITY, l[i * G + g] = 0.0f;
            }
        for (int t0 = 0; t0 < n_t; t0 += STD_KT) {
            int nt = n_t - t0 < STD_KT ? n_t - t0 : STD_KT;
            std_tile(a->k_cache, a->k_type, krow, koff, t0, nt, a->d_k, ktile);
            if (a->flash) std_tile(a->v_cache, a->v_type, vrow, voff, t0, nt, a->d_v, vtile);
            for (int i = 0; i < ni; i++) {
                int lim = a->pos0 + i0 + i + 1 - t0; /* causal: keys t0 .. pos */
                int nk = lim < nt ? lim : nt;
                for (int g = 0; g < G && nk > 0; g++) {
                    const float *q = ROW_Q(i, g);
                    float *sr = a->flash ? scores : scores + (size_t)(i * G + g) * j->n_ctx_used + t0;
                    float bm = -INFINITY;
                    for (int t = 0; t < nk; t++) {
                        sr[t] = a->scale * dot(q, ktile + (size_t)t * a->d_k, a->d_k);
                        bm = sr[t] > bm ? sr[t] : bm;
                    }
                    if (!a->flash) continue;
                    float *o = ROW_O(i, g), *mm = &m[i * G + g], *ll = &l[i * G + g];
                    if (bm > *mm) {
                        float c = expf(*mm - bm);
                        for (int d = 0; d < a->d_v; d++) o[d] *= c;
                        *ll *= c;
                        *mm = bm;
                    }
                    for (int t = 0; t < nk; t++) {
                        float p = expf(sr[t] - *mm);
                        *ll += p;
                        axpy(o, p, vtile + (size_t)t * a->d_v, a->d_v);
                    }
                }
            }
        }
        if (a->flash) {
            for (int i = 0; i < ni; i++)
                for (int g = 0; g < G; g++) {
                    float *o = ROW_O(i, g), inv = 1.0f / l[i * G + g];
                    for (int d = 0; d < a->d_v; d++) o[d] *= inv;
                }
            continue;
        }
        /* explicit: normalise each score row, then one pass over V */
        for (int i = 0; i < ni; i++)
            for (int g = 0; g < G; g++) softmax(scores + (size_t)(i * G + g) * j->n_ctx_used, a->pos0 + i0 + i + 1);
        for (int t0 = 0; t0 < n_t; t0 += STD_KT) {
            int nt = n_t - t0 < STD_KT ? n_t - t0 : STD_KT;
            std_tile(a->v_cache, a->v_type, vrow, voff, t0, nt, a->d_v, vtile);
            for (int i = 0; i < ni; i++) {
                int lim = a->pos0 + i0 + i + 1 - t0;
                int nk = lim < nt ? lim : nt;
                for (int g = 0; g < G; g++) {
                    const float *p = scores + (size_t)(i * G + g) * j->n_ctx_used + t0;
                    float *o = ROW_O(i, g);
                    for (int t = 0; t < nk; t++) axpy(o, p[t], vtile + (size_t)t * a->d_v, a->d_v);
                }
            }
        }
#undef ROW_Q
#undef ROW_O
    }
}

int cpu_attn_std(backend *b, const attn_std_args *a) {
    cpu_backend *cb = (cpu_backend *)b;
    std_job j = {a, cb, (a->n_tok + STD_QB - 1) / STD_QB, a->n_head / a->n_head_kv, a->pos0 + a->n_tok};
    size_t R = (size_t)STD_QB * j.group;
    size_t need = (size_t)STD_KT * (a->d_k + a->d_v) + 2 * R + (a->flash ? STD_KT : R * (size_t)j.n_ctx_used);
    int rc = cpu_scratch_reserve(cb, need);
    if (rc) return rc;
    cpu_pool_run(cb->pool, std_worker, &j);
    return 0;
}

/* ---- latent (MLA) attention ---- */

typedef struct lat_job {
    const attn_latent_args *a;
    cpu_backend *cb;
    split sp;
} lat_job;

#define LAT_BLOCK 32 /* cache rows converted at once in the fused path */

/* mode 3 / -fa: each cache row is read once per (token, head range), all heads updated */
static void lat_fused(const attn_latent_args *a, int i, int h0, int h1, float *scr) {
    int w = a->r + a->d_rope, n_t = a->pos0 + i + 1, nh = h1 - h0;
    size_t row = quant_row_bytes(a->kv_type, w);
    float *blk = scr, *m = blk + (size_t)LAT_BLOCK * w, *l = m + nh, *s = l + nh;
    for (int h = 0; h < nh; h++) {
        m[h] = -INFINITY, l[h] = 0.0f;
        memset(a->out + ((size_t)i * a->n_head + h0 + h) * a->r, 0, sizeof(float) * a->r);
    }
    for (int t0 = 0; t0 < n_t; t0 += LAT_BLOCK) {
        int nb = n_t - t0 < LAT_BLOCK ? n_t - t0 : LAT_BLOCK;
        for (int t = 0; t < nb; t++) {
            const void *src = (const char *)a->kv_cache + (size_t)(t0 + t) * row;
            const float *r = cpu_row_f32(a->kv_type, src, w, blk + (size_t)t * w);
            if (r != blk + (size_t)t * w) memcpy(blk + (size_t)t * w, r, sizeof(float) * w);
        }
        for (int h = 0; h < nh; h++) {
            const float *ql = a->q_lat + ((size_t)i * a->n_head + h0 + h) * a->r;
            const float *qp = a->q_pe + ((size_t)i * a->n_head + h0 + h) * a->d_rope;
            float *o = a->out + ((size_t)i * a->n_head + h0 + h) * a->r;
            float bm = -INFINITY;
            for (int t = 0; t < nb; t++) {
                const float *c = blk + (size_t)t * w;
                s[t] = a->scale * (dot(ql, c, a->r) + dot(qp, c + a->r, a->d_rope));
                bm = s[t] > bm ? s[t] : bm;
            }
            if (bm > m[h]) {
                float c = expf(m[h] - bm);
                for (int d = 0; d < a->r; d++) o[d] *= c;
                l[h] *= c;
                m[h] = bm;
            }
            for (int t = 0; t < nb; t++) {
                float p = expf(s[t] - m[h]);
                l[h] += p;
                axpy(o, p, blk + (size_t)t * w, a->r);
            }
        }
    }
    for (int h = 0; h < nh; h++) {
        float *o = a->out + ((size_t)i * a->n_head + h0 + h) * a->r;
        for (int d = 0; d < a->r; d++) o[d] /= l[h];
    }
}

/* modes 1 and 2: a full score row, softmax, then the value product */
static void lat_explicit(const attn_latent_args *a, int i, int h0, int h1, float *scr) {
    int w = a->r + a->d_rope, n_t = a->pos0 + i + 1;
    size_t row = quant_row_bytes(a->kv_type, w);
    size_t trow = quant_row_bytes(a->ct_type, a->n_ctx);
    float *rbuf = scr, *scores = rbuf + w;
    for (int h = h0; h < h1; h++) {
        const float *ql = a->q_lat + ((size_t)i * a->n_head + h) * a->r;
        const float *qp = a->q_pe + ((size_t)i * a->n_head + h) * a->d_rope;
        float *o = a->out + ((size_t)i * a->n_head + h) * a->r;
        for (int t = 0; t < n_t; t++) {
            const float *c = cpu_row_f32(a->kv_type, (const char *)a->kv_cache + (size_t)t * row, w, rbuf);
            scores[t] = a->scale * (dot(ql, c, a->r) + dot(qp, c + a->r, a->d_rope));
        }
        softmax(scores, n_t);
        if (a->mode == 1) { /* o[d] = sum_t p_t * cT[d][t] */
            for (int d = 0; d < a->r; d++) {
                const float *ct = cpu_row_f32(a->ct_type, (const char *)a->ct_cache + (size_t)d * trow, n_t, rbuf);
                o[d] = dot(scores, ct, n_t);
            }
        } else {
            memset(o, 0, sizeof(float) * a->r);
            for (int t = 0; t < n_t; t++)
                axpy(o, scores[t], cpu_row_f32(a->kv_type, (const char *)a->kv_cache + (size_t)t * row, w, rbuf),
                     a->r);
        }
    }
}

static void lat_worker(void *arg, int ith, int nth) {
    const lat_job *j = arg;
    int items = j->sp.n_tok * j->sp.chunks;
    for (int it = ith; it < items; it += nth) {
        int i, h0, h1;
        split_item(&j->sp, it, &i, &h0, &h1);
        if (j->a->mode == 3 || j->a->flash) lat_fused(j->a, i, h0, h1, j->cb->scratch[ith]);
        else lat_explicit(j->a, i, h0, h1, j->cb->scratch[ith]);
    }
}

int cpu_attn_latent(backend *b, const attn_latent_args *a) {
    cpu_backend *cb = (cpu_backend *)b;
    lat_job j = {a, cb, split_make(a->n_tok, a->n_head, cb->n_threads)};
    size_t w = (size_t)a->r + a->d_rope, n_t = (size_t)(a->pos0 + a->n_tok);
    size_t fused = LAT_BLOCK * w + 2 * (size_t)a->n_head + LAT_BLOCK;
    size_t expl = (w > n_t ? w : n_t) + n_t;
    int rc = cpu_scratch_reserve(cb, fused > expl ? fused : expl);
    if (rc) return rc;
    cpu_pool_run(cb->pool, lat_worker, &j);
    return 0;
}
