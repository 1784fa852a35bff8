/* test_sample.c: the sampler against independent expectations: determinism per seed,
 * greedy = arg-max (lowest id on ties), top_k=1 = greedy, empirical frequencies of 20000
 * draws against the softmax (chi-square bound) at temp 1 and 0.5 and under top-k, top-p and
 * min-p, penalties moving the right logits, and stop-string search. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sample.h"

static int n_fail;

static void report(bool ok, const char *name, const char *why) {
    if (ok) printf("PASS %s\n", name);
    else printf("FAIL %s: %s\n", name, why), n_fail++;
}

static sample_params defaults(void) {
    sample_params p = {.temp = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f,
                       .repeat_penalty = 1.0f, .penalty_last_n = 0, .seed = 42};
    return p;
}

/* A fixed test-only LCG for logits, unrelated to the sampler's generator. */
static float test_rand(uint32_t *st) {
    *st = *st * 1664525u + 1013904223u;
    return (float)(*st >> 8) / 16777216.0f;
}

static void random_logits(float *l, int n, uint32_t seed) {
    for (int i = 0; i < n; i++) l[i] = 8.0f * test_rand(&seed) - 4.0f;
}

static void check_determinism(void) {
    enum { V = 500, N = 200 };
    float l[V];
    random_logits(l, V, 7);
    sample_params p = defaults();
    p.temp = 0.9f, p.top_k = 50, p.top_p = 0.95f;
    int32_t a[N], b[N], c[N];
    for (int run = 0; run < 3; run++) {
        p.seed = run == 2 ? 43 : 42;
        sampler *s = sample_init(&p);
        int32_t *out = run == 0 ? a : run == 1 ? b : c;
        for (int i = 0; i < N; i++) out[i] = sample_next(s, l, V);
        sample_free(s);
    }
    report(memcmp(a, b, sizeof a) == 0, "same_seed_same_sequence", "sequences differ");
    report(memcmp(a, c, sizeof a) != 0, "different_seed_differs", "seeds 42 and 43 gave the same");
    /* reset restarts the stream */
    p.seed = 42;
    sampler *s = sample_init(&p);
    for (int i = 0; i < 17; i++) sample_next(s, l, V);
    sample_reset(s);
    bool same = true;
    for (int i = 0; i < N; i++) same = same && sample_next(s, l, V) == a[i];
    sample_free(s);
    report(same, "reset_reseeds", "sequence after reset differs from a fresh sampler");
}

