/* attention.c: the attention block of one layer, for s->xn -> s->attn_out, over the runs of
 * a micro-batch. Standard attention (llama, qwen2) and DeepSeek's MLA. MLA mode 0 expands
 * the latent into per-head K/V and caches those; modes 1-3 cache only the normalised latent
 * and the roped k_pe, absorb W_kb into the query and apply W_vb after attention, each as one
 * product over all heads (DESIGN.md). */
#include <string.h>

#include "graph.h"

#define F sizeof(float)

/* y = W x (+ bias) for n tokens, full W */
static int linear(graph_ctx *g, const lt_tensor *W, const lt_tensor *bias, const float *x, int n, float *y) {
    int rc = g->be->ops->matmul(g->be, W, 0, W->ne[1], x, n, y, W->ne[1]);
    if (!rc && bias) rc = g->be->ops->add_bias(g->be, y, bias, n, (int)W->ne[1]);
    return rc;
}

/* Block length of the Hadamard rotation over vectors of w: the largest power of two dividing
 * w, at most cap (a head's 128 dims, a 512 latent, 64 rope dims; 64 of DeepSeek's 192) */
static int had_len(int64_t w, int cap) {
    int l = 1;
    while (l < cap && w % (2 * l) == 0) l *= 2;
    return l;
}

int graph_set_k_hadamard(graph_ctx *g, bool on, latte_err *err) {
    for (int d = 0; on && d < GRAPH_MAX_DEVICES; d++)
        if (g->dev[d].be && !g->dev[d].be->ops->hadamard)
            return err_set(err, LATTE_E_UNSUPPORTED, "--k-cache-hadamard: the %s backend has no Hadamard rotation",
                           g->dev[d].be->ops->name);
    g->k_hadamard = on;
    return 0;
}

/* Writes s->k, s->v (n tokens of hk heads) into layer il's cache and attends over it:
 * s->o = attention(q, cache) */
static int attend_std(graph_ctx *g, int il, const graph_batch *b, float *q, int h, int hk, int dk, int dv,
                      latte_err *err) {
    const backend_ops *op = g->be->ops;
    graph_scratch *s = g->s;
    int rc;
    if (g->k_hadamard) { /* each head's key and query, the same way */
        int len = had_len(dk, 128);
        if ((rc = op->hadamard(g->be, s->k, (int64_t)hk * dk, b->n, (int64_t)hk * dk, len)) ||
            (rc = op->hadamard(g->be, q, (int64_t)h * dk, b->n, (int64_t)h * dk, len)))
            return err_set(err, rc, "layer %d: Hadamard rotation failed", il);
    }
    if ((rc = op->cache_write(g->be, g->kv.k[il], g->kv.type_k, 0, false, b->kv_rows, s->k, b->n, hk * dk)) ||
        (rc = op->cache_write(g->be, g->kv.v[il], g->kv.type_v, 0, false, b->kv_rows, s->v, b->n, hk * dv)))
        return err_set(err, rc, "layer %d: cache write failed", il);
    attn_std_args a = {.runs = b->runs, .n_runs = b->n_runs, .n_head = h, .n_head_kv = hk, .d_k = dk, .d_v = dv,
                       .scale = g->kq_scale, .q = q, .k_cache = g->kv.k[il], .v_cache = g->kv.v[il],
                       .k_type = g->kv.type_k, .v_type = g->kv.type_v, .flash = g->flash, .out = s->o};
    rc = op->attn_std(g->be, &a);
    return rc ? err_set(err, rc, "layer %d: attention failed", il) : 0;
}

static int attn_standard(graph_ctx *g, int il, const graph_batch *b, latte_err *err) {
    const model_hparams *hp = g->hp;
    const layer_weights *L = &g->w->layers[il];
    const backend_ops *op = g->be->ops;
    graph_scratch *s = g->s;
    int H = hp->n_head, Hk = hp->n_head_kv, dk = hp->n_embd_head_k, dv = hp->n_embd_head_v, n = b->n;
    int rc;
    if ((rc = linear(g, L->wq, L->bq, s->xn, n, s->q)) || (rc = linear(g, L->wk, L->bk, s->xn, n, s->k)) ||
        (rc = linear(g, L->wv, L->bv, s->xn, n, s->v)))
        return err_set(err, rc, "layer %d: attention projection failed", il);
    if ((rc = op->rope(g->be, s->q, n, H, (int64_t)H * dk, dk, b->pos, &g->rope)) ||
        (rc = op->rope(g->be, s->k, n, Hk, (int64_t)Hk * dk, dk, b->pos, &g->rope)))
        return err_set(err, rc, "layer %d: rope failed", il);
    if ((rc = attend_std(g, il, b, s->q, H, Hk, dk, dv, err))) return rc;
    if ((rc = linear(g, L->wo, NULL, s->o, n, s->attn_out)))
        return err_set(err, rc, "layer %d: attention output failed", il);
    return 0;
}

