/* moe.c: the feed-forward block: dense SwiGLU, or DeepSeek's mixture of experts (router,
 * routing by the backend's route op, the selected experts' products, shared experts added
 * for every token, the weighted combine). s->xn -> s->attn_out. */
#include "graph.h"

/* y = W_down (silu(W_gate x) * W_up x) over n tokens */
static int swiglu(graph_ctx *g, const lt_tensor *wg, const lt_tensor *wu, const lt_tensor *wd, const float *x, int n,
                  float *y) {
    const backend_ops *op = g->be->ops;
    int64_t F = wg->ne[1];
    int rc;
    if ((rc = op->matmul(g->be, wg, 0, F, x, n, g->s.ffn_g, F))) return rc;
    if ((rc = op->matmul(g->be, wu, 0, F, x, n, g->s.ffn_u, F))) return rc;
    if ((rc = op->silu_mul(g->be, g->s.ffn_g, g->s.ffn_u, g->s.ffn_g, (int64_t)n * F))) return rc;
    return op->matmul(g->be, wd, 0, wd->ne[1], g->s.ffn_g, n, y, wd->ne[1]);
}

static int moe(graph_ctx *g, const layer_weights *L, int n, latte_err *err, int il) {
    const model_hparams *hp = g->hp;
    const backend_ops *op = g->be->ops;
    graph_scratch *s = &g->s;
    int D = hp->n_embd, E = hp->n_expert, K = hp->n_expert_used, F = hp->n_ff_exp, rc;
    if ((rc = op->matmul(g->be, L->gate_inp, 0, E, s->xn, n, s->router, E)) ||
        (rc = op->route(g->be, &g->route, s->router, L->exp_probs_b, n, s->route_ids, s->route_w)))
        return err_set(err, rc, "layer %d: router failed", il);
    if ((rc = op->matmul_experts(g->be, L->gate_exps, s->route_ids, K, s->xn, D, n, s->exp_g)) ||
        (rc = op->matmul_experts(g->be, L->up_exps, s->route_ids, K, s->xn, D, n, s->exp_u)) ||
        (rc = op->silu_mul(g->be, s->exp_g, s->exp_u, s->exp_g, (int64_t)n * K * F)))
        return err_set(err, rc, "layer %d: expert gate/up failed", il);
    /* down: one row of hidden activations per (token, slot) pair */
    if ((rc = op->matmul_experts(g->be, L->down_exps, s->route_ids, 1, s->exp_g, F, (int64_t)n * K, s->exp_d)))
        return err_set(err, rc, "layer %d: expert down failed", il);
    bool shared = L->gate_shexp != NULL;
    if (shared && (rc = swiglu(g, L->gate_shexp, L->up_shexp, L->down_shexp, s->xn, n, s->attn_out)))
        return err_set(err, rc, "layer %d: shared expert failed", il);
    if ((rc = op->moe_combine(g->be, s->exp_d, s->route_ids, s->route_w, n, K, D, s->attn_out, shared)))
        return err_set(err, rc, "layer %d: expert combine failed", il);
    return 0;
}

int graph_ffn(graph_ctx *g, int il, int n, latte_err *err) {
    const layer_weights *L = &g->w->layers[il];
    if (L->is_moe) return moe(g, L, n, err, il);
    int rc = swiglu(g, L->ffn_gate, L->ffn_up, L->ffn_down, g->s.xn, n, g->s.attn_out);
    return rc ? err_set(err, rc, "layer %d: feed-forward failed", il) : 0;
}
