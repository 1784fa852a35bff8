/* weights.c: binding tensors by name ("blk.N.attn_q.weight") and checking their shapes.
 * Which MLA layout a file uses is read from which tensors exist, never from counts.
 * Derived MLA matrices are built once from the file's tensors (weights_derive_mla), in the
 * source's float type or f16, never per context. */
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../quant/quant.h"

typedef struct binder {
    const gguf_file *gf;
    model_weights *w;
    bool (*supports)(uint32_t);
    latte_err *err;
} binder;

static const lt_tensor *find(const binder *b, const char *name) {
    for (size_t i = 0; i < b->w->n_tensors; i++)
        if (strcmp(b->w->tensors[i].name, name) == 0) return &b->w->tensors[i];
    return NULL;
}

/* Looks up a tensor and checks its shape: dims given as ne0, ne1, ne2 (0 = must be 1).
 * Returns 0 and sets *out (NULL when optional and absent). */
static int bind(const binder *b, const lt_tensor **out, bool required, int64_t ne0, int64_t ne1, int64_t ne2,
                const char *fmt, int layer) {
    char name[96];
    snprintf(name, sizeof name, fmt, layer);
    const lt_tensor *t = find(b, name);
    *out = t;
    if (!t) return required ? err_set(b->err, LATTE_E_MISSING, "model is missing tensor '%s'", name) : 0;
    int64_t want[4] = {ne0, ne1 ? ne1 : 1, ne2 ? ne2 : 1, 1};
    if (t->ne[0] != want[0] || t->ne[1] != want[1] || t->ne[2] != want[2] || t->ne[3] != 1)
        return err_set(b->err, LATTE_E_FORMAT,
                       "tensor '%s' has shape {%lld, %lld, %lld, %lld}, expected {%lld, %lld, %lld, 1}", name,
                       (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                       (long long)want[0], (long long)want[1], (long long)want[2]);
    /* 1-D tensors (norms, biases) are read as f32 directly */
    if (ne1 == 0 && t->type != QT_F32)
        return err_set(b->err, LATTE_E_UNSUPPORTED, "tensor '%s' has type %s; norms and biases must be f32", name,
                       quant_type_info_get(t->type)->name);
    if (ne1 != 0 && !b->supports(t->type))
        return err_set(b->err, LATTE_E_UNSUPPORTED, "tensor '%s' has type %s, which this backend cannot multiply",
                       name, quant_type_info_get(t->type)->name);
    return 0;
}

#define BIND(ptr, req, a, b_, c, fmt) \
    do { if ((rc = bind(b, &(ptr), req, a, b_, c, fmt, il))) return rc; } while (0)

static int bind_std_attn(const binder *b, const model_hparams *hp, layer_weights *L, int il) {
    int rc;
    int64_t dq = (int64_t)hp->n_head * hp->n_embd_head_k, dk = (int64_t)hp->n_head_kv * hp->n_embd_head_k,
            dv = (int64_t)hp->n_head_kv * hp->n_embd_head_v;
    bool bias = hp->arch == ARCH_QWEN2;
    BIND(L->wq, true, hp->n_embd, dq, 0, "blk.%d.attn_q.weight");
    BIND(L->wk, true, hp->n_embd, dk, 0, "blk.%d.attn_k.weight");
    BIND(L->wv, true, hp->n_embd, dv, 0, "blk.%d.attn_v.weight");
    BIND(L->bq, bias, dq, 0, 0, "blk.%d.attn_q.bias");
    BIND(L->bk, bias, dk, 0, 0, "blk.%d.attn_k.bias");
    BIND(L->bv, bias, dv, 0, 0, "blk.%d.attn_v.bias");
    BIND(L->wo, true, (int64_t)hp->n_head * hp->n_embd_head_v, hp->n_embd, 0, "blk.%d.attn_output.weight");
    return 0;
}

static int bind_mla(const binder *b, const model_hparams *hp, layer_weights *L, int il, mla_layout *layout) {
    int rc;
    int64_t H = hp->n_head, r = hp->kv_lora_rank, dn = hp->d_nope, dv = hp->d_v, dr = hp->n_rot_mla;
    if (hp->q_lora_rank > 0) {
        BIND(L->wq_a, true, hp->n_embd, hp->q_lora_rank, 0, "blk.%d.attn_q_a.weight");
        BIND(L->q_a_norm, true, hp->q_lora_rank, 0, 0, "blk.%d.attn_q_a_norm.weight");
        BIND(L->wq_b, true, hp->q_lora_rank, H * (dn + dr), 0, "blk.%d.attn_q_b.weight");
    } else {
        BIND(L->wq, true, hp->n_embd, H * (dn + dr), 0, "blk.%d.attn_q.weight");
    }
    BIND(L->wkv_a_mqa, true, hp->n_embd, r + dr, 0, "blk.%d.attn_kv_a_mqa.weight");
    BIND(L->kv_a_norm, true, r, 0, 0, "blk.%d.attn_kv_a_norm.weight");
    BIND(L->wo, true, H * dv, hp->n_embd, 0, "blk.%d.attn_output.weight");
    BIND(L->wkv_b, false, r, H * (dn + dv), 0, "blk.%d.attn_kv_b.weight");
    char name[96];
    snprintf(name, sizeof name, "blk.%d.attn_k_b.weight", il);
    const lt_tensor *kb = find(b, name);
    bool kb3 = kb && kb->ne[2] > 1;
    if (kb3) {
        BIND(L->kb.t, true, dn, r, H, "blk.%d.attn_k_b.weight");
        BIND(L->vb.t, true, r, dv, H, "blk.%d.attn_v_b.weight");
    } else if (kb) {
        BIND(L->kb.t, true, dn, r * H, 0, "blk.%d.attn_k_b.weight");
        BIND(L->vb.t, true, r, dv * H, 0, "blk.%d.attn_v_b.weight");
    }
    mla_layout lay;
    if (L->kb.t) {
        L->kb.head_rows = r, L->kb.row_off = 0, L->kb.rows = r;
        L->vb.head_rows = dv, L->vb.row_off = 0, L->vb.rows = dv;
        lay = L->wkv_b ? MLA_LAYOUT_KVB_KB_VB : MLA_LAYOUT_KB_VB_3D;
    } else if (L->wkv_b) {
        lay = MLA_LAYOUT_KVB;
        /* v_b is a row range of kv_b; k_b needs a transpose (derived later) */
        L->vb = (mla_mat){L->wkv_b, dn + dv, dn, dv};
    } else {
        return err_set(b->err, LATTE_E_MISSING, "layer %d has neither attn_kv_b nor attn_k_b/attn_v_b", il);
    }
    if (L->wkv_b) L->kvb = (mla_mat){L->wkv_b, dn + dv, 0, dn + dv};
    if (il > 0 && lay != *layout)
        return err_set(b->err, LATTE_E_FORMAT, "layer %d uses a different MLA tensor layout than layer 0", il);
    *layout = lay;
    return 0;
}

static int bind_ffn(const binder *b, const model_hparams *hp, layer_weights *L, int il) {
    int rc;
    bool moe = hp->arch == ARCH_DEEPSEEK2 && hp->n_expert > 0 && il >= hp->n_layer_dense_lead;
    L->is_moe = moe;
    if (!moe) {
        if (hp->n_ff <= 0) return err_set(b->err, LATTE_E_MISSING, "missing %s.feed_forward_length", hp->arch_name);
        BIND(L->ffn_gate, true, hp->n_embd, hp->n_ff, 0, "blk.%d.ffn_gate.weight");
        BIND(L->ffn_up, true, hp->n_embd, hp->n_ff, 0, "blk.%d.ffn_up.weight");
        BIND(L->ffn_down, true, hp->n_ff, hp->n_embd, 0, "blk.%d.ffn_down.weight");
        return 0;
    }
    int64_t E = hp->n_expert, F = hp->n_ff_exp, D = hp->n_embd;
    BIND(L->gate_inp, true, D, E, 0, "blk.%d.ffn_gate_inp.weight");
    BIND(L->exp_probs_b, false, E, 0, 0, "blk.%d.exp_probs_b.bias");
    BIND(L->gate_exps, true, D, F, E, "blk.%d.ffn_gate_exps.weight");
    BIND(L->up_exps, true, D, F, E, "blk.%d.ffn_up_exps.weight");
    BIND(L->down_exps, true, F, D, E, "blk.%d.ffn_down_exps.weight");
    if (hp->n_expert_shared > 0) {
        int64_t FS = F * hp->n_expert_shared;
        BIND(L->gate_shexp, true, D, FS, 0, "blk.%d.ffn_gate_shexp.weight");
        BIND(L->up_shexp, true, D, FS, 0, "blk.%d.ffn_up_shexp.weight");
        BIND(L->down_shexp, true, FS, D, 0, "blk.%d.ffn_down_shexp.weight");
    }
    return 0;
}

/* An interleaved tensor as its plain type: rows stay rows, bytes per row stay the same. */
static int repack(model_weights *w, lt_tensor *t, const gguf_tensor *g, latte_err *err) {
    const quant_type_info *ti = quant_type_info_get(g->type);
    int64_t rows = (int64_t)(g->n_elems / (uint64_t)g->ne[0]);
    if (rows % ti->row_interleave != 0)
        return err_set(err, LATTE_E_FORMAT, "tensor '%s' of type %s has %lld rows, not a multiple of %u", t->name,
                       ti->name, (long long)rows, ti->row_interleave);
    void **nr = realloc(w->repacked, (w->n_repacked + 1) * sizeof *nr), *buf = NULL;
    if (!nr || posix_memalign(&buf, 64, g->n_bytes ? g->n_bytes : 64)) {
        if (nr) w->repacked = nr;
        return err_set(err, LATTE_E_NOMEM, "out of memory repacking tensor '%s' (%llu bytes)", t->name,
                       (unsigned long long)g->n_bytes);
    }
    w->repacked = nr;
    w->repacked[w->n_repacked++] = buf;
    if (quant_repack_plain(g->type, g->data, buf, rows, g->ne[0]))
        return err_set(err, LATTE_E_FORMAT, "tensor '%s': cannot repack type %s", t->name, ti->name);
    t->type = (uint32_t)quant_plain_type(g->type);
    t->row_bytes = quant_row_bytes(t->type, g->ne[0]);
    t->data = buf;
    return 0;
}

int weights_bind(model_weights *w, const gguf_file *gf, const model_hparams *hp, bool (*supports)(uint32_t),
                 latte_err *err) {
    int rc;
    memset(w, 0, sizeof *w);
    w->tensors = calloc(gf->n_tensors ? gf->n_tensors : 1, sizeof *w->tensors);
    w->layers = calloc((size_t)hp->n_layer, sizeof *w->layers);
    if (!w->tensors || !w->layers) return err_set(err, LATTE_E_NOMEM, "out of memory binding tensors");
    for (uint64_t i = 0; i < gf->n_tensors; i++) {
        const gguf_tensor *g = &gf->tensors[i];
        lt_tensor *t = &w->tensors[i];
        char *name = malloc(g->name.len + 1);
        if (!name) return err_set(err, LATTE_E_NOMEM, "out of memory binding tensors");
        memcpy(name, g->name.ptr, g->name.len);
        name[g->name.len] = 0;
        t->name = name;
        t->type = g->type;
        for (int d = 0; d < 4; d++) t->ne[d] = g->ne[d];
        t->row_bytes = quant_row_bytes(g->type, g->ne[0]);
        t->data = g->data;
        w->bytes += g->n_bytes;
        w->n_tensors++;
        if (quant_plain_type(g->type) >= 0 && (rc = repack(w, t, g, err))) return rc;
    }
    binder bb = {gf, w, supports, err}, *b = &bb;
    int il = 0;
    if ((rc = bind(b, &w->tok_embd, true, hp->n_embd, hp->n_vocab, 0, "token_embd.weight", 0))) return rc;
    if ((rc = bind(b, &w->output_norm, true, hp->n_embd, 0, 0, "output_norm.weight", 0))) return rc;
    if ((rc = bind(b, &w->output, false, hp->n_embd, hp->n_vocab, 0, "output.weight", 0))) return rc;
    if (!w->output) w->output = w->tok_embd; /* tied embedding (SmolLM2) */
    if ((rc = bind(b, &w->rope_freqs, false, hp->rope.n_rot / 2, 0, 0, "rope_freqs.weight", 0))) return rc;
    for (il = 0; il < hp->n_layer; il++) {
        layer_weights *L = &w->layers[il];
        BIND(L->attn_norm, true, hp->n_embd, 0, 0, "blk.%d.attn_norm.weight");
        BIND(L->ffn_norm, true, hp->n_embd, 0, 0, "blk.%d.ffn_norm.weight");
        rc = hp->has_mla ? bind_mla(b, hp, L, il, &w->layout) : bind_std_attn(b, hp, L, il);
        if (rc) return rc;
        if ((rc = bind_ffn(b, hp, L, il))) return rc;
    }
    return 0;
}

/* An owned tensor of rows x cols in type t. */
static lt_tensor *new_derived(model_weights *w, const char *name, uint32_t t, int64_t cols, int64_t rows,
                              latte_err *err) {
    lt_tensor **nt = realloc(w->derived, (w->n_derived + 1) * sizeof *nt);
    if (nt) w->derived = nt;
    size_t rb = quant_row_bytes(t, cols);
    lt_tensor *dt = nt ? malloc(sizeof *dt) : NULL;
    void *data = dt ? malloc(rb * (size_t)rows) : NULL;
    if (!data) {
        free(dt);
        err_set(err, LATTE_E_NOMEM, "out of memory deriving %s", name);
        return NULL;
    }
    w->derived[w->n_derived++] = dt;
    *dt = (lt_tensor){.name = name, .type = t, .ne = {cols, rows, 1, 1}, .row_bytes = rb, .data = data};
    return dt;
}

static void row_f32(const lt_tensor *t, int64_t row, float *out) {
    quant_dequant_row(t->type, (const char *)t->data + (size_t)row * t->row_bytes, out, t->ne[0]);
}

/* Derived matrices keep the source's precision where it is a float type and are f16 for
 * quantized sources (a transpose cannot keep a block format): built once, at load. */
static uint32_t derived_type(uint32_t src) { return src == QT_F32 || src == QT_BF16 ? src : QT_F16; }

int weights_derive_mla(model_weights *w, const model_hparams *hp, bool need_kvb, latte_err *err) {
    int64_t H = hp->n_head, r = hp->kv_lora_rank, dn = hp->d_nope, dv = hp->d_v;
    int64_t wmax = r > dn ? r : dn;
    float *row = malloc((size_t)(wmax + r * dn) * sizeof(float));
    if (!row) return err_set(err, LATTE_E_NOMEM, "out of memory deriving MLA matrices");
    float *blk = row + wmax; /* one head's k_b, [r][dn] */
    int rc = 0;
    for (int il = 0; il < hp->n_layer && !rc; il++) {
        layer_weights *L = &w->layers[il];
        if (!L->kb.t) { /* k_b_h[c][j] = kv_b[h*(dn+dv) + j][c] */
            uint32_t t = derived_type(L->wkv_b->type);
            lt_tensor *d = new_derived(w, "derived.attn_k_b", t, dn, r * H, err);
            if (!d) { rc = LATTE_E_NOMEM; break; }
            for (int64_t h = 0; h < H; h++) {
                for (int64_t j = 0; j < dn; j++) {
                    row_f32(L->wkv_b, h * (dn + dv) + j, row);
                    for (int64_t c = 0; c < r; c++) blk[c * dn + j] = row[c];
                }
                for (int64_t c = 0; c < r; c++)
                    quant_quant_row(t, blk + c * dn, (char *)d->data + (size_t)(h * r + c) * d->row_bytes, dn);
            }
            d->dev = L->wkv_b->dev;
            L->kb = (mla_mat){d, r, 0, r};
        }
        if (need_kvb && !L->kvb.t) { /* kv_b rows: k_nope rows (transposed k_b) then v_b rows */
            uint32_t t = derived_type(L->kb.t->type);
            lt_tensor *d = new_derived(w, "derived.attn_kv_b", t, r, H * (dn + dv), err);
            if (!d) { rc = LATTE_E_NOMEM; break; }
            for (int64_t h = 0; h < H; h++) {
                for (int64_t c = 0; c < r; c++) {
                    row_f32(L->kb.t, h * L->kb.head_rows + L->kb.row_off + c, row);
                    for (int64_t j = 0; j < dn; j++) blk[j * r + c] = row[j];
                }
                for (int64_t j = 0; j < dn; j++)
                    quant_quant_row(t, blk + j * r, (char *)d->data + (size_t)(h * (dn + dv) + j) * d->row_bytes, r);
                for (int64_t i = 0; i < dv; i++) {
                    row_f32(L->vb.t, h * L->vb.head_rows + L->vb.row_off + i, row);
                    quant_quant_row(t, row, (char *)d->data + (size_t)(h * (dn + dv) + dn + i) * d->row_bytes, r);
                }
            }
            d->dev = L->kb.t->dev;
            L->kvb = (mla_mat){d, dn + dv, 0, dn + dv};
        }
    }
    free(row);
    return rc;
}

void weights_free(model_weights *w) {
    for (size_t i = 0; i < w->n_tensors; i++) free((char *)w->tensors[i].name);
    for (size_t i = 0; i < w->n_derived; i++) {
        free((void *)w->derived[i]->data);
        free(w->derived[i]);
    }
    for (size_t i = 0; i < w->n_repacked; i++) free(w->repacked[i]);
    free(w->repacked);
    free(w->tensors);
    free(w->layers);
    free(w->derived);
    memset(w, 0, sizeof *w);
}
