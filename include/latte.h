/* latte.h: the public C API of the latte inference engine.
 * A latte_model is a loaded GGUF file (weights, hyper-parameters, vocabulary, chat
 * template); a latte_ctx is one timeline over it (KV cache, scratch, logits). Every
 * fallible call returns 0 or a negative LATTE_E_* code and fills a one-line latte_err.
 * Nothing here prints or exits except where a FILE* is passed in. */
#ifndef LATTE_H
#define LATTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    LATTE_OK = 0,
    LATTE_E_IO = -1,          /* open/read/mmap failed */
    LATTE_E_FORMAT = -2,      /* malformed or hostile file */
    LATTE_E_UNSUPPORTED = -3, /* valid but not supported (type, arch, op) */
    LATTE_E_NOMEM = -4,       /* allocation failed or size overflow */
    LATTE_E_ARG = -5,         /* bad argument from the caller/user */
    LATTE_E_MISSING = -6,     /* a required key/tensor is absent */
    LATTE_E_CTX = -7,         /* context (cache) full */
    LATTE_E_DATA = -8,        /* tensor data lies past the end of the file */
};

typedef struct latte_err {
    int code;
    char msg[512];
} latte_err;

typedef struct latte_model latte_model;
typedef struct latte_ctx latte_ctx;

/* ---- model ---- */
typedef struct latte_model_params {
    const char *path;
    bool vocab_only; /* metadata + vocabulary only: no tensor data is needed */
    int mla;         /* the MLA mode the caller will ask for (-1: default); a model without
                        MLA given mla >= 0 gets one warning on log, before its data is checked */
    FILE *log;       /* warnings go here when not NULL */
    /* progress callback during load (0..1); may be NULL */
    void (*progress)(float done, void *user);
    void *progress_user;
} latte_model_params;

int latte_model_load(latte_model **out, const latte_model_params *p, latte_err *err);
void latte_model_free(latte_model *m);
/* Writes a human-readable description (architecture, hyper-parameters, tensors,
 * KV bytes per token per MLA mode) to out. */
void latte_model_describe(const latte_model *m, FILE *out);
int latte_model_n_vocab(const latte_model *m);
int latte_model_n_ctx_train(const latte_model *m);
bool latte_model_has_mla(const latte_model *m);
const char *latte_model_arch(const latte_model *m);
/* Bytes of all weights (for bandwidth accounting). */
uint64_t latte_model_weight_bytes(const latte_model *m);

/* Facts a front end shows (bench's table, warnings about flags that do nothing here). */
typedef struct latte_model_info {
    const char *arch;         /* "deepseek2", "llama", ...; "?" without hyper-parameters */
    char name[128];           /* general.name, else the file name */
    char type_name[16];       /* the type most weight bytes have ("Q4_1") */
    uint64_t n_params;        /* elements of all tensors */
    uint64_t weight_bytes;    /* bytes of all tensors */
    uint64_t bytes_per_token; /* weight bytes one generated token reads: one row of the token
                                 embedding (all of it when it is also the output matrix), the
                                 used share (n_expert_used / n_expert) of routed experts, the rest whole */
    int n_ctx_train, n_expert, n_expert_used;
    bool has_mla;
} latte_model_info;
void latte_model_get_info(const latte_model *m, latte_model_info *out);

/* The machine and the build, a few lines ("CPU features: ...", "CPU kernels: ...",
 * "backends: ..."), NUL-terminated in buf (cut at cap). */
void latte_system_info(char *buf, size_t cap);

/* ---- context ---- */
typedef struct latte_ctx_params {
    int n_ctx;        /* 0: min(training context, 4096) */
    int n_batch;      /* logical batch (tokens per latte_decode call are split by it) */
    int n_ubatch;     /* micro-batch: tokens per forward pass */
    int n_threads;    /* 0: all cores */
    int mla;          /* -1: default (3 on MLA models); 0..3 */
    bool flash_attn;
    int type_k;       /* cache type id (ggml ids: 0 f32, 1 f16, ...); -1: f16 */
    int type_v;
    int ser_kmin;     /* smart expert reduction: 0 off */
    float ser_thresh;
    /* warnings (e.g. -mla on a model without MLA) are written here if not NULL */
    FILE *log;
} latte_ctx_params;

