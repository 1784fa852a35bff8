/* attention.c: the attention block of one layer, for s->xn -> s->attn_out.
 * Standard attention (llama, qwen2) and DeepSeek's MLA. MLA mode 0 expands the latent
 * into per-head K/V and caches those; modes 1-3 cache only the normalised latent and the
 * roped k_pe, absorb W_kb into the query and apply W_vb after attention (DESIGN.md). */
#include <string.h>

#include "graph.h"

/* dst[i][0..w) = src[i*ld + off ..] for n rows: makes a strided slice contiguous */
static void gather(float *dst, const float *src, int n, int64_t ld, int64_t off, int64_t w) {
    for (int i = 0; i < n; i++) memcpy(dst + (size_t)i * w, src + (size_t)i * ld + off, sizeof(float) * w);
}

/* y = W x (+ bias) for n tokens, full W */
static int linear(graph_ctx *g, const lt_tensor *W, const lt_tensor *bias, const float *x, int n, float *y) {
    int rc = g->be->ops->matmul(g->be, W, 0, W->ne[1], x, n, y, W->ne[1]);
    if (!rc && bias) g->be->ops->add_bias(g->be, y, (const float *)bias->data, n, (int)W->ne[1]);
    return rc;
}

/* Writes s->k, s->v (n tokens of hk heads) into layer il's cache and attends over it:
 * s->o = attention(q, cache) */
static int attend_std(graph_ctx *g, int il, int n, const float *q, int h, int hk, int dk, int dv, latte_err *err) {
    const backend_ops *op = g->be->ops;
    graph_scratch *s = &g->s;
    int pos0 = g->kv.n_past;
    op->cache_write(g->be, g->kv.k[il], g->kv.type_k, 0, false, pos0, s->k, n, hk * dk);
    op->cache_write(g->be, g->kv.v[il], g->kv.type_v, 0, false, pos0, s->v, n, hk * dv);
    attn_std_args a = {.n_tok = n, .pos0 = pos0, .n_head = h, .n_head_kv = hk, .d_k = dk, .d_v = dv,
                       .scale = g->kq_scale, .q = q, .k_cache = g->kv.k[il], .v_cache = g->kv.v[il],
                       .k_type = g->kv.type_k, .v_type = g->kv.type_v, .flash = g->flash, .out = s->o};
    int rc = op->attn_std(g->be, &a);
    return rc ? err_set(err, rc, "layer %d: attention failed", il) : 0;
}

static int attn_standard(graph_ctx *g, int il, int n, latte_err *err) {
    const model_hparams *hp = g->hp;
    const layer_weights *L = &g->w->layers[il];
    const backend_ops *op = g->be->ops;
    graph_scratch *s = &g->s;
    int H = hp->n_head, Hk = hp->n_head_kv, dk = hp->n_embd_head_k, dv = hp->n_embd_head_v, pos0 = g->kv.n_past;
    int rc;
    if ((rc = linear(g, L->wq, L->bq, s->xn, n, s->q)) || (rc = linear(g, L->wk, L->bk, s->xn, n, s->k)) ||
        (rc = linear(g, L->wv, L->bv, s->xn, n, s->v)))
        return err_set(err, rc, "layer %d: attention projection failed", il);
    op->rope(g->be, s->q, n, H, (int64_t)H * dk, dk, pos0, &g->rope);
    op->rope(g->be, s->k, n, Hk, (int64_t)Hk * dk, dk, pos0, &g->rope);
    if ((rc = attend_std(g, il, n, s->q, H, Hk, dk, dv, err))) return rc;
    if ((rc = linear(g, L->wo, NULL, s->o, n, s->attn_out)))
        return err_set(err, rc, "layer %d: attention output failed", il);
    return 0;
}

/* MLA mode 0: per-head K = [W_kb,h c, k_pe], V = W_vb,h c, then standard attention */
static int mla_expand(graph_ctx *g, int il, int n, const float *q, latte_err *err) {
    const model_hparams *hp = g->hp;
    const layer_weights *L = &g->w->layers[il];
    const backend_ops *op = g->be->ops;
    graph_scratch *s = &g->s;
    int H = hp->n_head, r = hp->kv_lora_rank, dn = hp->d_nope, dr = hp->n_rot_mla, dv = hp->d_v;
    int rc;
    gather(s->gather, s->lat, n, r + dr, 0, r);
    if ((rc = op->matmul(g->be, L->kvb.t, 0, (int64_t)H * (dn + dv), s->gather, n, s->kvb_out, (int64_t)H * (dn + dv))))
        return err_set(err, rc, "layer %d: kv_b projection failed", il);
    for (int i = 0; i < n; i++)
        for (int h = 0; h < H; h++) {
            const float *kv = s->kvb_out + ((size_t)i * H + h) * (dn + dv);
            float *k = s->k + ((size_t)i * H + h) * (dn + dr);
            memcpy(k, kv, sizeof(float) * dn);
            memcpy(k + dn, s->lat + (size_t)i * (r + dr) + r, sizeof(float) * dr);
            memcpy(s->v + ((size_t)i * H + h) * dv, kv + dn, sizeof(float) * dv);
        }
    return attend_std(g, il, n, q, H, H, dn + dr, dv, err);
}

