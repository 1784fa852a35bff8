/* route.c: MoE routing on the CPU, the reference for every backend (DESIGN.md "MoE
 * routing"): softmax or sigmoid scores, selection by score + bias, group-limited top-k
 * (a group's score: its two best biased scores summed with sigmoid gating and a bias, its
 * best score otherwise), weights from the unbiased scores (normalised, scaled), then smart
 * expert reduction, then the normalisation. */
#include <math.h>
#include <stdbool.h>

#include "../backend.h"

void cpu_route_ref(const route_params *rp, const float *logits, const float *bias, int n, int32_t *ids,
                   float *weights) {
    int E = rp->n_expert, K = rp->n_used, G = rp->n_group > 0 ? rp->n_group : 1, Gu = rp->n_group_used;
    int per_group = E / G;
    float score[E], sel[E];
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * E;
        if (rp->sigmoid) {
            for (int e = 0; e < E; e++) score[e] = 1.0f / (1.0f + expf(-l[e]));
        } else {
            float m = -INFINITY, sum = 0;
            for (int e = 0; e < E; e++) m = l[e] > m ? l[e] : m;
            for (int e = 0; e < E; e++) sum += (score[e] = expf(l[e] - m));
            for (int e = 0; e < E; e++) score[e] /= sum;
        }
        for (int e = 0; e < E; e++) sel[e] = score[e] + (bias ? bias[e] : 0.0f);
        if (G > 1 && Gu < G) { /* keep the Gu best groups */
            float gs[G];
            bool keep[G];
            for (int gi = 0; gi < G; gi++) {
                float b1 = -INFINITY, b2 = -INFINITY; /* best two in the group */
                for (int e = gi * per_group; e < (gi + 1) * per_group; e++) {
                    if (sel[e] > b1) b2 = b1, b1 = sel[e];
                    else if (sel[e] > b2) b2 = sel[e];
                }
                gs[gi] = (rp->sigmoid && bias && per_group > 1) ? b1 + b2 : b1;
                keep[gi] = false;
            }
            for (int k = 0; k < Gu; k++) {
                int best = -1;
                for (int gi = 0; gi < G; gi++)
                    if (!keep[gi] && (best < 0 || gs[gi] > gs[best])) best = gi;
                keep[best] = true;
            }
            for (int e = 0; e < E; e++)
                if (!keep[e / per_group]) sel[e] = -INFINITY;
        }
        int32_t *id = ids + (size_t)i * K;
        float *w = weights + (size_t)i * K, sum = 0;
        for (int k = 0; k < K; k++) { /* top-K by selection score, ties to the lower id */
            int best = -1;
            for (int e = 0; e < E; e++) {
                bool used = false;
                for (int j = 0; j < k; j++) used |= id[j] == e;
                if (!used && (best < 0 || sel[e] > sel[best])) best = e;
            }
            id[k] = best;
            w[k] = score[best];
        }
        /* smart expert reduction: beyond the best ser_kmin, drop experts whose selection score
         * is under ser_thresh times the best one (a dropped slot has id -1); slot 0 holds the
         * best selection score, not necessarily the best weight when there is a bias. It
         * comes before the normalisation, so the kept weights sum to 1 where the model's
         * gating normalises (as with fewer experts chosen in the first place). */
        if (rp->ser_kmin > 0)
            for (int k = rp->ser_kmin; k < K; k++)
                if (sel[id[k]] < rp->ser_thresh * sel[id[0]]) id[k] = -1, w[k] = 0;
        for (int k = 0; k < K; k++) sum += w[k];
        for (int k = 0; k < K; k++) {
            if (rp->weights_norm) w[k] /= sum;
            w[k] *= rp->weights_scale;
        }
    }
}
