/* synth_models.h: the model shapes `latte synth --like NAME` writes (synth_models.c). */
#ifndef LATTE_SYNTH_MODELS_H
#define LATTE_SYNTH_MODELS_H

#include <stdbool.h>

typedef struct synth_model {
    const char *name, *title, *arch, *pre;
    int n_vocab, n_ctx, n_embd, n_layer, n_head, n_head_kv, n_ff;
    float rope_base, rms_eps;
    float yarn_factor;        /* 0: no rope scaling */
    int yarn_orig_ctx;
    float yarn_log_mul;       /* 0.1 * mscale_all_dim */
    /* deepseek2 */
    int q_lora_rank, kv_lora_rank, d_nope, d_rope, d_v;
    int n_dense_lead, n_expert, n_expert_used, n_expert_shared, n_ff_exp;
    float expert_weights_scale;
    bool expert_weights_norm;
    int gating;               /* llama.cpp ids: 1 softmax, 2 sigmoid */
    int n_group, n_group_used;
    bool probs_bias;          /* exp_probs_b (V3's e_score_correction_bias) */
    /* qwen2 */
    bool qkv_bias;
    /* tokenizer */
    int bos, eos;             /* -1: none */
    const char *bos_text, *eos_text;
    bool add_bos;
} synth_model;

extern const synth_model SYNTH_MODELS[]; /* ends with {.name = NULL} */
const synth_model *synth_model_find(const char *name);

#endif
