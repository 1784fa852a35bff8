/* synth.c: `latte synth`: a GGUF file in the exact shape and metadata of a real model
 * (synth_models.c) with random weights, streamed to disk tensor by tensor.
 * Weights are uniform with a standard deviation of 1/sqrt(fan-in) (embeddings 1, norms 1),
 * so every matmul keeps activations of order 1 and the forward pass stays finite at any
 * depth. Every value is a pure function of (seed, tensor name, element index), so the
 * same seed gives the same model for every type and thread count, and the MLA matrices
 * attn_k_b / attn_v_b hold exactly the values of attn_kv_b they are cut from. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../quant/quant.h"
#include "../quant/quantize.h"
#include "synth_models.h"
#include "tools.h"

typedef enum { FILL_RANDOM, FILL_ONES, FILL_KB, FILL_VB } fill_kind;

typedef struct stensor {
    char name[64];
    uint32_t n_dims, type;
    int64_t ne[3];
    fill_kind fill;
    float std;
    char src[64];      /* FILL_KB / FILL_VB: the attn_kv_b whose values they hold */
    uint64_t key;      /* the random stream: of name, or of src when set */
} stensor;

typedef struct synth {
    const synth_model *m;
    int n_layer, n_dense;
    bool mainline;     /* mainline llama.cpp's MLA layout (3-D attn_k_b / attn_v_b, no attn_kv_b) */
    uint32_t type;
    stensor *t;
    int n_t, cap;
    latte_err *err;
} synth;

static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t name_key(uint64_t seed, const char *name) {
    uint64_t h = 1469598103934665603ull ^ mix64(seed);
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return mix64(h);
}

/* element i of a stream: uniform on [-sqrt(3), sqrt(3)) (variance 1) */
static float unit(uint64_t key, uint64_t i) {
    return (float)((double)(mix64(key ^ (i * 0xd1b54a32d192ed03ull)) >> 11) * (3.4641016151377544 / 9007199254740992.0) - 1.7320508075688772);
}

static int add(synth *s, const char *fmt, int il, uint32_t n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
               uint32_t type, fill_kind fill, float std) {
    if (s->n_t == s->cap) {
        int cap = s->cap ? 2 * s->cap : 256;
        stensor *nt = realloc(s->t, (size_t)cap * sizeof *nt);
        if (!nt) return err_set(s->err, LATTE_E_NOMEM, "out of memory");
        s->t = nt;
        s->cap = cap;
    }
    stensor *t = &s->t[s->n_t++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, fmt, il);
    t->n_dims = n_dims;
    t->ne[0] = ne0, t->ne[1] = ne1, t->ne[2] = ne2;
    t->type = n_dims == 1 ? QT_F32 : type == QT_F32 ? QT_F32 : tools_fit_type(type, ne0);
    t->fill = fill;
    t->std = std;
    return 0;
}

#define W(fmt, ne0, ne1) add(s, fmt, il, 2, ne0, ne1, 1, s->type, FILL_RANDOM, 1.0f / sqrtf((float)(ne0)))
#define NORM(fmt, n) add(s, fmt, il, 1, n, 1, 1, QT_F32, FILL_ONES, 0)

static int plan_mla(synth *s, int il) {
    const synth_model *m = s->m;
    int64_t H = m->n_head, r = m->kv_lora_rank, dn = m->d_nope, dr = m->d_rope, dv = m->d_v, D = m->n_embd;
    int rc = NORM("blk.%d.attn_norm.weight", D);
    if (!rc && m->q_lora_rank) {
        rc = W("blk.%d.attn_q_a.weight", D, m->q_lora_rank);
        if (!rc) rc = NORM("blk.%d.attn_q_a_norm.weight", m->q_lora_rank);
        if (!rc) rc = W("blk.%d.attn_q_b.weight", m->q_lora_rank, H * (dn + dr));
    } else if (!rc) {
        rc = W("blk.%d.attn_q.weight", D, H * (dn + dr));
    }
    if (!rc) rc = W("blk.%d.attn_kv_a_mqa.weight", D, r + dr);
    if (!rc) rc = NORM("blk.%d.attn_kv_a_norm.weight", r);
    /* ik_llama.cpp's converter: attn_kv_b and 2-D k_b {dn, r*H}, v_b {r, dv*H}; mainline's:
     * 3-D k_b {dn, r, H}, v_b {r, dv, H} only. The bytes of k_b and v_b are the same in both. */
    if (!rc && !s->mainline) rc = W("blk.%d.attn_kv_b.weight", r, H * (dn + dv));
    int nd = s->mainline ? 3 : 2;
    if (!rc)
        rc = add(s, "blk.%d.attn_k_b.weight", il, (uint32_t)nd, dn, s->mainline ? r : r * H, s->mainline ? H : 1, s->type,
                 FILL_KB, 1.0f / sqrtf((float)r));
    if (!rc)
        rc = add(s, "blk.%d.attn_v_b.weight", il, (uint32_t)nd, r, s->mainline ? dv : dv * H, s->mainline ? H : 1,
                 s->type, FILL_VB, 1.0f / sqrtf((float)r));
    if (!rc) {
        char kvb[64];
        snprintf(kvb, sizeof kvb, "blk.%d.attn_kv_b.weight", il);
        memcpy(s->t[s->n_t - 1].src, kvb, sizeof kvb);
        memcpy(s->t[s->n_t - 2].src, kvb, sizeof kvb);
    }
    if (!rc) rc = W("blk.%d.attn_output.weight", H * dv, D);
    return rc;
}