latte_ctx_params latte_ctx_default_params(void);
int latte_ctx_init(latte_ctx **out, latte_model *m, const latte_ctx_params *p, latte_err *err);
void latte_ctx_free(latte_ctx *c);
/* Evaluates n tokens at the end of the timeline. When all_logits, logits of every token
 * are kept (latte_ctx_logits(c, i) for i < n); otherwise only the last token's (i = 0). */
int latte_decode(latte_ctx *c, const int32_t *tokens, int n, bool all_logits, latte_err *err);
const float *latte_ctx_logits(const latte_ctx *c, int i);
int latte_ctx_n_past(const latte_ctx *c);
int latte_ctx_n_ctx(const latte_ctx *c);
void latte_ctx_reset(latte_ctx *c);
/* Drops the timeline after position n_keep (n_keep <= n_past). */
void latte_ctx_truncate(latte_ctx *c, int n_keep);
/* KV cache bytes allocated, and the attention actually used ("latent MLA mode 3", ...). */
uint64_t latte_ctx_kv_bytes(const latte_ctx *c);
const char *latte_ctx_attention_desc(const latte_ctx *c);
/* The MLA mode in use (0..3), or -1 on a model without MLA (standard attention). */
int latte_ctx_mla_mode(const latte_ctx *c);

/* ---- tokens and text ---- */
/* Encodes text. add_special: prepend BOS when the vocabulary asks for it.
 * parse_special: recognise control tokens written in the text. *ids is malloc'ed. */
int latte_tokenize(const latte_model *m, const char *text, size_t len, bool add_special,
                   bool parse_special, int32_t **ids, size_t *n_ids, latte_err *err);
/* Raw bytes of one token (may be a partial UTF-8 sequence). Returns the byte count
 * (may exceed cap: then buf holds a prefix); negative for an invalid id. */
int latte_token_to_bytes(const latte_model *m, int32_t id, char *buf, size_t cap);
/* The token as written in the vocabulary (for display). */
const char *latte_token_text(const latte_model *m, int32_t id);
int32_t latte_token_bos(const latte_model *m); /* -1 when none */
bool latte_token_is_eog(const latte_model *m, int32_t id); /* EOS, EOT, ... */

/* ---- chat ---- */
typedef struct latte_chat_msg {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} latte_chat_msg;

/* Formats a conversation with the model's template (or the named one: "chatml",
 * "deepseek3", "deepseek2", "llama3", ...). *out is malloc'ed. */
int latte_chat_format(const latte_model *m, const char *tmpl_name, const latte_chat_msg *msgs,
                      size_t n_msgs, bool add_generation_prompt, char **out, latte_err *err);

/* Splits generated assistant text (R1 / Qwen3 style) into reasoning and answer: reasoning
 * is text[think_begin, think_end) (inside <think>...</think>; from 0 when the prompt opened
 * the tag), the answer starts at answer_begin; no tags: the whole text is the answer. */
void latte_chat_split_reasoning(const char *text, size_t len, size_t *think_begin, size_t *think_end,
                                size_t *answer_begin);

/* ---- sampling ---- */
typedef struct latte_sampler latte_sampler;
typedef struct latte_sampler_params {
    float temp;          /* <= 0: greedy */
    int top_k;           /* <= 0: off */
    float top_p;         /* >= 1: off */
    float min_p;         /* <= 0: off */
    float repeat_penalty;/* 1: off */
    int penalty_last_n;  /* tokens looked back for penalties */
    float presence_penalty;
    float frequency_penalty;
    uint64_t seed;
} latte_sampler_params;

latte_sampler_params latte_sampler_default_params(void);
latte_sampler *latte_sampler_init(const latte_sampler_params *p);
void latte_sampler_free(latte_sampler *s);
int32_t latte_sampler_sample(latte_sampler *s, const float *logits, int n_vocab);
void latte_sampler_accept(latte_sampler *s, int32_t token);
void latte_sampler_reset(latte_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