static int32_t ref_argmax(const float *l, int n) {
    int32_t b = 0;
    for (int i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

static void check_greedy(void) {
    float l[16];
    random_logits(l, 16, 3);
    l[5] = 9.0f, l[11] = 9.0f; /* a tie for the maximum */
    sample_params p = defaults();
    p.temp = 0.0f;
    sampler *s = sample_init(&p);
    int32_t t = sample_next(s, l, 16);
    report(t == 5, "greedy_tie_lowest_id", "tie not resolved to the lowest id");
    bool ok = true;
    for (uint32_t seed = 0; seed < 50; seed++) {
        float r[1000];
        random_logits(r, 1000, seed + 100);
        ok = ok && sample_next(s, r, 1000) == ref_argmax(r, 1000);
    }
    report(ok, "greedy_is_argmax", "differs from the arg-max");
    sample_free(s);

    p = defaults();
    p.temp = 1.7f, p.top_k = 1, p.top_p = 0.3f;
    s = sample_init(&p);
    ok = true;
    for (uint32_t seed = 0; seed < 50; seed++) {
        float r[1000];
        random_logits(r, 1000, seed + 500);
        ok = ok && sample_next(s, r, 1000) == ref_argmax(r, 1000);
    }
    sample_free(s);
    report(ok, "top_k1_is_greedy", "top_k=1 at temp 1.7 differs from the arg-max");

    float bad[5] = {-INFINITY, NAN, 1.0f, -INFINITY, 0.5f};
    p = defaults();
    s = sample_init(&p);
    ok = true;
    for (int i = 0; i < 200; i++) {
        int32_t k = sample_next(s, bad, 5);
        ok = ok && (k == 2 || k == 4);
    }
    float none[3] = {-INFINITY, -INFINITY, NAN};
    report(ok, "nonfinite_never_drawn", "drew a -inf or NaN token");
    report(sample_next(s, none, 3) == -1 && sample_next(s, bad, 0) == -1, "no_candidates_is_error",
           "expected -1");
    sample_free(s);
}

/* Draws n times and checks the frequencies against expected probabilities q (zero where a
 * token must never appear) with a chi-square statistic over the tokens with q > 0. */
static void check_freq(const char *name, const float *l, int v, const sample_params *p,
                       const double *q) {
    enum { N = 20000 };
    int cnt[64] = {0};
    sampler *s = sample_init(p);
    for (int i = 0; i < N; i++) {
        int32_t t = sample_next(s, l, v);
        if (t >= 0 && t < v) cnt[t]++;
    }
    sample_free(s);
    double chi = 0.0;
    int df = -1, forbidden = 0;
    for (int i = 0; i < v; i++) {
        if (q[i] <= 0.0) {
            forbidden += cnt[i];
            continue;
        }
        double e = q[i] * N;
        chi += (cnt[i] - e) * (cnt[i] - e) / e;
        df++;
    }
    /* generous bound: about the 0.9999 quantile of chi-square for df <= 10 */
    double bound = 15.0 + 3.5 * (df > 0 ? df : 1);
    char why[160];
    snprintf(why, sizeof why, "chi2=%.1f (df %d, bound %.1f), %d forbidden draws", chi, df, bound,
             forbidden);
    report(forbidden == 0 && chi < bound, name, why);
}

/* softmax of l/temp over the ids where keep[i] */
static void ref_softmax(const float *l, int v, double temp, const bool *keep, double *q) {
    double m = -INFINITY, z = 0.0;
    for (int i = 0; i < v; i++)
        if (keep[i] && l[i] > m) m = l[i];
    for (int i = 0; i < v; i++) z += q[i] = keep[i] ? exp((l[i] - m) / temp) : 0.0;
    for (int i = 0; i < v; i++) q[i] /= z;
}

static void check_distributions(void) {
    enum { V = 8 };
    static const double prob[V] = {0.05, 0.35, 0.02, 0.25, 0.15, 0.10, 0.06, 0.02};
    float l[V];
    for (int i = 0; i < V; i++) l[i] = (float)log(prob[i]) + 1.25f; /* shift: softmax-invariant */
    bool all[V], keep[V];
    double q[V], p1[V];
    for (int i = 0; i < V; i++) all[i] = true;
    ref_softmax(l, V, 1.0, all, p1);

    sample_params p = defaults();
    ref_softmax(l, V, 1.0, all, q);
    check_freq("freq_temp1", l, V, &p, q);

    p.temp = 0.5f, p.seed = 7;
    ref_softmax(l, V, 0.5, all, q);
    check_freq("freq_temp05", l, V, &p, q);

    /* top-p 0.5: sort by probability, the smallest prefix reaching 0.5 */
    p = defaults(), p.top_p = 0.5f, p.seed = 9;
    int order[V];
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 0; i < V; i++)
        for (int j = i + 1; j < V; j++)
            if (p1[order[j]] > p1[order[i]]) {
                int t = order[i];
                order[i] = order[j], order[j] = t;
            }
    double cum = 0.0;
    for (int i = 0; i < V; i++) keep[i] = false;
    for (int i = 0; i < V && cum < 0.5; i++) cum += p1[order[i]], keep[order[i]] = true;
    ref_softmax(l, V, 1.0, keep, q);
    check_freq("freq_top_p05", l, V, &p, q);

    /* min-p 0.2: tokens under 0.2 * p_max never appear */
    p = defaults(), p.min_p = 0.2f, p.seed = 11;
    double pmax = 0.0;
    for (int i = 0; i < V; i++) pmax = p1[i] > pmax ? p1[i] : pmax;
    for (int i = 0; i < V; i++) keep[i] = p1[i] >= 0.2 * pmax;
    ref_softmax(l, V, 1.0, keep, q);
    check_freq("freq_min_p02", l, V, &p, q);

    /* top-k 3 at temp 0.8 */
    p = defaults(), p.top_k = 3, p.temp = 0.8f, p.seed = 13;
    for (int i = 0; i < V; i++) keep[i] = i == order[0] || i == order[1] || i == order[2];
    ref_softmax(l, V, 0.8, keep, q);
    check_freq("freq_top_k3", l, V, &p, q);
}

/* top-k on a large random vocabulary: draws stay within the reference k best. */
static void check_top_k_large(void) {
    enum { V = 5000, K = 7 };
    static float l[V];
    random_logits(l, V, 77);
    bool top[V] = {false};
    for (int k = 0; k < K; k++) {
        int b = -1;
        for (int i = 0; i < V; i++)
            if (!top[i] && (b < 0 || l[i] > l[b])) b = i;
        top[b] = true;
    }
    sample_params p = defaults();
    p.top_k = K, p.temp = 5.0f;
    sampler *s = sample_init(&p);
    bool ok = true, seen[V] = {false};
    int distinct = 0;
    for (int i = 0; i < 3000; i++) {
        int32_t t = sample_next(s, l, V);
        ok = ok && t >= 0 && top[t];
        if (t >= 0 && t < V && !seen[t]) seen[t] = true, distinct++;
    }
    sample_free(s);
    report(ok && distinct == K, "top_k_large_vocab", "drew outside the top-k or missed some");
}

static const float *sort_l;
static int by_logit_desc(const void *a, const void *b) {
    float x = sort_l[*(const int *)a], y = sort_l[*(const int *)b];
    return x > y ? -1 : x < y ? 1 : 0;
}

/* top-p (and min-p) on a flat 5000-token vocabulary, where the kept prefix holds far more
 * than the first batch of sorted candidates: draws stay within the reference set, and reach
 * beyond its first 256 tokens. */
static void check_top_p_large(void) {
    enum { V = 5000 };
    static float l[V];
    static int order[V], rank[V];
    random_logits(l, V, 99);
    for (int i = 0; i < V; i++) order[i] = i;
    sort_l = l;
    qsort(order, V, sizeof *order, by_logit_desc);
    double z = 0.0, cum = 0.0, m = l[order[0]];
    for (int i = 0; i < V; i++) z += exp(l[i] - m);
    int keep_p = V;
    for (int i = 0; i < V; i++) {
        cum += exp(l[order[i]] - m) / z;
        if (cum >= 0.7) {
            keep_p = i + 1;
            break;
        }
    }
    for (int i = 0; i < V; i++) rank[order[i]] = i;
    for (int pass = 0; pass < 2; pass++) {
        sample_params p = defaults();
        p.top_p = 0.7f, p.seed = 5 + pass;
        int keep = keep_p;
        if (pass == 1) { /* min-p cuts the top-p prefix shorter */
            p.min_p = 0.5f;
            int k = 0;
            while (k < V && l[order[k]] >= m + log(0.5)) k++;
            keep = k < keep ? k : keep;
        }
        sampler *s = sample_init(&p);
        bool ok = keep > 256 || pass == 1;
        int deepest = 0;
        for (int i = 0; i < 4000; i++) {
            int32_t t = sample_next(s, l, V);
            ok = ok && t >= 0 && rank[t] < keep;
            if (t >= 0 && rank[t] > deepest) deepest = rank[t];
        }
        sample_free(s);
        char why[128];
        snprintf(why, sizeof why, "prefix %d, deepest rank drawn %d", keep, deepest);
        report(ok && deepest > keep * 3 / 4 && (pass == 0 || keep < keep_p), pass ? "top_p_min_p_large_vocab" : "top_p_large_vocab",
               why);
    }
}

static int32_t greedy_after(const sample_params *p, const float *l, int v, const int32_t *hist,
                            int nh) {
    sampler *s = sample_init(p);
    for (int i = 0; i < nh; i++) sample_accept(s, hist[i]);
    int32_t t = sample_next(s, l, v);
    sample_free(s);
    return t;
}

static void check_penalties(void) {
    sample_params p = defaults();
    p.temp = 0.0f, p.repeat_penalty = 2.0f, p.penalty_last_n = 4;
    float pos[4] = {2.0f, 1.5f, -1.0f, -1.2f};
    int32_t h0[] = {0};
    report(greedy_after(&p, pos, 4, h0, 1) == 1, "repeat_divides_positive", "2.0/2 should lose to 1.5");
    float neg[3] = {-1.0f, -1.5f, -9.0f};
    report(greedy_after(&p, neg, 3, h0, 1) == 1, "repeat_multiplies_negative",
           "-1.0*2 should lose to -1.5");
    float mild[3] = {2.0f, 1.5f, 0.0f};
    int32_t h1[] = {0, 2, 2, 2, 2};
    report(greedy_after(&p, mild, 3, h1, 5) == 0, "repeat_window_last_n",
           "token outside the last 4 was penalised");
    int32_t h2[] = {2, 0, 2, 2};
    report(greedy_after(&p, mild, 3, h2, 4) == 1, "repeat_window_inside", "token inside the window not penalised");

    p = defaults();
    p.temp = 0.0f, p.frequency_penalty = 0.3f, p.penalty_last_n = 64;
    float f[2] = {3.0f, 2.5f};
    int32_t once[] = {0}, twice[] = {0, 0}, thrice[] = {0, 0, 0};
    report(greedy_after(&p, f, 2, once, 1) == 0 && greedy_after(&p, f, 2, twice, 2) == 1,
           "frequency_scales_with_count", "3.0-0.3 should win, 3.0-0.6 should lose");
    p.frequency_penalty = 0.0f, p.presence_penalty = 0.4f;
    report(greedy_after(&p, f, 2, thrice, 3) == 0, "presence_once_per_token",
           "presence penalty applied per occurrence");
    p.presence_penalty = 0.6f;
    report(greedy_after(&p, f, 2, once, 1) == 1, "presence_subtracts", "3.0-0.6 should lose to 2.5");

    /* penalty_last_n < 0: the whole history, past the initial capacity */
    p = defaults();
    p.temp = 0.0f, p.repeat_penalty = 2.0f, p.penalty_last_n = -1;
    enum { NH = 1001 };
    static int32_t hist[NH];
    hist[0] = 0;
    for (int i = 1; i < NH; i++) hist[i] = 2;
    report(greedy_after(&p, mild, 3, hist, NH) == 1, "penalty_whole_history", "first token forgotten");

    /* the caller's logits are not modified, and penalties are reapplied each call */
    p.penalty_last_n = 8;
    sampler *s = sample_init(&p);
    sample_accept(s, 0);
    float copy[3];
    memcpy(copy, mild, sizeof copy);
    int32_t a = sample_next(s, mild, 3), b = sample_next(s, mild, 3);
    sample_reset(s);
    int32_t c = sample_next(s, mild, 3);
    sample_free(s);
    report(a == 1 && b == 1 && c == 0 && memcmp(copy, mild, sizeof copy) == 0,
           "penalty_history_and_reset", "penalties not stable or reset kept history");
}

static void check_stop(void) {
    const char *stops[] = {"<|im_end|>", "", "\n\nUser:", "END"};
    bool part = true;
    const char *t1 = "Hello there<|im_end|>more";
    report(sample_find_stop(t1, strlen(t1), stops, 4, &part) == 11 && !part, "stop_found", "index");
    const char *t2 = "a END b\n\nUser: c";
    report(sample_find_stop(t2, strlen(t2), stops, 4, &part) == 2, "stop_earliest_of_many", "index");
    const char *t3 = "Hello there<|im";
    report(sample_find_stop(t3, strlen(t3), stops, 4, &part) == -1 && part, "stop_partial", "no partial");
    const char *t4 = "Hello there\n\nUs";
    report(sample_find_stop(t4, strlen(t4), stops, 4, &part) == -1 && part, "stop_partial_newlines",
           "no partial");
    const char *t5 = "Hello there";
    report(sample_find_stop(t5, strlen(t5), stops, 4, &part) == -1 && !part, "stop_none", "false match");
    const char *t6 = "xEN";
    report(sample_find_stop(t6, 2, stops, 4, &part) == -1 && part, "stop_respects_len",
           "read past len or missed prefix");
    report(sample_find_stop("END", 3, stops, 4, &part) == 0 && !part, "stop_whole_text", "index");
    report(sample_find_stop("", 0, stops, 4, &part) == -1 && !part, "stop_empty_text", "match in empty");
}

int main(void) {
    check_determinism();
    check_greedy();
    check_distributions();
    check_top_k_large();
    check_top_p_large();
    check_penalties();
    check_stop();
    return n_fail ? 1 : 0;
}
