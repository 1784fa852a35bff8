/* test_route.c: MoE routing (cpu_route_ref, src/backend/cpu/route.c, with the rules
 * graph_route_params takes from the hyper-parameters) on hand-made router logits.
 * Every expected answer is worked out here, by hand (the comments give the arithmetic) or by
 * a brute-force reference written differently from the engine (rank counting, sorting), never
 * by calling the function under test: softmax greedy top-k; sigmoid gating with a selection
 * bias (bias picks, unbiased scores weigh); expert_weights_norm / expert_weights_scale;
 * group-limited routing (4 groups, 2 used) with sigmoid+bias (group score = sum of the two best
 * biased scores) and with softmax (group score = best score); ties (to the lower id / group);
 * several tokens in one call; smart expert reduction (ser_kmin, ser_thresh).
 * Prints PASS/FAIL per case; exits non-zero on any failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

/* the routing the forward pass asks for: the model's rules through the CPU reference */
static void graph_route(const model_hparams *hp, const float *logits, const float *bias, int n, int ser_kmin,
                        float ser_thresh, int32_t *ids, float *weights) {
    route_params rp = graph_route_params(hp, ser_kmin, ser_thresh);
    cpu_route_ref(&rp, logits, bias, n, ids, weights);
}

static int n_fail;

static void report(const char *name, int ok, const char *why) {
    if (ok) printf("PASS route.%s\n", name);
    else {
        printf("FAIL route.%s: %s\n", name, why);
        n_fail++;
    }
}

static model_hparams hp_make(int E, int K, int G, int Gu, gating_func gating, bool norm, float scale) {
    model_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.arch = ARCH_DEEPSEEK2;
    hp.n_expert = E;
    hp.n_expert_used = K;
    hp.n_expert_group = G;
    hp.n_expert_group_used = Gu;
    hp.gating = gating;
    hp.expert_weights_norm = norm;
    hp.expert_weights_scale = scale;
    return hp;
}

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }
static float logit_of(double s) { return (float)log(s / (1.0 - s)); } /* sigmoid(logit_of(s)) = s */

/* softmax probability of expert e over all E logits, in double */
static double softmax_p(const float *l, int E, int e) {
    double m = l[0], sum = 0;
    for (int i = 1; i < E; i++) m = l[i] > m ? l[i] : m;
    for (int i = 0; i < E; i++) sum += exp(l[i] - m);
    return exp(l[e] - m) / sum;
}

/* Runs graph_route on one token and compares ids exactly (in order) and weights to 1e-5
 * relative. ids/w have K entries. */
static void expect(const char *name, const model_hparams *hp, const float *logits, const float *bias, int ser_kmin,
                   float ser_thresh, const int *want_ids, const double *want_w) {
    int K = hp->n_expert_used;
    int32_t ids[64];
    float w[64];
    for (int k = 0; k < K; k++) ids[k] = -7, w[k] = NAN;
    graph_route(hp, logits, bias, 1, ser_kmin, ser_thresh, ids, w);
    char why[512] = "", *p = why;
    int ok = 1;
    for (int k = 0; k < K; k++) {
        double tol = 1e-5 * fabs(want_w[k]) + 1e-7;
        if (ids[k] != want_ids[k] || !(fabs(w[k] - want_w[k]) <= tol)) ok = 0;
    }
    if (!ok) {
        p += snprintf(p, 200, "got");
        for (int k = 0; k < K; k++) p += snprintf(p, 24, " %d:%.6g", ids[k], w[k]);
        p += snprintf(p, 20, ", want");
        for (int k = 0; k < K && p < why + sizeof why - 30; k++) p += snprintf(p, 24, " %d:%.6g", want_ids[k], want_w[k]);
    }
    report(name, ok, why);
}

