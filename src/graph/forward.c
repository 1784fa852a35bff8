/* forward.c: context set-up and the forward pass shared by every architecture:
 * embed -> per layer (norm, attention, residual, norm, FFN or MoE, residual) -> norm ->
 * output. What differs between llama, qwen2 and deepseek2 lives in graph_attention
 * (standard or MLA) and graph_ffn (dense or MoE), chosen by the weights each layer has. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../quant/quant.h"
#include "graph.h"

static int max_i(int a, int b) { return a > b ? a : b; }

static int alloc_scratch(graph_ctx *g, latte_err *err) {
    const model_hparams *hp = g->hp;
    size_t n = (size_t)g->n_ubatch, D = (size_t)hp->n_embd, H = (size_t)hp->n_head;
    graph_scratch *s = &g->s;
    size_t qw, kw, vw, ow;
    if (hp->has_mla) {
        size_t dn = hp->d_nope, dr = hp->n_rot_mla, dv = hp->d_v, r = hp->kv_lora_rank;
        qw = H * (dn + dr), kw = H * (dn + dr), vw = H * dv, ow = H * dv;
        s->qa = calloc(n * (size_t)max_i(hp->q_lora_rank, 1), sizeof(float));
        s->kva = calloc(n * (r + dr), sizeof(float));
        s->lat = calloc(n * (r + dr), sizeof(float));
        s->gather = calloc(n * (r > dn ? r : dn), sizeof(float));
        s->q_lat = calloc(n * H * r, sizeof(float));
        s->q_pe = calloc(n * H * dr, sizeof(float));
        s->o_lat = calloc(n * H * r, sizeof(float));
        s->kvb_out = calloc(n * H * (dn + dv), sizeof(float));
        if (!s->qa || !s->kva || !s->lat || !s->gather || !s->q_lat || !s->q_pe || !s->o_lat || !s->kvb_out)
            return err_set(err, LATTE_E_NOMEM, "out of memory for MLA scratch");
    } else {
        qw = H * hp->n_embd_head_k, kw = (size_t)hp->n_head_kv * hp->n_embd_head_k;
        vw = (size_t)hp->n_head_kv * hp->n_embd_head_v, ow = H * hp->n_embd_head_v;
    }
    size_t ff = (size_t)max_i(hp->n_ff, hp->n_ff_exp * max_i(hp->n_expert_shared, 1));
    int nu = max_i(hp->n_expert_used, 1);
    s->x = calloc(n * D, sizeof(float));
    s->xn = calloc(n * D, sizeof(float));
    s->attn_out = calloc(n * D, sizeof(float));
    s->q = calloc(n * qw, sizeof(float));
    s->k = calloc(n * kw, sizeof(float));
    s->v = calloc(n * vw, sizeof(float));
    s->o = calloc(n * ow, sizeof(float));
    s->ffn_g = calloc(n * ff, sizeof(float));
    s->ffn_u = calloc(n * ff, sizeof(float));
    s->router = calloc(n * (size_t)max_i(hp->n_expert, 1), sizeof(float));
    s->route_w = calloc(n * nu, sizeof(float));
    s->route_ids = calloc(n * nu, sizeof(int32_t));
    s->exp_g = calloc(n * nu * (size_t)max_i(hp->n_ff_exp, 1), sizeof(float));
    s->exp_u = calloc(n * nu * (size_t)max_i(hp->n_ff_exp, 1), sizeof(float));
    s->exp_d = calloc(n * nu * D, sizeof(float));
    if (!s->x || !s->xn || !s->attn_out || !s->q || !s->k || !s->v || !s->o || !s->ffn_g || !s->ffn_u ||
        !s->router || !s->route_w || !s->route_ids || !s->exp_g || !s->exp_u || !s->exp_d)
        return err_set(err, LATTE_E_NOMEM, "out of memory for scratch buffers (micro-batch %d)", g->n_ubatch);
    return 0;
}

int graph_init(graph_ctx *g, const model_hparams *hp, const model_weights *w, backend *be, int mla_mode,
               bool flash, int n_ctx, int n_ubatch, uint32_t type_k, uint32_t type_v, latte_err *err) {
    memset(g, 0, sizeof *g);
    g->hp = hp, g->w = w, g->be = be, g->flash = flash, g->n_ubatch = n_ubatch;
    g->mla_mode = hp->has_mla ? mla_mode : 0;
    int rc;
    if ((rc = graph_rope_init(g, err))) return rc;
    if (hp->has_mla) {
        float ms = 1.0f;
        if (hp->rope.scaling == ROPE_SCALE_YARN && hp->rope.yarn_log_mul != 0.0f)
            ms = 1.0f + hp->rope.yarn_log_mul * logf(hp->rope.factor);
        g->kq_scale = ms * ms / sqrtf((float)(hp->d_nope + hp->n_rot_mla));
        int64_t r = hp->kv_lora_rank, dr = hp->n_rot_mla;
        if (g->mla_mode == 0)
            rc = kv_init(&g->kv, KV_STANDARD, hp->n_layer, n_ctx, (int64_t)hp->n_head * (hp->d_nope + dr),
                         (int64_t)hp->n_head * hp->d_v, false, type_k, type_v, err);
        else /* the transposed latent copy (mode 1) needs one element per block */
            rc = kv_init(&g->kv, KV_LATENT, hp->n_layer, n_ctx, r + dr, r, g->mla_mode == 1, type_k,
                         (type_k == QT_F32 || type_k == QT_BF16) ? type_k : QT_F16, err);
    } else {
        g->kq_scale = 1.0f / sqrtf((float)hp->n_embd_head_k);
        rc = kv_init(&g->kv, KV_STANDARD, hp->n_layer, n_ctx, (int64_t)hp->n_head_kv * hp->n_embd_head_k,
                     (int64_t)hp->n_head_kv * hp->n_embd_head_v, false, type_k, type_v, err);
    }
    if (rc) return rc;
    return alloc_scratch(g, err);
}