/* MLA modes 1-3: attention in latent space over the cached [c, k_pe] rows */
static int mla_latent(graph_ctx *g, int il, int n, const float *q, latte_err *err) {
    const model_hparams *hp = g->hp;
    const layer_weights *L = &g->w->layers[il];
    const backend_ops *op = g->be->ops;
    graph_scratch *s = &g->s;
    int H = hp->n_head, r = hp->kv_lora_rank, dn = hp->d_nope, dr = hp->n_rot_mla, dv = hp->d_v;
    int pos0 = g->kv.n_past, rc;
    op->cache_write(g->be, g->kv.k[il], g->kv.type_k, 0, false, pos0, s->lat, n, r + dr);
    if (g->kv.transposed) {
        gather(s->gather, s->lat, n, r + dr, 0, r);
        op->cache_write(g->be, g->kv.v[il], g->kv.type_v, g->kv.n_ctx, true, pos0, s->gather, n, r);
    }
    for (int h = 0; h < H; h++) { /* q_lat_h = W_kb,h q_nope_h ; q_pe gathered per head */
        gather(s->gather, q, n, (int64_t)H * (dn + dr), (int64_t)h * (dn + dr), dn);
        rc = op->matmul(g->be, L->kb.t, h * L->kb.head_rows + L->kb.row_off, r, s->gather, n, s->q_lat + (size_t)h * r,
                        (int64_t)H * r);
        if (rc) return err_set(err, rc, "layer %d: k_b absorption failed", il);
    }
    for (int i = 0; i < n; i++)
        for (int h = 0; h < H; h++)
            memcpy(s->q_pe + ((size_t)i * H + h) * dr, q + ((size_t)i * H + h) * (dn + dr) + dn, sizeof(float) * dr);
    attn_latent_args a = {.n_tok = n, .pos0 = pos0, .n_head = H, .r = r, .d_rope = dr, .scale = g->kq_scale,
                          .mode = g->mla_mode, .flash = g->flash, .q_lat = s->q_lat, .q_pe = s->q_pe,
                          .kv_cache = g->kv.k[il], .ct_cache = g->kv.v[il], .n_ctx = g->kv.n_ctx,
                          .kv_type = g->kv.type_k, .ct_type = g->kv.type_v, .out = s->o_lat};
    if ((rc = op->attn_latent(g->be, &a))) return err_set(err, rc, "layer %d: latent attention failed", il);
    for (int h = 0; h < H; h++) { /* o_h = W_vb,h o_lat_h */
        gather(s->gather, s->o_lat, n, (int64_t)H * r, (int64_t)h * r, r);
        rc = op->matmul(g->be, L->vb.t, h * L->vb.head_rows + L->vb.row_off, dv, s->gather, n, s->o + (size_t)h * dv,
                        (int64_t)H * dv);
        if (rc) return err_set(err, rc, "layer %d: v_b projection failed", il);
    }
    return 0;
}

static int attn_mla(graph_ctx *g, int il, int n, latte_err *err) {
    const model_hparams *hp = g->hp;
    const layer_weights *L = &g->w->layers[il];
    const backend_ops *op = g->be->ops;
    graph_scratch *s = &g->s;
    int H = hp->n_head, r = hp->kv_lora_rank, dn = hp->d_nope, dr = hp->n_rot_mla, rc;
    int pos0 = g->kv.n_past;
    /* query: plain or through the q LoRA */
    if (L->wq_a) {
        if ((rc = linear(g, L->wq_a, NULL, s->xn, n, s->qa))) return err_set(err, rc, "layer %d: q_a failed", il);
        op->rms_norm(g->be, s->qa, hp->q_lora_rank, (const float *)L->q_a_norm->data, n, hp->q_lora_rank, hp->rms_eps,
                     s->qa, hp->q_lora_rank);
        rc = linear(g, L->wq_b, NULL, s->qa, n, s->q);
    } else {
        rc = linear(g, L->wq, NULL, s->xn, n, s->q);
    }
    if (rc) return err_set(err, rc, "layer %d: query projection failed", il);
    /* latent: [c_raw, k_pe] -> [rmsnorm(c_raw), rope(k_pe)] */
    if ((rc = linear(g, L->wkv_a_mqa, NULL, s->xn, n, s->kva))) return err_set(err, rc, "layer %d: kv_a failed", il);
    op->rms_norm(g->be, s->kva, r + dr, (const float *)L->kv_a_norm->data, n, r, hp->rms_eps, s->lat, r + dr);
    for (int i = 0; i < n; i++)
        memcpy(s->lat + (size_t)i * (r + dr) + r, s->kva + (size_t)i * (r + dr) + r, sizeof(float) * dr);
    op->rope(g->be, s->lat + r, n, 1, r + dr, 0, pos0, &g->rope);
    op->rope(g->be, s->q + dn, n, H, (int64_t)H * (dn + dr), dn + dr, pos0, &g->rope);
    rc = g->mla_mode == 0 ? mla_expand(g, il, n, s->q, err) : mla_latent(g, il, n, s->q, err);
    if (rc) return rc;
    if ((rc = linear(g, L->wo, NULL, s->o, n, s->attn_out)))
        return err_set(err, rc, "layer %d: attention output failed", il);
    return 0;
}

int graph_attention(graph_ctx *g, int il, int n, latte_err *err) {
    return g->hp->has_mla ? attn_mla(g, il, n, err) : attn_standard(g, il, n, err);
}
