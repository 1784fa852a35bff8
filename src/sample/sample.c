/* sample.c: the sampler of sample.h. Scratch (a copy of the logits, candidate ids and
 * per-token counts) is sized on the first call for a vocabulary and only regrown for a
 * larger one; the history is a ring of penalty_last_n tokens allocated at init (or a
 * doubling array when the window is the whole history). Filters are defined on the order
 * "higher logit first, lower id on ties"; only top-p needs that order, and it sorts just
 * the few best candidates (quickselect first), so a 150k vocabulary is never fully sorted. */
#include "sample/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sampler {
    sample_params p;
    uint64_t rng[4];
    int32_t *hist;    /* ring of the last hist_cap accepted tokens (or all, if grow) */
    size_t hist_cap, hist_len, hist_pos;
    bool hist_grow;   /* penalty_last_n < 0: keep every token */
    int n_scratch;    /* vocabulary size the scratch below holds */
    float *logit;     /* [n_vocab] penalised logits */
    int32_t *cand;    /* [n_vocab] candidate ids */
    int32_t *count;   /* [n_vocab] occurrences in the window; all zero between calls */
};

/* ---- xoshiro256**, seeded through splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t *s) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t, s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform double in [0, 1). */
static double rng_uniform(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static void rng_seed(sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

/* ---- lifecycle ---- */

sampler *sample_init(const sample_params *p) {
    if (!p) return NULL;
    sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    s->hist_grow = p->penalty_last_n < 0;
    s->hist_cap = p->penalty_last_n > 0 ? (size_t)p->penalty_last_n : s->hist_grow ? 256 : 0;
    if (s->hist_cap && !(s->hist = malloc(s->hist_cap * sizeof *s->hist))) {
        free(s);
        return NULL;
    }
    rng_seed(s);
    return s;
}

void sample_free(sampler *s) {
    if (!s) return;
    free(s->hist);
    free(s->logit);
    free(s->cand);
    free(s->count);
    free(s);
}

void sample_reset(sampler *s) {
    s->hist_len = s->hist_pos = 0;
    rng_seed(s);
}

void sample_accept(sampler *s, int32_t tok) {
    if (s->hist_cap == 0) return;
    if (s->hist_grow && s->hist_len == s->hist_cap) {
        int32_t *h = s->hist_cap < SIZE_MAX / 2 / sizeof *h ? realloc(s->hist, 2 * s->hist_cap * sizeof *h) : NULL;
        if (!h) return; /* out of memory: drop the token, keep the history we have */
        s->hist = h, s->hist_cap *= 2, s->hist_pos = s->hist_len;
    }
    s->hist[s->hist_pos] = tok;
    s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
    if (s->hist_len < s->hist_cap) s->hist_len++;
}

static bool scratch_reserve(sampler *s, int n_vocab) {
    if (n_vocab <= s->n_scratch) return true;
    size_t n = (size_t)n_vocab;
    float *l = realloc(s->logit, n * sizeof *l);
    if (l) s->logit = l;
    int32_t *c = realloc(s->cand, n * sizeof *c);
    if (c) s->cand = c;
    int32_t *k = calloc(n, sizeof *k);
    if (!l || !c || !k) {
        free(k);
        return false;
    }
    free(s->count);
    s->count = k;
    s->n_scratch = n_vocab;
    return true;
}

/* ---- steps ---- */

/* Repeat, frequency and presence penalties (llama.cpp's rules) over the history window. */
static void apply_penalties(sampler *s, int n_vocab) {
    const sample_params *p = &s->p;
    if (s->hist_len == 0 ||
        (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f))
        return;
    for (size_t i = 0; i < s->hist_len; i++) {
        int32_t t = s->hist[i];
        if (t >= 0 && t < n_vocab) s->count[t]++;
    }
    for (size_t i = 0; i < s->hist_len; i++) {
        int32_t t = s->hist[i];
        if (t < 0 || t >= n_vocab || s->count[t] == 0) continue; /* done already */
        float *l = &s->logit[t];
        if (p->repeat_penalty != 1.0f && p->repeat_penalty > 0.0f)
            *l = *l > 0.0f ? *l / p->repeat_penalty : *l * p->repeat_penalty;
        *l -= (float)s->count[t] * p->frequency_penalty + p->presence_penalty;
        s->count[t] = 0; /* leaves count all zero for the next call */
    }
}

static int32_t argmax(const float *l, int n) {
    int32_t best = -1;
    for (int i = 0; i < n; i++)
        if (l[i] == l[i] && l[i] != -INFINITY && (best < 0 || l[i] > l[best])) best = i;
    return best;
}

/* Candidate order: higher logit first, lower id on ties (arg: the logits). */
static int cmp_cand(const void *a, const void *b, void *arg) {
    const float *l = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float lx = l[x], ly = l[y];
    if (lx != ly) return lx > ly ? -1 : 1;
    return (x > y) - (x < y);
}

/* Moves the k best candidates of cand[0..n) to the front (any order), k < n. */
static void select_top(int32_t *cand, int n, int k, const float *l) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int32_t pivot = cand[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (i <= j && (l[cand[i]] > l[pivot] || (l[cand[i]] == l[pivot] && cand[i] < pivot))) i++;
            while (i <= j && (l[cand[j]] < l[pivot] || (l[cand[j]] == l[pivot] && cand[j] > pivot))) j--;
            if (i <= j) {
                int32_t t = cand[i];
                cand[i++] = cand[j], cand[j--] = t;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else break;
    }
}

int32_t sample_next(sampler *s, const float *logits, int n_vocab) {
    if (!s || !logits || n_vocab <= 0 || !scratch_reserve(s, n_vocab)) return -1;
    const sample_params *p = &s->p;
    float *l = s->logit;
    memcpy(l, logits, (size_t)n_vocab * sizeof *l);
    apply_penalties(s, n_vocab);
    if (p->temp <= 0.0f || p->top_k == 1) return argmax(l, n_vocab);

    /* candidates: finite logits only, then the top_k best (in no particular order) */
    int n = 0;
    double max = -INFINITY;
    for (int i = 0; i < n_vocab; i++) {
        if (l[i] != l[i] || l[i] == -INFINITY) continue;
        s->cand[n++] = i;
        if (l[i] > max) max = l[i];
    }
    if (n == 0) return -1;
    if (max == INFINITY) return argmax(l, n_vocab);
    if (p->top_k > 0 && p->top_k < n) {
        select_top(s->cand, n, p->top_k, l);
        n = p->top_k;
    }
    /* temperature-1 mass of the top-k set, which top-p measures against */
    double z1 = 0.0;
    if (p->top_p < 1.0f)
        for (int i = 0; i < n; i++) z1 += exp(l[s->cand[i]] - max);
    /* min-p: p_i >= min_p * p_max  <=>  l_i >= l_max + ln(min_p). Top-p and min-p each keep
     * a prefix of the sorted order, so applying min-p first gives the same intersection. */
    if (p->min_p > 0.0f) {
        double floor_l = max + log(p->min_p);
        int keep = 0;
        for (int i = 0; i < n; i++)
            if (l[s->cand[i]] >= floor_l) s->cand[keep++] = s->cand[i];
        n = keep;
    }
    /* top-p: the smallest prefix of the sorted order whose mass reaches top_p; only the best
     * m candidates are sorted, m growing until the prefix is inside them */
    if (p->top_p < 1.0f) {
        for (int m = n < 256 ? n : 256;; m = m > n / 4 ? n : m * 4) {
            if (m < n) select_top(s->cand, n, m, l);
            qsort_r(s->cand, (size_t)m, sizeof *s->cand, cmp_cand, l);
            double cum = 0.0;
            int keep = 0;
            for (int i = 0; i < m && !keep; i++) {
                cum += exp(l[s->cand[i]] - max) / z1;
                if (cum >= p->top_p) keep = i + 1;
            }
            if (keep) n = keep;
            if (keep || m == n) break; /* m == n: rounding never reached top_p; keep all */
        }
    }
    /* temperature softmax and one draw */
    double z = 0.0;
    for (int i = 0; i < n; i++) z += exp((l[s->cand[i]] - max) / p->temp);
    double u = rng_uniform(s->rng) * z, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += exp((l[s->cand[i]] - max) / p->temp);
        if (u < cum) return s->cand[i];
    }
    return s->cand[n - 1]; /* rounding: u fell past the last partial sum */
}
