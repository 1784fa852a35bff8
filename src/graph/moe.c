/* moe.c: the feed-forward block: dense SwiGLU, or DeepSeek's mixture of experts
 * (router, group-limited top-k selection with a selection bias, weights from the
 * unbiased scores, shared experts added for every token). s->xn -> s->attn_out. */
#include <math.h>
#include <string.h>

#include "graph.h"

/* y = W_down (silu(W_gate x) * W_up x) over n tokens */
static int swiglu(graph_ctx *g, const lt_tensor *wg, const lt_tensor *wu, const lt_tensor *wd, const float *x, int n,
                  float *y) {
    const backend_ops *op = g->be->ops;
    int64_t F = wg->ne[1];
    int rc;
    if ((rc = op->matmul(g->be, wg, 0, F, x, n, g->s.ffn_g, F))) return rc;
    if ((rc = op->matmul(g->be, wu, 0, F, x, n, g->s.ffn_u, F))) return rc;
    op->silu_mul(g->be, g->s.ffn_g, g->s.ffn_u, g->s.ffn_g, (int64_t)n * F);
    return op->matmul(g->be, wd, 0, wd->ne[1], g->s.ffn_g, n, y, wd->ne[1]);
}

void graph_route(const model_hparams *hp, const float *logits, const float *bias, int n, int ser_kmin,
                 float ser_thresh, int32_t *ids, float *weights) {
    int E = hp->n_expert, K = hp->n_expert_used, G = hp->n_expert_group, Gu = hp->n_expert_group_used;
    int per_group = E / G;
    float score[E], sel[E];
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * E;
        if (hp->gating == GATING_SIGMOID) {
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
                gs[gi] = (hp->gating == GATING_SIGMOID && bias && per_group > 1) ? b1 + b2 : b1;
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
            sum += w[k];
        }
        for (int k = 0; k < K; k++) {
            if (hp->expert_weights_norm) w[k] /= sum;
            w[k] *= hp->expert_weights_scale;
        }
        /* smart expert reduction: beyond the best ser_kmin, drop experts whose selection score
         * is under ser_thresh times the best one (a dropped slot has id -1); slot 0 holds the
         * best selection score, not necessarily the best weight when there is a bias */
        if (ser_kmin > 0)
            for (int k = ser_kmin; k < K; k++)
                if (sel[id[k]] < ser_thresh * sel[id[0]]) id[k] = -1, w[k] = 0;
    }
}

static int moe(graph_ctx *g, const layer_weights *L, int n, latte_err *err, int il) {
    const model_hparams *hp = g->hp;
    const backend_ops *op = g->be->ops;
    graph_scratch *s = &g->s;
    int D = hp->n_embd, E = hp->n_expert, K = hp->n_expert_used, F = hp->n_ff_exp, rc;
    if ((rc = op->matmul(g->be, L->gate_inp, 0, E, s->xn, n, s->router, E)))
        return err_set(err, rc, "layer %d: router failed", il);
    graph_route(hp, s->router, L->exp_probs_b ? (const float *)L->exp_probs_b->data : NULL, n, g->ser_kmin,
                g->ser_thresh, s->route_ids, s->route_w);
    if ((rc = op->matmul_experts(g->be, L->gate_exps, s->route_ids, K, s->xn, D, n, s->exp_g)) ||
        (rc = op->matmul_experts(g->be, L->up_exps, s->route_ids, K, s->xn, D, n, s->exp_u)))
        return err_set(err, rc, "layer %d: expert gate/up failed", il);
    op->silu_mul(g->be, s->exp_g, s->exp_u, s->exp_g, (int64_t)n * K * F);
    /* down: one row of hidden activations per (token, slot) pair */
    if ((rc = op->matmul_experts(g->be, L->down_exps, s->route_ids, 1, s->exp_g, F, (int64_t)n * K, s->exp_d)))
        return err_set(err, rc, "layer %d: expert down failed", il);
    if (L->gate_shexp) {
        if ((rc = swiglu(g, L->gate_shexp, L->up_shexp, L->down_shexp, s->xn, n, s->attn_out)))
            return err_set(err, rc, "layer %d: shared expert failed", il);
    } else {
        memset(s->attn_out, 0, sizeof(float) * (size_t)n * D);
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) {
            if (s->route_ids[i * K + k] < 0) continue;
            float w = s->route_w[i * K + k];
            const float *d = s->exp_d + ((size_t)i * K + k) * D;
            float *o = s->attn_out + (size_t)i * D;
            for (int j = 0; j < D; j++) o[j] += w * d[j];
        }
    return 0;
}

int graph_ffn(graph_ctx *g, int il, int n, latte_err *err) {
    const layer_weights *L = &g->w->layers[il];
    if (L->is_moe) return moe(g, L, n, err, il);
    int rc = swiglu(g, L->ffn_gate, L->ffn_up, L->ffn_down, g->s.xn, n, g->s.attn_out);
    return rc ? err_set(err, rc, "layer %d: feed-forward failed", il) : 0;
}