static int plan_std_attn(synth *s, int il) {
    const synth_model *m = s->m;
    int64_t D = m->n_embd, hd = D / m->n_head, dk = hd * m->n_head_kv;
    int rc = NORM("blk.%d.attn_norm.weight", D);
    if (!rc) rc = W("blk.%d.attn_q.weight", D, D);
    if (!rc) rc = W("blk.%d.attn_k.weight", D, dk);
    if (!rc) rc = W("blk.%d.attn_v.weight", D, dk);
    if (!rc && m->qkv_bias) {
        rc = add(s, "blk.%d.attn_q.bias", il, 1, D, 1, 1, QT_F32, FILL_RANDOM, 0.02f);
        if (!rc) rc = add(s, "blk.%d.attn_k.bias", il, 1, dk, 1, 1, QT_F32, FILL_RANDOM, 0.02f);
        if (!rc) rc = add(s, "blk.%d.attn_v.bias", il, 1, dk, 1, 1, QT_F32, FILL_RANDOM, 0.02f);
    }
    if (!rc) rc = W("blk.%d.attn_output.weight", D, D);
    return rc;
}

static int plan_ffn(synth *s, int il) {
    const synth_model *m = s->m;
    int64_t D = m->n_embd;
    int rc = NORM("blk.%d.ffn_norm.weight", D);
    if (rc) return rc;
    if (m->n_expert == 0 || il < s->n_dense) {
        rc = W("blk.%d.ffn_gate.weight", D, m->n_ff);
        if (!rc) rc = W("blk.%d.ffn_up.weight", D, m->n_ff);
        if (!rc) rc = W("blk.%d.ffn_down.weight", m->n_ff, D);
        return rc;
    }
    int64_t E = m->n_expert, F = m->n_ff_exp, FS = F * m->n_expert_shared;
    rc = add(s, "blk.%d.ffn_gate_inp.weight", il, 2, D, E, 1, QT_F32, FILL_RANDOM, 1.0f / sqrtf((float)D));
    if (!rc && m->probs_bias) rc = add(s, "blk.%d.exp_probs_b.bias", il, 1, E, 1, 1, QT_F32, FILL_RANDOM, 0.01f);
    if (!rc) rc = add(s, "blk.%d.ffn_gate_exps.weight", il, 3, D, F, E, s->type, FILL_RANDOM, 1.0f / sqrtf((float)D));
    if (!rc) rc = add(s, "blk.%d.ffn_up_exps.weight", il, 3, D, F, E, s->type, FILL_RANDOM, 1.0f / sqrtf((float)D));
    if (!rc) rc = add(s, "blk.%d.ffn_down_exps.weight", il, 3, F, D, E, s->type, FILL_RANDOM, 1.0f / sqrtf((float)F));
    if (!rc && FS) {
        rc = W("blk.%d.ffn_gate_shexp.weight", D, FS);
        if (!rc) rc = W("blk.%d.ffn_up_shexp.weight", D, FS);
        if (!rc) rc = W("blk.%d.ffn_down_shexp.weight", FS, D);
    }
    return rc;
}

static int plan(synth *s) {
    const synth_model *m = s->m;
    int il = 0;
    int rc = add(s, "token_embd.weight", 0, 2, m->n_embd, m->n_vocab, 1, s->type, FILL_RANDOM, 1.0f);
    if (!rc) rc = add(s, "output_norm.weight", 0, 1, m->n_embd, 1, 1, QT_F32, FILL_ONES, 0);
    if (!rc) rc = W("output.weight", m->n_embd, m->n_vocab);
    for (il = 0; !rc && il < s->n_layer; il++) {
        rc = m->kv_lora_rank ? plan_mla(s, il) : plan_std_attn(s, il);
        if (!rc) rc = plan_ffn(s, il);
    }
    return rc;
}