/* ---- softmax gating, greedy top-k (DeepSeek-V2 without groups) ---- */
static void test_softmax(void) {
    static const float l[8] = {0.1f, 2.0f, -1.0f, 1.5f, 0.3f, 3.0f, -2.0f, 0.0f};
    /* the two largest logits: 3.0 (expert 5), 2.0 (expert 1); weights are the softmax over all 8 */
    model_hparams hp = hp_make(8, 2, 1, 1, GATING_SOFTMAX, false, 1.0f);
    int ids[2] = {5, 1};
    double w[2] = {softmax_p(l, 8, 5), softmax_p(l, 8, 1)};
    expect("softmax_top2", &hp, l, NULL, 0, 0, ids, w);

    /* K = 3 adds expert 3 (1.5) */
    hp = hp_make(8, 3, 1, 1, GATING_SOFTMAX, false, 1.0f);
    int ids3[3] = {5, 1, 3};
    double w3[3] = {softmax_p(l, 8, 5), softmax_p(l, 8, 1), softmax_p(l, 8, 3)};
    expect("softmax_top3", &hp, l, NULL, 0, 0, ids3, w3);

    /* norm: e^3/(e^3+e^2), e^2/(e^3+e^2), times scale 2.5 */
    hp = hp_make(8, 2, 1, 1, GATING_SOFTMAX, true, 2.5f);
    double a = exp(3.0), b = exp(2.0);
    double wn[2] = {2.5 * a / (a + b), 2.5 * b / (a + b)};
    expect("softmax_norm_scale", &hp, l, NULL, 0, 0, ids, wn);

    /* scale without norm: 16 x the softmax probabilities (V2's routed_scaling_factor) */
    hp = hp_make(8, 2, 1, 1, GATING_SOFTMAX, false, 16.0f);
    double ws[2] = {16 * softmax_p(l, 8, 5), 16 * softmax_p(l, 8, 1)};
    expect("softmax_scale_only", &hp, l, NULL, 0, 0, ids, ws);

    /* a bias also steers softmax selection (weights stay the unbiased probabilities) */
    static const float bias[8] = {0, 0, 0, 0.5f, 0, 0, 0, 0};
    /* p5 = .6, p1 = .22, p3 = .13 + .5 = .63 beats both */
    int idsb[2] = {3, 5};
    hp = hp_make(8, 2, 1, 1, GATING_SOFTMAX, false, 1.0f);
    double wb[2] = {softmax_p(l, 8, 3), softmax_p(l, 8, 5)};
    expect("softmax_bias_selects", &hp, l, bias, 0, 0, idsb, wb);
}

/* ---- sigmoid gating with a selection bias (DeepSeek-V3) ---- */
static void test_sigmoid_bias(void) {
    static const float l[8] = {2.0f, 1.0f, 0.0f, -1.0f, 0.5f, 1.5f, -0.5f, 0.2f};
    /* unbiased: sig(2)=.881 (0), sig(1.5)=.818 (5), sig(1)=.731 (1) */
    model_hparams hp = hp_make(8, 2, 1, 1, GATING_SIGMOID, false, 1.0f);
    int ids0[2] = {0, 5};
    double w0[2] = {sigm(2.0), sigm(1.5)};
    expect("sigmoid_no_bias", &hp, l, NULL, 0, 0, ids0, w0);

    /* bias +0.9 on expert 2: .5 + .9 = 1.4 is chosen first, then expert 0 (.881); -0.2 on expert
     * 5 gives .618. Weights: the unbiased .5, .881 */
    static const float bias[8] = {0, 0, 0.9f, 0, 0, -0.2f, 0, 0};
    int ids[2] = {2, 0};
    double w[2] = {sigm(0.0), sigm(2.0)};
    expect("sigmoid_bias_selects_unbiased_weights", &hp, l, bias, 0, 0, ids, w);

    /* K = 3: third is expert 1 (.731), since 5 is pushed down to .618 by its bias */
    hp = hp_make(8, 3, 1, 1, GATING_SIGMOID, false, 1.0f);
    int ids3[3] = {2, 0, 1};
    double w3[3] = {sigm(0.0), sigm(2.0), sigm(1.0)};
    expect("sigmoid_negative_bias_demotes", &hp, l, bias, 0, 0, ids3, w3);

    /* norm + scale 2.5: 2.5 * s / (s2 + s0 + s1) over the unbiased scores */
    hp = hp_make(8, 3, 1, 1, GATING_SIGMOID, true, 2.5f);
    double sum = sigm(0.0) + sigm(2.0) + sigm(1.0);
    double wn[3] = {2.5 * sigm(0.0) / sum, 2.5 * sigm(2.0) / sum, 2.5 * sigm(1.0) / sum};
    expect("sigmoid_bias_norm_scale", &hp, l, bias, 0, 0, ids3, wn);
}

