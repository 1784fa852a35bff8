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
    if ((rc = op->matmul(g->be, wg, 0, F, x, n, g->s->ffn_g, F))) return rc;
    if ((rc = op->matmul(g->be, wu, 0, F, x, n, g->s->ffn_u, F))) return rc;
    if ((rc = op->silu_mul(g->be, g->s->ffn_g, g->s->ffn_u, g->s->ffn_g, (int64_t)n * F))) return rc;
    return op->matmul(g->be, wd, 0, wd->ne[1], g->s->ffn_g, n, y, wd->ne[1]);
}

/* The routed experts of layer il on device de, for the router's choice made on the
 * current device: the normed input, ids and weights go over when de differs, and the
 * weighted sum of the experts comes back into s->moe_out (on the same device it goes
 * straight into s->attn_out). */
static int experts(graph_ctx *g, const layer_weights *L, int n, int de, int il, latte_err *err) {
    const model_hparams *hp = g->hp;
    int D = hp->n_embd, K = hp->n_expert_used, F = hp->n_ff_exp, df = g->cur, rc;
    graph_scratch *sf = g->s, *se = &g->dev[de].s;
    backend *be = g->dev[de].be;
    const backend_ops *op = be->ops;
    if (de != df && ((rc = graph_copy(g, de, se->xn, df, sf->xn, sizeof(float) * (size_t)n * D)) ||
                     (rc = graph_copy(g, de, se->route_ids, df, sf->route_ids, sizeof(int32_t) * (size_t)n * K)) ||
                     (rc = graph_copy(g, de, se->route_w, df, sf->route_w, sizeof(float) * (size_t)n * K))))
        return err_set(err, rc, "layer %d: moving the experts' input failed", il);
    if ((rc = op->matmul_experts(be, L->gate_exps, se->route_ids, K, se->xn, D, n, se->exp_g)) ||
        (rc = op->matmul_experts(be, L->up_exps, se->route_ids, K, se->xn, D, n, se->exp_u)) ||
        (rc = op->silu_mul(be, se->exp_g, se->exp_u, se->exp_g, (int64_t)n * K * F)))
        return err_set(err, rc, "layer %d: expert gate/up failed", il);
    /* down: one row of hidden activations per (token, slot) pair */
    if ((rc = op->matmul_experts(be, L->down_exps, se->route_ids, 1, se->exp_g, F, (int64_t)n * K, se->exp_d)))
        return err_set(err, rc, "layer %d: expert down failed", il);
    float *sum = de == df ? se->attn_out : se->moe_out;
    if ((rc = op->moe_combine(be, se->exp_d, se->route_ids, se->route_w, n, K, D, sum, false)))
        return err_set(err, rc, "layer %d: expert combine failed", il);
    if (de != df && (rc = graph_copy(g, df, sf->moe_out, de, se->moe_out, sizeof(float) * (size_t)n * D)))
        return err_set(err, rc, "layer %d: moving the experts' output failed", il);
    return 0;
}

static int moe(graph_ctx *g, const layer_weights *L, int n, latte_err *err, int il) {
    const model_hparams *hp = g->hp;
    const backend_ops *op = g->be->ops;
    graph_scratch *s = g->s;
    int D = hp->n_embd, E = hp->n_expert, de = g->blk[il].exps, rc;
    if ((rc = op->matmul(g->be, L->gate_inp, 0, E, s->xn, n, s->router, E)) ||
        (rc = op->route(g->be, &g->route, s->router, L->exp_probs_b, n, s->route_ids, s->route_w)))
        return err_set(err, rc, "layer %d: router failed", il);
    bool shared = L->gate_shexp != NULL, away = de != g->cur;
    /* the routed sum and the shared experts' output meet in one add, whichever device the
     * experts ran on, so placement does not change a bit of the result */
    if (!away && (rc = experts(g, L, n, de, il, err))) return rc; /* sum -> attn_out */
    if (shared && (rc = swiglu(g, L->gate_shexp, L->up_shexp, L->down_shexp, s->xn, n, away ? s->attn_out : s->moe_out)))
        return err_set(err, rc, "layer %d: shared expert failed", il);
    if (away && (rc = experts(g, L, n, de, il, err))) return rc; /* sum -> moe_out */
    if (shared) rc = op->add(g->be, s->attn_out, s->moe_out, s->attn_out, (int64_t)n * D);
    else if (away) rc = op->copy_2d(g->be, s->attn_out, 0, s->moe_out, 0, sizeof(float) * (size_t)n * D, 1);
    return rc ? err_set(err, rc, "layer %d: adding the shared experts failed", il) : 0;
}

int graph_ffn(graph_ctx *g, int il, int n, latte_err *err) {
    const layer_weights *L = &g->w->layers[il];
    if (L->is_moe) return moe(g, L, n, err, il);
    int rc = swiglu(g, L->ffn_gate, L->ffn_up, L->ffn_down, g->s->xn, n, g->s->attn_out);
    return rc ? err_set(err, rc, "layer %d: feed-forward failed", il) : 0;
}