typedef struct fill_ctx {
    const stensor *t;
    const synth_model *m;
} fill_ctx;

static void fill_row(void *vctx, int64_t row, float *out) {
    const fill_ctx *c = vctx;
    const stensor *t = c->t;
    int64_t ne0 = t->ne[0];
    if (t->fill == FILL_ONES) {
        for (int64_t i = 0; i < ne0; i++) out[i] = 1.0f;
        return;
    }
    if (t->fill == FILL_RANDOM) {
        for (int64_t i = 0; i < ne0; i++) out[i] = t->std * unit(t->key, (uint64_t)(row * ne0 + i));
        return;
    }
    /* cut from attn_kv_b {r, H*(dn+dv)}: head h's rows are dn k_nope rows then dv v rows */
    int64_t r = c->m->kv_lora_rank, dn = c->m->d_nope, dv = c->m->d_v;
    if (t->fill == FILL_VB) { /* v_b row h*dv + i = kv_b row h*(dn+dv) + dn + i */
        int64_t h = row / dv, i = row % dv, src = h * (dn + dv) + dn + i;
        for (int64_t k = 0; k < r; k++) out[k] = t->std * unit(t->key, (uint64_t)(src * r + k));
    } else { /* k_b row h*r + c, column j = kv_b row h*(dn+dv) + j, column c */
        int64_t h = row / r, cc = row % r;
        for (int64_t j = 0; j < dn; j++) out[j] = t->std * unit(t->key, (uint64_t)((h * (dn + dv) + j) * r + cc));
    }
}

static uint32_t file_type(uint32_t t) {
    switch (t) {
    case QT_F32: return 0;
    case QT_F16: return 1;
    case QT_Q4_0: return 2;
    case QT_Q4_1: return 3;
    case QT_Q8_0: return 7;
    case QT_Q5_0: return 8;
    case QT_Q5_1: return 9;
    case QT_Q4_K: return 14; /* Q4_K_S: all Q4_K */
    case QT_Q5_K: return 16;
    case QT_Q6_K: return 18;
    case QT_BF16: return 32;
    default: return 0;
    }
}

static int keys(synth *s, gguf_writer *w, latte_err *err) {
    const synth_model *m = s->m;
    char k[96], title[160];
    int rc = 0;
#define KEY(suffix) (snprintf(k, sizeof k, "%s.%s", m->arch, suffix), k)
#define U32(suffix, v) if (!rc) rc = gguf_writer_add_u32(w, KEY(suffix), (uint32_t)(v), err)
#define F32(suffix, v) if (!rc) rc = gguf_writer_add_f32(w, KEY(suffix), (float)(v), err)
    snprintf(title, sizeof title, "%s%s", m->title, s->n_layer < m->n_layer ? ", first layers" : "");
    rc = gguf_writer_add_str(w, "general.architecture", m->arch, err);
    if (!rc) rc = gguf_writer_add_str(w, "general.type", "model", err);
    if (!rc) rc = gguf_writer_add_str(w, "general.name", title, err);
    U32("block_count", s->n_layer);
    U32("context_length", m->n_ctx);
    U32("embedding_length", m->n_embd);
    U32("feed_forward_length", m->n_ff);
    U32("attention.head_count", m->n_head);
    U32("attention.head_count_kv", s->mainline ? 1 : m->n_head_kv);
    F32("rope.freq_base", m->rope_base);
    F32("attention.layer_norm_rms_epsilon", m->rms_eps);
    if (!rc) rc = gguf_writer_add_u32(w, "general.file_type", file_type(s->type), err);
    U32("vocab_size", m->n_vocab);
    if (m->kv_lora_rank) {
        U32("expert_used_count", m->n_expert_used);
        U32("leading_dense_block_count", s->n_dense);
        if (m->q_lora_rank) U32("attention.q_lora_rank", m->q_lora_rank);
        U32("attention.kv_lora_rank", m->kv_lora_rank);
        if (s->mainline) { /* the MLA view in key/value_length, the real head sizes in *_mla */
            U32("attention.key_length", m->kv_lora_rank + m->d_rope);
            U32("attention.value_length", m->kv_lora_rank);
            U32("attention.key_length_mla", m->d_nope + m->d_rope);
            U32("attention.value_length_mla", m->d_v);
        } else {
            U32("attention.key_length", m->d_nope + m->d_rope);
            U32("attention.value_length", m->d_v);
        }
        U32("expert_feed_forward_length", m->n_ff_exp);
        U32("expert_count", m->n_expert);
        U32("expert_shared_count", m->n_expert_shared);
        F32("expert_weights_scale", m->expert_weights_scale);
        if (!rc) rc = gguf_writer_add_bool(w, KEY("expert_weights_norm"), m->expert_weights_norm, err);
        U32("expert_gating_func", m->gating);
        if (m->n_group > 1) {
            U32("expert_group_count", m->n_group);
            U32("expert_group_used_count", m->n_group_used);
        }
        U32("rope.dimension_count", m->d_rope);
    } else {
        U32("rope.dimension_count", m->n_embd / m->n_head);
    }
    if (m->yarn_factor > 0) {
        if (!rc) rc = gguf_writer_add_str(w, KEY("rope.scaling.type"), "yarn", err);
        F32("rope.scaling.factor", m->yarn_factor);
        U32("rope.scaling.original_context_length", m->yarn_orig_ctx);
        F32("rope.scaling.yarn_log_multiplier", m->yarn_log_mul);
    }
#undef KEY
#undef U32
#undef F32
    tools_special sp[2];
    int n_sp = 0;
    if (m->bos >= 0) sp[n_sp++] = (tools_special){m->bos, m->bos_text};
    if (m->eos >= 0) sp[n_sp++] = (tools_special){m->eos, m->eos_text};
    if (!rc) rc = tools_synth_vocab(w, m->n_vocab, m->pre, sp, n_sp, m->bos, m->eos, m->add_bos, err);
    if (!rc) rc = gguf_writer_add_u32(w, "general.quantization_version", 2, err);
    return rc;
}