/* ---- group-limited routing: 16 experts in 4 groups of 4, 2 groups used ---- */
static void test_groups(void) {
    /* target scores (sigmoid), group by group:
     *   G0 {.95 .10 .10 .10}: best .95, best two 1.05
     *   G1 {.70 .68 .20 .10}: best .70, best two 1.38
     *   G2 {.60 .65 .30 .05}: best .65, best two 1.25
     *   G3 {.50 .40 .45 .30}: best .50, best two .95
     * sum-of-two keeps G1, G2: the single best expert (0, .95) is in G0 and loses.
     * top 4 in G1+G2: 4 (.70), 5 (.68), 9 (.65), 8 (.60). */
    static const double s[16] = {.95, .10, .10, .10, .70, .68, .20, .10, .60, .65, .30, .05, .50, .40, .45, .30};
    float l[16], zero[16] = {0};
    for (int e = 0; e < 16; e++) l[e] = logit_of(s[e]);
    model_hparams hp = hp_make(16, 4, 4, 2, GATING_SIGMOID, false, 1.0f);
    int ids[4] = {4, 5, 9, 8};
    double w[4] = {s[4], s[5], s[9], s[8]};
    expect("group_sigmoid_bias_best_expert_loses", &hp, l, zero, 0, 0, ids, w);

    /* with norm and scale 2.5 (ds3-tiny's settings) */
    hp = hp_make(16, 4, 4, 2, GATING_SIGMOID, true, 2.5f);
    double sum = s[4] + s[5] + s[9] + s[8], wn[4];
    for (int k = 0; k < 4; k++) wn[k] = 2.5 * w[k] / sum;
    expect("group_sigmoid_bias_norm_scale", &hp, l, zero, 0, 0, ids, wn);

    /* bias +.5 on expert 13: G3's biased scores {.50 .90 .45 .30}, best two 1.40 > G1's 1.38 > G2's
     * 1.25: G3 and G1 kept. Top 4 biased: 13 (.90), 4 (.70), 5 (.68), 12 (.50); weights unbiased
     * .40 .70 .68 .50 */
    float bias[16] = {0};
    bias[13] = 0.5f;
    hp = hp_make(16, 4, 4, 2, GATING_SIGMOID, false, 1.0f);
    int idsb[4] = {13, 4, 5, 12};
    double wb[4] = {s[13], s[4], s[5], s[12]};
    expect("group_sigmoid_bias_moves_group", &hp, l, bias, 0, 0, idsb, wb);

    /* softmax, group score = best: logits
     *   G0 {3.0 -1.0 -2.0 -3.0}  best 3.0
     *   G1 {2.5  2.4  2.3 -5.0}  best 2.5 (best-two sum would be the largest)
     *   G2 {2.8 -1.5 -2.5 -3.5}  best 2.8
     *   G3 {2.0  1.9  1.8  1.7}  best 2.0
     * keeps G0, G2; top 3 inside: 0 (3.0), 8 (2.8), 1 (-1.0). Without groups it would be 0, 8, 4.
     * Weights: the softmax over all 16 logits. */
    static const float ls[16] = {3.0f, -1.0f, -2.0f, -3.0f, 2.5f, 2.4f, 2.3f, -5.0f,
                                 2.8f, -1.5f, -2.5f, -3.5f, 2.0f, 1.9f, 1.8f, 1.7f};
    hp = hp_make(16, 3, 4, 2, GATING_SOFTMAX, false, 1.0f);
    int idss[3] = {0, 8, 1};
    double ws[3] = {softmax_p(ls, 16, 0), softmax_p(ls, 16, 8), softmax_p(ls, 16, 1)};
    expect("group_softmax_best_score", &hp, ls, NULL, 0, 0, idss, ws);

    hp = hp_make(16, 3, 1, 1, GATING_SOFTMAX, false, 1.0f);
    int idsn[3] = {0, 8, 4};
    double wsn[3] = {softmax_p(ls, 16, 0), softmax_p(ls, 16, 8), softmax_p(ls, 16, 4)};
    expect("softmax_same_logits_no_groups", &hp, ls, NULL, 0, 0, idsn, wsn);

    /* all groups used: no restriction, the plain top 4 of the sigmoid case: 0 .95, 4 .70, 5 .68, 9 .65 */
    hp = hp_make(16, 4, 4, 4, GATING_SIGMOID, false, 1.0f);
    int idsa[4] = {0, 4, 5, 9};
    double wa[4] = {s[0], s[4], s[5], s[9]};
    expect("group_all_used", &hp, l, zero, 0, 0, idsa, wa);
}

