/* weights.h: the model's tensors bound by name and checked against the hyper-parameters.
 * Tensors are views into the mapped file (no copy). For MLA, the per-head absorbed
 * matrices W_kb (q_nope -> latent) and W_vb (latent -> value) are described as row ranges
 * of whichever tensor the file holds (see mla_mat); the layout that lacks a matrix a mode
 * needs gets it derived once (weights_derive_mla). ik_llama.cpp's row-interleaved tensors
 * (IQ4_KS_R4, Q8_0_R8, ...) are repacked once at bind into their plain type (a copy of the
 * same size), so every kernel of the plain type runs them. */
#ifndef LATTE_MODEL_WEIGHTS_H
#define LATTE_MODEL_WEIGHTS_H

#include "../backend/backend.h"
#include "../gguf/gguf.h"
#include "hparams.h"

/* Head h of this matrix is rows [h*head_rows + row_off, +rows) of t. */
typedef struct mla_mat {
    const lt_tensor *t;
    int64_t head_rows, row_off, rows;
} mla_mat;

typedef enum mla_layout {
    MLA_LAYOUT_KVB,      /* only attn_kv_b */
    MLA_LAYOUT_KVB_KB_VB,/* attn_kv_b + 2-D attn_k_b / attn_v_b (ik_llama.cpp) */
    MLA_LAYOUT_KB_VB_3D, /* 3-D attn_k_b / attn_v_b, no attn_kv_b (mainline llama.cpp) */
} mla_layout;

typedef struct layer_weights {
    const lt_tensor *attn_norm, *ffn_norm;
    /* standard attention */
    const lt_tensor *wq, *wk, *wv, *wo, *bq, *bk, *bv;
    /* MLA: wq (plain) or wq_a -> q_a_norm -> wq_b */
    const lt_tensor *wq_a, *q_a_norm, *wq_b, *wkv_a_mqa, *kv_a_norm, *wkv_b;
    mla_mat kb;  /* per head: r rows of d_nope (q_lat = W_kb q_nope) */
    mla_mat vb;  /* per head: d_v rows of r   (o = W_vb o_lat) */
    mla_mat kvb; /* per head: d_nope + d_v rows of r (mode 0); t NULL until derived if absent */
    /* dense FFN */
    const lt_tensor *ffn_gate, *ffn_up, *ffn_down;
    /* MoE */
    const lt_tensor *gate_inp, *exp_probs_b, *gate_exps, *up_exps, *down_exps;
    const lt_tensor *gate_shexp, *up_shexp, *down_shexp;
    bool is_moe;
} layer_weights;

typedef struct model_weights {
    lt_tensor *tensors;      /* one per file tensor (views), plus derived ones */
    size_t n_tensors;
    const lt_tensor *tok_embd, *output_norm, *output, *rope_freqs;
    layer_weights *layers;   /* [n_layer] */
    mla_layout layout;
    /* derived matrices (owned) */
    lt_tensor **derived;     /* each owns its f32 data */
    size_t n_derived;
    uint64_t bytes;          /* bytes of all file weights */
    /* interleaved (_R4/_R8) file tensors repacked to their plain type at bind (owned) */
    void **repacked;
    size_t n_repacked;
} model_weights;

/* Binds and checks every tensor the architecture needs. supports_type says which weight
 * types the backend can multiply; a tensor of another type is a clear error. */
int weights_bind(model_weights *w, const gguf_file *gf, const model_hparams *hp,
                 bool (*supports_type)(uint32_t type), latte_err *err);
/* Makes sure kb/vb (latent modes) or kvb (mode 0) exist, deriving them from the other
 * layout when the file lacks them. */
int weights_derive_mla(model_weights *w, const model_hparams *hp, bool need_kvb, latte_err *err);
void weights_free(model_weights *w);

#endif