/* MLA mode 0: per-head K = [W_kb,h c, k_pe], V = W_vb,h c, then standard attention */
static int mla_expand(graph_ctx *g, int il, const graph_batch *b, float *q, latte_err *err) {
    const model_hparams *hp = g->hp;
    const layer_weights *L = &g->w->layers[il];
    const backend_ops *op = g->be->ops;
    graph_scratch *s = g->s;
    int H = hp->n_head, r = hp->kv_lora_rank, dn = hp->d_nope, dr = hp->n_rot_mla, dv = hp->d_v, n = b->n;
    size_t kw = (size_t)(dn + dr), kvw = (size_t)(dn + dv);
    /* [k_nope_h, v_h] = W_kvb,h c for every head at once (c: the first r of each latent row) */
    int rc = op->matmul_heads(g->be, L->kvb.t, 1, (int64_t)H * (dn + dv), 0, (int64_t)H * (dn + dv), s->lat, r + dr, 0,
                              n, s->kvb_out, (int64_t)H * (dn + dv), 0);
    if (rc) return err_set(err, rc, "layer %d: kv_b projection failed", il);
    /* K rows [n*H][dn | dr] and V rows [n*H][dv] from the expansion and the shared k_pe */
    if ((rc = op->copy_2d(g->be, s->k, kw * F, s->kvb_out, kvw * F, (size_t)dn * F, (int64_t)n * H)) ||
        (rc = op->copy_2d(g->be, s->v, (size_t)dv * F, s->kvb_out + dn, kvw * F, (size_t)dv * F, (int64_t)n * H)))
        return err_set(err, rc, "layer %d: K/V assembly failed", il);
    for (int h = 0; h < H && !rc; h++)
        rc = op->copy_2d(g->be, s->k + (size_t)h * kw + dn, (size_t)H * kw * F, s->lat + r, (size_t)(r + dr) * F,
                         (size_t)dr * F, n);
    if (rc) return err_set(err, rc, "layer %d: K/V assembly failed", il);
    return attend_std(g, il, b, q, H, H, dn + dr, dv, err);
}

/* MLA modes 1-3: attention in latent space over the cached [c, k_pe] rows */
static int mla_latent(graph_ctx *g, int il, const graph_batch *b, const float *q, latte_err *err) {
    const model_hparams *hp = g->hp;
    const layer_weights *L = &g->w->layers[il];
    const backend_ops *op = g->be->ops;
    graph_scratch *s = g->s;
    int H = hp->n_head, r = hp->kv_lora_rank, dn = hp->d_nope, dr = hp->n_rot_mla, dv = hp->d_v, n = b->n, rc;
    int lc = had_len(r, 512), lr = had_len(dr, 512);
    /* --k-cache-hadamard: c and k_pe rotated in the cache; c is also the value, so the
     * attention output comes back rotated and is turned back below */
    if (g->k_hadamard && ((rc = op->hadamard(g->be, s->lat, r + dr, n, r, lc)) ||
                          (rc = op->hadamard(g->be, s->lat + r, r + dr, n, dr, lr))))
        return err_set(err, rc, "layer %d: Hadamard rotation failed", il);
    rc = op->cache_write(g->be, g->kv.k[il], g->kv.type_k, 0, false, b->kv_rows, s->lat, n, r + dr);
    if (!rc && g->kv.transposed) { /* the first r of each latent row, transposed */
        if (!(rc = op->copy_2d(g->be, s->o_lat, (size_t)r * F, s->lat, (size_t)(r + dr) * F, (size_t)r * F, n)))
            rc = op->cache_write(g->be, g->kv.v[il], g->kv.type_v, g->kv.n_rows, true, b->kv_rows, s->o_lat, n, r);
    }
    if (rc) return err_set(err, rc, "layer %d: cache write failed", il);
    /* q_lat_h = W_kb,h q_nope_h for every head in one call; q_pe gathered per head */
    rc = op->matmul_heads(g->be, L->kb.t, H, L->kb.head_rows, L->kb.row_off, r, q, (int64_t)H * (dn + dr), dn + dr, n,
                          s->q_lat, (int64_t)H * r, r);
    if (rc) return err_set(err, rc, "layer %d: k_b absorption failed", il);
    if ((rc = op->copy_2d(g->be, s->q_pe, (size_t)dr * F, q + dn, (size_t)(dn + dr) * F, (size_t)dr * F, (int64_t)n * H)))
        return err_set(err, rc, "layer %d: q_pe gather failed", il);
    if (g->k_hadamard && ((rc = op->hadamard(g->be, s->q_lat, r, (int64_t)n * H, r, lc)) ||
                          (rc = op->hadamard(g->be, s->q_pe, dr, (int64_t)n * H, dr, lr))))
        return err_set(err, rc, "layer %d: Hadamard rotation failed", il);
    attn_latent_args a = {.runs = b->runs, .n_runs = b->n_runs, .n_head = H, .r = r, .d_rope = dr,
                          .scale = g->kq_scale, .mode = g->mla_mode, .flash = g->flash, .q_lat = s->q_lat,
                          .q_pe = s->q_pe, .kv_cache = g->kv.k[il], .ct_cache = g->kv.v[il], .ct_ld = g->kv.n_rows,
                          .kv_type = g->kv.type_k, .ct_type = g->kv.type_v, .out = s->o_lat};
    if ((rc = op->attn_latent(g->be, &a))) return err_set(err, rc, "layer %d: latent attention failed", il);
    if (g->k_hadamard && (rc = op->hadamard(g->be, s->o_lat, r, (int64_t)n * H, r, lc)))
        return err_set(err, rc, "layer %d: Hadamard rotation failed", il);
    /* o_h = W_vb,h o_lat_h for every head in one call */
    rc = op->matmul_heads(g->be, L->vb.t, H, L->vb.head_rows, L->vb.row_off, dv, s->o_lat, (int64_t)H * r, r, n, s->o,
                          (int64_t)H * dv, dv);
    return rc ? err_set(err, rc, "layer %d: v_b projection failed", il) : 0;
}