/* ---- ties: to the lower expert id, the lower group ---- */
static void test_ties(void) {
    static const float l[8] = {1, 2, 2, 0, 2, 1, 0, 0};
    model_hparams hp = hp_make(8, 3, 1, 1, GATING_SOFTMAX, false, 1.0f);
    int ids[3] = {1, 2, 4};
    double p = softmax_p(l, 8, 1), w[3] = {p, p, p};
    expect("tie_lower_id", &hp, l, NULL, 0, 0, ids, w);

    /* all equal, sigmoid + zero bias, 4 groups of 2, 2 used: groups 0, 1 kept, experts 0..3 */
    static const float eq[8] = {0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f, 0.3f};
    float zero[8] = {0};
    hp = hp_make(8, 4, 4, 2, GATING_SIGMOID, false, 1.0f);
    int ide[4] = {0, 1, 2, 3};
    double s = sigm(0.3), we[4] = {s, s, s, s};
    expect("tie_all_equal_groups", &hp, eq, zero, 0, 0, ide, we);

    /* groups tied on their score, exactly (all values dyadic): logits 0 -> sigmoid .5, biases
     * G0 {+.25 +.25} -> {.75 .75}, sum 1.5; G1 {+.5 +0} -> {1.0 .5}, sum 1.5. With Gu = 1 the lower
     * group G0 is kept although G1 holds the best single expert; inside G0 the tie goes to 0, 1.
     * Weights: the unbiased .5 each. */
    float l2[4] = {0, 0, 0, 0}, b2[4] = {0.25f, 0.25f, 0.5f, 0};
    hp = hp_make(4, 2, 2, 1, GATING_SIGMOID, false, 1.0f);
    int idg[2] = {0, 1};
    double wg[2] = {.5, .5};
    expect("tie_groups_lower", &hp, l2, b2, 0, 0, idg, wg);

    /* NaN logits must still give distinct ids in range (they index expert matrices) */
    float nan8[8];
    for (int e = 0; e < 8; e++) nan8[e] = NAN;
    hp = hp_make(8, 4, 4, 2, GATING_SIGMOID, true, 1.0f);
    int32_t idn[4];
    float wnn[4];
    graph_route(&hp, nan8, zero, 1, 0, 0, idn, wnn);
    int ok = 1;
    for (int k = 0; k < 4; k++) {
        if (idn[k] < 0 || idn[k] >= 8) ok = 0;
        for (int j = 0; j < k; j++) ok &= idn[j] != idn[k];
    }
    report("nan_logits_ids_valid", ok, "NaN router logits gave an id out of range or twice");
}