const char *latte_synth_model_name(int i) {
    for (int k = 0; SYNTH_MODELS[k].name; k++)
        if (k == i) return SYNTH_MODELS[k].name;
    return NULL;
}

int latte_synth(const latte_synth_params *p, latte_err *err) {
    const synth_model *m = p->like ? synth_model_find(p->like) : NULL;
    if (!m) {
        char names[256] = "";
        for (int i = 0; latte_synth_model_name(i); i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", latte_synth_model_name(i));
        return err_set(err, LATTE_E_ARG, "unknown model '%s' (known: %s)", p->like ? p->like : "", names);
    }
    if (p->type < 0 || !quant_can_quantize((uint32_t)p->type))
        return err_set(err, LATTE_E_ARG, "synth cannot write weight type %d", p->type);
    if (p->n_layer < 0 || p->n_layer > m->n_layer)
        return err_set(err, LATTE_E_ARG, "--layers %d is outside [1, %d] for %s", p->n_layer, m->n_layer, m->name);
    synth s = {.m = m, .type = (uint32_t)p->type, .mainline = p->mainline && m->kv_lora_rank > 0, .err = err};
    s.n_layer = p->n_layer ? p->n_layer : m->n_layer;
    /* the leading dense layers, but at least one MoE layer when the model has any */
    s.n_dense = m->n_dense_lead < s.n_layer ? m->n_dense_lead : s.n_layer;
    if (m->n_expert && s.n_dense == s.n_layer && s.n_layer > 1) s.n_dense = s.n_layer - 1;
    gguf_writer *w = gguf_writer_init();
    int rc = w ? plan(&s) : err_set(err, LATTE_E_NOMEM, "out of memory");
    if (!rc) rc = keys(&s, w, err);
    tools_progress pr = {p->progress, p->progress_user, 0, 0};
    for (int i = 0; !rc && i < s.n_t; i++) {
        stensor *t = &s.t[i];
        t->key = name_key(p->seed, t->src[0] ? t->src : t->name);
        int idx = gguf_writer_add_tensor(w, t->name, t->n_dims, t->ne, t->type, err);
        if (idx < 0) rc = idx;
        else pr.total += gguf_writer_tensor_bytes(w, idx);
    }
    if (!rc) rc = gguf_writer_begin(w, p->out, err);
    for (int i = 0; !rc && i < s.n_t; i++) {
        fill_ctx c = {&s.t[i], m};
        rc = tools_write_rows(w, s.t[i].type, s.t[i].ne[0], s.t[i].ne[1] * s.t[i].ne[2], fill_row, &c, p->n_threads,
                              &pr, s.t[i].name, err);
    }
    if (!rc) rc = gguf_writer_finish(w, err);
    gguf_writer_free(w);
    free(s.t);
    return rc;
}
