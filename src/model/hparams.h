/* hparams.h: a model's hyper-parameters, read once from GGUF metadata and checked.
 * Every field says its unit or shape. Required keys missing are errors naming the key;
 * optional keys take the default written beside them. Nothing here is inferred from a
 * layer count or a tensor size. */
#ifndef LATTE_MODEL_HPARAMS_H
#define LATTE_MODEL_HPARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "../gguf/gguf.h"

typedef enum model_arch { ARCH_LLAMA, ARCH_QWEN2, ARCH_DEEPSEEK2 } model_arch;
typedef enum rope_pairing { ROPE_NORM, ROPE_NEOX } rope_pairing; /* (2i,2i+1) or (i,i+d/2) */
typedef enum rope_scaling { ROPE_SCALE_NONE, ROPE_SCALE_LINEAR, ROPE_SCALE_YARN, ROPE_SCALE_LLAMA3 } rope_scaling;
typedef enum gating_func { GATING_SOFTMAX, GATING_SIGMOID } gating_func;

typedef struct rope_params {
    rope_pairing pairing;
    int n_rot;              /* rotated dims per head (from the head's start) */
    float freq_base;        /* theta */
    rope_scaling scaling;
    float factor;           /* scaling factor (linear, yarn, llama3) */
    int n_ctx_orig;         /* original training context (yarn, llama3) */
    float yarn_beta_fast;   /* default 32 */
    float yarn_beta_slow;   /* default 1 */
    float yarn_log_mul;     /* rope.scaling.yarn_log_multiplier (0.1 * mscale_all_dim) */
    float llama3_low_freq;  /* default 1 */
    float llama3_high_freq; /* default 4 */
} rope_params;

typedef struct model_hparams {
    model_arch arch;
    char arch_name[32];
    int n_vocab;
    int n_ctx_train;
    int n_embd;             /* hidden size */
    int n_layer;
    int n_head;
    int n_head_kv;          /* GQA groups (standard attention) */
    int n_embd_head_k;      /* per-head key length (deepseek2: nope + rope) */
    int n_embd_head_v;      /* per-head value length */
    int n_ff;               /* dense FFN width */
    float rms_eps;
    rope_params rope;
    /* deepseek2 (MLA + MoE) */
    bool has_mla;
    int q_lora_rank;        /* 0: plain attn_q */
    int kv_lora_rank;       /* latent width r */
    int n_rot_mla;          /* d_rope: roped dims shared by all heads */
    int d_nope;             /* per-head non-roped key dims */
    int d_v;                /* per-head value dims */
    int n_layer_dense_lead; /* leading dense layers */
    int n_expert;           /* routed experts (0: dense model) */
    int n_expert_used;
    int n_expert_shared;
    int n_ff_exp;           /* expert FFN width */
    float expert_weights_scale; /* default 1 */
    bool expert_weights_norm;   /* default false */
    gating_func gating;         /* default softmax */
    int n_expert_group;         /* default 1 */
    int n_expert_group_used;    /* default 1 */
} model_hparams;

/* Reads and checks hyper-parameters; tensors are not looked at. */
int hparams_load(model_hparams *hp, const gguf_file *gf, latte_err *err);
const char *hparams_arch_name(model_arch a);

#endif