/* ---- smart expert reduction ---- */
static void test_ser(void) {
    /* softmax, K = 4: logits 3.0 (0), 2.9 (1), 2.0 (2), 0.5 (3), rest -1.
     * w1/w0 = e^-.1 = .905, w2/w0 = e^-1 = .368, w3/w0 = e^-2.5 = .082 */
    static const float l[8] = {3.0f, 2.9f, 2.0f, 0.5f, -1.0f, -1.0f, -1.0f, -1.0f};
    model_hparams hp = hp_make(8, 4, 1, 1, GATING_SOFTMAX, false, 1.0f);
    double p[4] = {softmax_p(l, 8, 0), softmax_p(l, 8, 1), softmax_p(l, 8, 2), softmax_p(l, 8, 3)};
    {   /* kmin 2, thresh .3: slot 2 (.368) stays, slot 3 (.082) dropped */
        int ids[4] = {0, 1, 2, -1};
        double w[4] = {p[0], p[1], p[2], 0};
        expect("ser_kmin2_t0.3", &hp, l, NULL, 2, 0.3f, ids, w);
    }
    {   /* kmin 2, thresh .5: slots 2 and 3 dropped */
        int ids[4] = {0, 1, -1, -1};
        double w[4] = {p[0], p[1], 0, 0};
        expect("ser_kmin2_t0.5", &hp, l, NULL, 2, 0.5f, ids, w);
    }
    {   /* kmin 3, thresh .5: slot 2 is within the best 3, kept although .368 < .5 */
        int ids[4] = {0, 1, 2, -1};
        double w[4] = {p[0], p[1], p[2], 0};
        expect("ser_kmin3_protects", &hp, l, NULL, 3, 0.5f, ids, w);
    }
    {   /* kmin 1, thresh 1 (-ser 1,1): only the best stays (the others are all below it) */
        int ids[4] = {0, -1, -1, -1};
        double w[4] = {p[0], 0, 0, 0};
        expect("ser_kmin1_t1", &hp, l, NULL, 1, 1.0f, ids, w);
    }
    {   /* ser off (kmin 0): nothing dropped whatever the threshold */
        int ids[4] = {0, 1, 2, 3};
        double w[4] = {p[0], p[1], p[2], p[3]};
        expect("ser_off", &hp, l, NULL, 0, 0.99f, ids, w);
    }
    {   /* with norm + scale the same experts are dropped; the kept weights are normalised over
         * the kept experts (as if fewer had been chosen), then scaled */
        model_hparams hn = hp_make(8, 4, 1, 1, GATING_SOFTMAX, true, 2.0f);
        double sum = p[0] + p[1] + p[2];
        int ids[4] = {0, 1, 2, -1};
        double w[4] = {2 * p[0] / sum, 2 * p[1] / sum, 2 * p[2] / sum, 0};
        expect("ser_after_norm_scale", &hn, l, NULL, 2, 0.3f, ids, w);
    }
    /* sigmoid + bias: the slot chosen first is not the one of the best weight.
     * scores (unbiased): expert 0 .50 (bias +.5 -> selection 1.0), expert 1 .90, expert 2 .60,
     * expert 3 .10. Selection order 0, 1, 2; weights .50 .90 .60. */
    float ls[4] = {logit_of(.5), logit_of(.9), logit_of(.6), logit_of(.1)};
    float bias[4] = {0.5f, 0, 0, 0};
    model_hparams hs = hp_make(4, 3, 1, 1, GATING_SIGMOID, false, 1.0f);
    {   /* kmin 1, thresh .8. Against the best weight (.9): .72, expert 2 (.60) is dropped; against
         * the best selection score (1.0): .8, expert 2 (.60) is dropped too, expert 1 (.90) stays
         * either way. (Against the first slot's weight, .5 x .8 = .4, nothing would be.) */
        int ids[3] = {0, 1, -1};
        double w[3] = {.5, .9, 0};
        expect("ser_bias_best_not_first_slot", &hs, ls, bias, 1, 0.8f, ids, w);
    }
    {   /* DESIGN.md: "-ser Kmin,1 keeps the best Kmin": with kmin 1, thresh 1 only expert 0 stays
         * (selection 1.0 beats .9 and .6), although expert 1 has the larger weight */
        int ids[3] = {0, -1, -1};
        double w[3] = {.5, 0, 0};
        expect("ser_bias_kmin1_t1_keeps_best_kmin", &hs, ls, bias, 1, 1.0f, ids, w);
    }
}

/* ---- brute force against random logits, several tokens per call ---- */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* reference: a group is kept when fewer than Gu groups score higher; an expert is chosen when it
 * is in a kept group and fewer than K kept experts score higher; order by score. Returns 0 when
 * the draw has near-ties (then it is skipped). */