void graph_free(graph_ctx *g) {
    kv_free(&g->kv);
    free(g->theta);
    graph_scratch *s = &g->s;
    float *bufs[] = {s->x, s->xn, s->q, s->k, s->v, s->o, s->qa, s->kva, s->lat, s->gather, s->q_lat, s->q_pe,
                     s->o_lat, s->kvb_out, s->ffn_g, s->ffn_u, s->router, s->route_w, s->exp_g, s->exp_u,
                     s->exp_d, s->attn_out};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(s->route_ids);
    memset(g, 0, sizeof *g);
}

int graph_forward(graph_ctx *g, const int32_t *tokens, int n, bool all_logits, float *logits, latte_err *err) {
    const model_hparams *hp = g->hp;
    const model_weights *w = g->w;
    const backend_ops *op = g->be->ops;
    backend *be = g->be;
    graph_scratch *s = &g->s;
    int D = hp->n_embd, rc;
    if (n <= 0 || n > g->n_ubatch) return err_set(err, LATTE_E_ARG, "micro-batch of %d tokens (limit %d)", n, g->n_ubatch);
    if (g->kv.n_past + n > g->kv.n_ctx)
        return err_set(err, LATTE_E_CTX, "context is full: %d tokens past + %d new exceed the context size %d (-c)",
                       g->kv.n_past, n, g->kv.n_ctx);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab)
            return err_set(err, LATTE_E_ARG, "token id %d is outside the vocabulary [0, %d)", tokens[i], hp->n_vocab);
    /* embed */
    if ((rc = op->get_rows(be, w->tok_embd, tokens, n, s->x)))
        return err_set(err, rc, "embedding lookup failed");
    for (int il = 0; il < hp->n_layer; il++) {
        const layer_weights *L = &w->layers[il];
        /* attention block */
        op->rms_norm(be, s->x, D, (const float *)L->attn_norm->data, n, D, hp->rms_eps, s->xn, D);
        if ((rc = graph_attention(g, il, n, err))) return rc;
        op->add(be, s->x, s->attn_out, s->x, (int64_t)n * D);
        /* feed-forward block */
        op->rms_norm(be, s->x, D, (const float *)L->ffn_norm->data, n, D, hp->rms_eps, s->xn, D);
        if ((rc = graph_ffn(g, il, n, err))) return rc;
        op->add(be, s->x, s->attn_out, s->x, (int64_t)n * D);
    }
    g->kv.n_past += n;
    /* output: only the rows asked for */
    int first = all_logits ? 0 : n - 1, rows = n - first;
    op->rms_norm(be, s->x + (size_t)first * D, D, (const float *)w->output_norm->data, rows, D, hp->rms_eps, s->xn, D);
    if ((rc = op->matmul(be, w->output, 0, hp->n_vocab, s->xn, rows, logits, hp->n_vocab)))
        return err_set(err, rc, "output projection failed");
    return 0;
}