static int attn_mla(graph_ctx *g, int il, const graph_batch *b, latte_err *err) {
    const model_hparams *hp = g->hp;
    const layer_weights *L = &g->w->layers[il];
    const backend_ops *op = g->be->ops;
    graph_scratch *s = g->s;
    int H = hp->n_head, r = hp->kv_lora_rank, dn = hp->d_nope, dr = hp->n_rot_mla, n = b->n, rc;
    /* query: plain or through the q LoRA */
    if (L->wq_a) {
        if ((rc = linear(g, L->wq_a, NULL, s->xn, n, s->qa)) ||
            (rc = op->rms_norm(g->be, s->qa, hp->q_lora_rank, L->q_a_norm, n, hp->q_lora_rank, hp->rms_eps, s->qa,
                               hp->q_lora_rank)))
            return err_set(err, rc, "layer %d: q_a failed", il);
        rc = linear(g, L->wq_b, NULL, s->qa, n, s->q);
    } else {
        rc = linear(g, L->wq, NULL, s->xn, n, s->q);
    }
    if (rc) return err_set(err, rc, "layer %d: query projection failed", il);
    /* latent: [c_raw, k_pe] -> [rmsnorm(c_raw), rope(k_pe)] */
    if ((rc = linear(g, L->wkv_a_mqa, NULL, s->xn, n, s->kva)) ||
        (rc = op->rms_norm(g->be, s->kva, r + dr, L->kv_a_norm, n, r, hp->rms_eps, s->lat, r + dr)) ||
        (rc = op->copy_2d(g->be, s->lat + r, (size_t)(r + dr) * F, s->kva + r, (size_t)(r + dr) * F, (size_t)dr * F, n)) ||
        (rc = op->rope(g->be, s->lat + r, n, 1, r + dr, 0, b->pos, &g->rope)) ||
        (rc = op->rope(g->be, s->q + dn, n, H, (int64_t)H * (dn + dr), dn + dr, b->pos, &g->rope)))
        return err_set(err, rc, "layer %d: latent projection failed", il);
    rc = g->mla_mode == 0 ? mla_expand(g, il, b, s->q, err) : mla_latent(g, il, b, s->q, err);
    if (rc) return rc;
    if ((rc = linear(g, L->wo, NULL, s->o, n, s->attn_out)))
        return err_set(err, rc, "layer %d: attention output failed", il);
    return 0;
}

int graph_attention(graph_ctx *g, int il, const graph_batch *b, latte_err *err) {
    return g->hp->has_mla ? attn_mla(g, il, b, err) : attn_standard(g, il, b, err);
}