static int reference(const model_hparams *hp, const float *l, const float *bias, int32_t *ids, double *w) {
    int E = hp->n_expert, K = hp->n_expert_used, G = hp->n_expert_group, Gu = hp->n_expert_group_used, P = E / G;
    double s[64], sel[64], gs[64];
    for (int e = 0; e < E; e++) s[e] = hp->gating == GATING_SIGMOID ? sigm(l[e]) : softmax_p(l, E, e);
    for (int e = 0; e < E; e++) sel[e] = s[e] + (bias ? bias[e] : 0);
    for (int g = 0; g < G; g++) {
        double v[64];
        for (int j = 0; j < P; j++) v[j] = sel[g * P + j];
        qsort(v, (size_t)P, sizeof v[0], cmp_desc);
        gs[g] = hp->gating == GATING_SIGMOID && bias && P > 1 ? v[0] + v[1] : v[0];
    }
    for (int a = 0; a < E; a++)
        for (int b = 0; b < a; b++)
            if (fabs(sel[a] - sel[b]) < 1e-4) return 0;
    for (int a = 0; a < G; a++)
        for (int b = 0; b < a; b++)
            if (fabs(gs[a] - gs[b]) < 1e-4) return 0;
    int keep[64], n = 0;
    for (int g = 0; g < G; g++) {
        int above = 0;
        for (int h = 0; h < G; h++) above += gs[h] > gs[g];
        keep[g] = G == 1 || above < Gu;
    }
    double chosen[64][2];
    for (int e = 0; e < E; e++) {
        if (!keep[e / P]) continue;
        int above = 0;
        for (int f = 0; f < E; f++) above += keep[f / P] && sel[f] > sel[e];
        if (above < K) chosen[n][0] = sel[e], chosen[n][1] = e, n++;
    }
    if (n != K) return 0;
    qsort(chosen, (size_t)n, sizeof chosen[0], cmp_desc);
    double sum = 0;
    for (int k = 0; k < K; k++) ids[k] = (int32_t)chosen[k][1], sum += s[ids[k]];
    for (int k = 0; k < K; k++)
        w[k] = (hp->expert_weights_norm ? s[ids[k]] / sum : s[ids[k]]) * hp->expert_weights_scale;
    return 1;
}

static void test_random(void) {
    static const struct { int E, K, G, Gu; gating_func g; bool bias, norm; float scale; const char *name; } cfg[] = {
        {16, 4, 4, 2, GATING_SIGMOID, true, true, 2.5f, "random_v3_groups"},
        {16, 2, 1, 1, GATING_SOFTMAX, false, false, 1.0f, "random_v2_greedy"},
        {16, 3, 4, 2, GATING_SOFTMAX, false, false, 16.0f, "random_v2_groups"},
        {32, 6, 8, 3, GATING_SIGMOID, true, true, 1.0f, "random_v3_8groups"},
        {64, 6, 1, 1, GATING_SIGMOID, false, true, 1.0f, "random_sigmoid_nobias"},
    };
    enum { N = 8 };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        model_hparams hp = hp_make(cfg[c].E, cfg[c].K, cfg[c].G, cfg[c].Gu, cfg[c].g, cfg[c].norm, cfg[c].scale);
        int E = cfg[c].E, K = cfg[c].K, checked = 0, ok = 1;
        char why[256] = "";
        for (int trial = 0; trial < 200 && ok; trial++) {
            float l[N * 64], bias[64];
            int32_t ids[N * 64], rid[64];
            float w[N * 64];
            double rw[64];
            for (int i = 0; i < N * E; i++) l[i] = (float)(urand() * 8 - 4);
            for (int e = 0; e < E; e++) bias[e] = (float)(urand() * 0.6 - 0.3);
            graph_route(&hp, l, cfg[c].bias ? bias : NULL, N, 0, 0, ids, w);
            for (int i = 0; i < N && ok; i++) {
                if (!reference(&hp, l + i * E, cfg[c].bias ? bias : NULL, rid, rw)) continue;
                checked++;
                for (int k = 0; k < K; k++)
                    if (ids[i * K + k] != rid[k] || fabs(w[i * K + k] - rw[k]) > 1e-5 * fabs(rw[k]) + 1e-7) {
                        snprintf(why, sizeof why, "trial %d token %d slot %d: got %d:%.6g, want %d:%.6g", trial, i,
                                 k, ids[i * K + k], w[i * K + k], rid[k], rw[k]);
                        ok = 0;
                        break;
                    }
            }
        }
        if (ok && checked < 200) snprintf(why, sizeof why, "only %d draws without near-ties", checked), ok = 0;
        report(cfg[c].name, ok, why);
    }
}

int main(void) {
    test_softmax();
    test_sigmoid_bias();
    test_groups();
    test_ties();
    test_ser();
    test_random();
    return n_fail ? 1 : 0;
}
