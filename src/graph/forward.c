/* forward.c: context set-up and the forward pass shared by every architecture:
 * embed -> per layer (norm, attention, residual, norm, FFN or MoE, residual) -> norm ->
 * output, on the rows whose logits are wanted. What differs between llama, qwen2 and
 * deepseek2 lives in graph_attention (standard or MLA) and graph_ffn (dense or MoE), chosen
 * by the weights each layer has. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../quant/quant.h"
#include "graph.h"

static int max_i(int a, int b) { return a > b ? a : b; }

/* scratch buffers: {pointer, floats} pairs allocated through the compute backend */
typedef struct scratch_req {
    float **p;
    size_t n;
} scratch_req;

static int alloc_scratch(graph_ctx *g, graph_dev *gd, latte_err *err) {
    const model_hparams *hp = g->hp;
    size_t n = (size_t)g->n_ubatch, D = (size_t)hp->n_embd, H = (size_t)hp->n_head;
    graph_scratch *s = &gd->s;
    size_t qw, kw, vw, ow, mla_n = 0;
    size_t dn = hp->d_nope, dr = hp->n_rot_mla, dv = hp->d_v, r = hp->kv_lora_rank;
    if (hp->has_mla) {
        qw = H * (dn + dr), kw = H * (dn + dr), vw = H * dv, ow = H * dv, mla_n = n;
    } else {
        qw = H * hp->n_embd_head_k, kw = (size_t)hp->n_head_kv * hp->n_embd_head_k;
        vw = (size_t)hp->n_head_kv * hp->n_embd_head_v, ow = H * hp->n_embd_head_v;
    }
    size_t ff = (size_t)max_i(hp->n_ff, hp->n_ff_exp * max_i(hp->n_expert_shared, 1));
    size_t nu = (size_t)max_i(hp->n_expert_used, 1), fe = (size_t)max_i(hp->n_ff_exp, 1);
    scratch_req req[] = {
        {&s->x, n * D}, {&s->xn, n * D}, {&s->attn_out, n * D}, {&s->q, n * qw}, {&s->k, n * kw},
        {&s->v, n * vw}, {&s->o, n * ow}, {&s->ffn_g, n * ff}, {&s->ffn_u, n * ff},
        {&s->router, n * (size_t)max_i(hp->n_expert, 1)}, {&s->route_w, n * nu},
        {(float **)&s->route_ids, n * nu}, {&s->exp_g, n * nu * fe}, {&s->exp_u, n * nu * fe},
        {&s->exp_d, n * nu * D}, {&s->moe_out, n * D}, {&s->logits, (size_t)GRAPH_OUT_ROWS * (size_t)hp->n_vocab},
        {&s->qa, mla_n * (size_t)max_i(hp->q_lora_rank, 1)}, {&s->kva, mla_n * (r + dr)}, {&s->lat, mla_n * (r + dr)},
        {&s->q_lat, mla_n * H * r}, {&s->q_pe, mla_n * H * dr}, {&s->o_lat, mla_n * H * r},
        {&s->kvb_out, mla_n * H * (dn + dv)},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        if (!req[i].n) continue;
        *req[i].p = gd->be->ops->buf_alloc(gd->be, req[i].n * sizeof(float));
        if (!*req[i].p)
            return err_set(err, LATTE_E_NOMEM, "%s: out of memory for scratch buffers (micro-batch %d)", gd->be->ops->name,
                           g->n_ubatch);
    }
    if (!(gd->ev = gd->be->ops->event_new(gd->be))) return err_set(err, LATTE_E_NOMEM, "out of memory for an event");
    return 0;
}

static void free_scratch(graph_dev *gd) {
    graph_scratch *s = &gd->s;
    float *bufs[] = {s->x, s->xn, s->q, s->k, s->v, s->o, s->qa, s->kva, s->lat, s->q_lat, s->q_pe, s->o_lat,
                     s->kvb_out, s->ffn_g, s->ffn_u, s->router, s->route_w, (float *)s->route_ids, s->exp_g,
                     s->exp_u, s->exp_d, s->attn_out, s->moe_out, s->logits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) gd->be->ops->buf_free(gd->be, bufs[i]);
    if (gd->ev) gd->be->ops->event_free(gd->be, gd->ev);
    memset(s, 0, sizeof *s);
    gd->ev = NULL;
}

/* where each block runs: the device of the weight that anchors it */
static int place_blocks(graph_ctx *g, backend *const *bes, latte_err *err) {
    const model_hparams *hp = g->hp;
    const model_weights *w = g->w;
    g->blk = calloc((size_t)max_i(hp->n_layer, 1), sizeof *g->blk);
    if (!g->blk) return err_set(err, LATTE_E_NOMEM, "out of memory");
    g->embd_dev = w->tok_embd->dev, g->out_dev = w->output->dev;
    bool used[GRAPH_MAX_DEVICES] = {[0] = true};
    used[g->embd_dev] = used[g->out_dev] = true;
    for (int il = 0; il < hp->n_layer; il++) {
        const layer_weights *L = &w->layers[il];
        const lt_tensor *qa = L->wq_a ? L->wq_a : L->wq;
        graph_blocks *b = &g->blk[il];
        b->attn = qa->dev;
        b->ffn = L->is_moe ? L->gate_inp->dev : L->ffn_gate->dev;
        b->exps = L->is_moe ? L->gate_exps->dev : b->ffn;
        used[b->attn] = used[b->ffn] = used[b->exps] = true;
    }
    for (int d = 0; d < GRAPH_MAX_DEVICES; d++) {
        if (!used[d]) continue;
        if (!bes[d]) return err_set(err, LATTE_E_ARG, "no backend for device %d the weights were placed on", d);
        g->dev[d].be = bes[d];
    }
    return 0;
}

route_params graph_route_params(const model_hparams *hp, int ser_kmin, float ser_thresh) {
    return (route_params){.n_expert = hp->n_expert, .n_used = hp->n_expert_used, .n_group = hp->n_expert_group,
                          .n_group_used = hp->n_expert_group_used, .sigmoid = hp->gating == GATING_SIGMOID,
                          .weights_norm = hp->expert_weights_norm, .weights_scale = hp->expert_weights_scale,
                          .ser_kmin = ser_kmin, .ser_thresh = ser_thresh};
}

int graph_init(graph_ctx *g, const model_hparams *hp, const model_weights *w, backend *const *bes, int mla_mode,
               bool flash, int n_seq, int n_ctx_seq, int n_ubatch, uint32_t type_k, uint32_t type_v, int ser_kmin,
               float ser_thresh, latte_err *err) {
    memset(g, 0, sizeof *g);
    g->hp = hp, g->w = w, g->flash = flash, g->n_ubatch = n_ubatch, g->stage_dev = -1;
    g->mla_mode = hp->has_mla ? mla_mode : 0;
    g->route = graph_route_params(hp, ser_kmin, ser_thresh);
    int rc;
    if ((rc = graph_rope_init(g, err))) return rc;
    if ((rc = place_blocks(g, bes, err))) return rc;
    backend **lbe = malloc(sizeof *lbe * (size_t)max_i(hp->n_layer, 1));
    if (!lbe) return err_set(err, LATTE_E_NOMEM, "out of memory");
    for (int il = 0; il < hp->n_layer; il++) lbe[il] = bes[g->blk[il].attn];
    if (hp->has_mla) {
        float ms = 1.0f;
        if (hp->rope.scaling == ROPE_SCALE_YARN && hp->rope.yarn_log_mul != 0.0f)
            ms = 1.0f + hp->rope.yarn_log_mul * logf(hp->rope.factor);
        g->kq_scale = ms * ms / sqrtf((float)(hp->d_nope + hp->n_rot_mla));
        int64_t r = hp->kv_lora_rank, dr = hp->n_rot_mla;
        if (g->mla_mode == 0)
            rc = kv_init(&g->kv, KV_STANDARD, hp->n_layer, n_seq, n_ctx_seq, (int64_t)hp->n_head * (hp->d_nope + dr),
                         (int64_t)hp->n_head * hp->d_v, false, type_k, type_v, lbe, err);
        else /* the transposed latent copy (mode 1) needs one element per block */
            rc = kv_init(&g->kv, KV_LATENT, hp->n_layer, n_seq, n_ctx_seq, r + dr, r, g->mla_mode == 1, type_k,
                         (type_k == QT_F32 || type_k == QT_BF16) ? type_k : QT_F16, lbe, err);
    } else {
        g->kq_scale = 1.0f / sqrtf((float)hp->n_embd_head_k);
        rc = kv_init(&g->kv, KV_STANDARD, hp->n_layer, n_seq, n_ctx_seq, (int64_t)hp->n_head_kv * hp->n_embd_head_k,
                     (int64_t)hp->n_head_kv * hp->n_embd_head_v, false, type_k, type_v, lbe, err);
    }
    free(lbe);
    if (rc) return rc;
    int n_used = 0, staging = 0;
    for (int d = 0; d < GRAPH_MAX_DEVICES; d++) {
        if (!g->dev[d].be) continue;
        if ((rc = alloc_scratch(g, &g->dev[d], err))) return rc;
        n_used++;
        if (d > 0 && !staging) staging = d;
    }
    if (n_used > 1) { /* staging through the host memory a device copies fastest from */
        backend *sb = g->dev[staging].be;
        g->stage_bytes = sizeof(float) * (size_t)n_ubatch * (size_t)max_i(hp->n_embd, hp->n_expert_used);
        if (!(g->stage = sb->ops->host_alloc(sb, g->stage_bytes)))
            return err_set(err, LATTE_E_NOMEM, "out of memory for the staging buffer");
        g->stage_host = sb;
    }
    graph_use(g, 0);
    return 0;
}

void graph_free(graph_ctx *g) {
    kv_free(&g->kv);
    free(g->theta);
    free(g->blk);
    for (int d = 0; d < GRAPH_MAX_DEVICES; d++)
        if (g->dev[d].be) free_scratch(&g->dev[d]);
    if (g->stage) g->stage_host->ops->host_free(g->stage_host, g->stage);
    memset(g, 0, sizeof *g);
}

/* final norm and output head over the wanted rows, GRAPH_OUT_ROWS at a time, copied to the
 * caller's host logits */
static int output_head(graph_ctx *g, const graph_batch *b, float *logits, latte_err *err) {
    const model_hparams *hp = g->hp;
    const backend_ops *op = g->be->ops;
    backend *be = g->be;
    graph_scratch *s = g->s;
    int D = hp->n_embd, V = hp->n_vocab, rc = 0;
    for (int k0 = 0; k0 < b->n_out && !rc; k0 += GRAPH_OUT_ROWS) {
        int nk = b->n_out - k0 < GRAPH_OUT_ROWS ? b->n_out - k0 : GRAPH_OUT_ROWS;
        for (int k = 0; k < nk && !rc; k++) /* gather the wanted rows of x, normed, into xn */
            rc = op->rms_norm(be, s->x + (size_t)b->out_rows[k0 + k] * D, D, g->w->output_norm, 1, D, hp->rms_eps,
                              s->xn + (size_t)k * D, D);
        if (!rc) rc = op->matmul(be, g->w->output, 0, V, s->xn, nk, s->logits, V);
        if (!rc) rc = op->copy_out(be, logits + (size_t)k0 * V, s->logits, sizeof(float) * (size_t)nk * V);
        if (!rc) rc = op->sync(be); /* the next chunk reuses s->logits */
    }
    return rc ? err_set(err, rc, "output projection failed") : 0;
}

int graph_forward(graph_ctx *g, const graph_batch *b, float *logits, latte_err *err) {
    const model_hparams *hp = g->hp;
    const model_weights *w = g->w;
    int D = hp->n_embd, n = b->n, rc;
    if (n <= 0 || n > g->n_ubatch) return err_set(err, LATTE_E_ARG, "micro-batch of %d tokens (limit %d)", n, g->n_ubatch);
    for (int i = 0; i < n; i++)
        if (b->tokens[i] < 0 || b->tokens[i] >= hp->n_vocab)
            return err_set(err, LATTE_E_ARG, "token id %d is outside the vocabulary [0, %d)", b->tokens[i], hp->n_vocab);
    /* embed */
    g->cur = g->embd_dev;
    graph_use(g, g->cur);
    if ((rc = g->be->ops->get_rows(g->be, w->tok_embd, b->tokens, n, g->s->x))) return err_set(err, rc, "embedding lookup failed");
    for (int il = 0; il < hp->n_layer; il++) {
        const layer_weights *L = &w->layers[il];
        /* attention block, on its device */
        if ((rc = graph_move_x(g, g->blk[il].attn, n))) return err_set(err, rc, "layer %d: moving activations failed", il);
        if ((rc = g->be->ops->rms_norm(g->be, g->s->x, D, L->attn_norm, n, D, hp->rms_eps, g->s->xn, D)))
            return err_set(err, rc, "layer %d: attention norm failed", il);
        if ((rc = graph_attention(g, il, b, err))) return rc;
        if ((rc = g->be->ops->add(g->be, g->s->x, g->s->attn_out, g->s->x, (int64_t)n * D)))
            return err_set(err, rc, "layer %d: add failed", il);
        /* feed-forward block */
        if ((rc = graph_move_x(g, g->blk[il].ffn, n))) return err_set(err, rc, "layer %d: moving activations failed", il);
        if ((rc = g->be->ops->rms_norm(g->be, g->s->x, D, L->ffn_norm, n, D, hp->rms_eps, g->s->xn, D)))
            return err_set(err, rc, "layer %d: feed-forward norm failed", il);
        if ((rc = graph_ffn(g, il, n, err))) return rc;
        if ((rc = g->be->ops->add(g->be, g->s->x, g->s->attn_out, g->s->x, (int64_t)n * D)))
            return err_set(err, rc, "layer %d: add failed", il);
    }
    if ((rc = graph_move_x(g, g->out_dev, n))) return err_set(err, rc, "moving activations failed");
    if ((rc = output_head(g, b, logits, err))) return rc;
    for (int d = 0; d < GRAPH_MAX_DEVICES; d++) /* every device's queued work, and its first error */
        if (g->dev[d].be && (rc = g->dev[d].be->ops->sync(g->dev[d].be)))
            return err_set(err, rc, "the %s backend failed", g->dev[d].be->ops->name);
    return 0;
}
