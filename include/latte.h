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
/* Where the weights go (-ngl, -ot, ...); see latte_model_plan. */
typedef struct latte_place_params {
    int n_gpu_layers;      /* -ngl: -1 unset (automatic fit where a GPU exists) */
    int n_cpu_moe;         /* --n-cpu-moe: routed experts of the first N layers stay on the CPU */
    int main_gpu;          /* -mg */
    const char *const *overrides; /* -ot "REGEX=DEVICE" (first match wins) */
    int n_overrides;
    const char *const *fake_devices; /* "NAME:BYTES" devices to plan for (tests, what-ifs) */
    int n_fake;
    int n_ctx, mla, type_k, type_v; /* the context the KV cache is sized for (-1/0: defaults) */
} latte_place_params;

typedef struct latte_model_params {
    const char *path;
    bool vocab_only; /* metadata + vocabulary only: no tensor data is needed */
    int mla;         /* the MLA mode the caller will ask for (-1: default); a model without
                        MLA given mla >= 0 gets one warning on log, before its data is checked */
    FILE *log;       /* warnings go here when not NULL */
    /* progress callback during load (0..1); may be NULL */
    void (*progress)(float done, void *user);
    void *progress_user;
    /* placement of the weights over the devices, decided at load (zero: all on the CPU
     * unless n_gpu_layers < 0 asks for the automatic fit) */
    latte_place_params place;
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

/* Prints where every weight and each layer's KV cache would live on this host's devices
 * (plus the fake ones), bytes per device and the equivalent -ngl/-ot flags. Needs only the
 * tensor directory. A bad rule, unknown device or a device over its memory is an error. */
int latte_model_plan(const latte_model *m, const latte_place_params *p, FILE *out, latte_err *err);
/* The devices the loaded model's weights were placed on ("CPU", ...), and how many. */
int latte_model_n_devices(const latte_model *m);
const char *latte_model_device_name(const latte_model *m, int i);
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
    char backends[16];        /* what computes its weights: "CPU", or "CUDA" when any are on a GPU */
} latte_model_info;
void latte_model_get_info(const latte_model *m, latte_model_info *out);

/* The machine and the build, a few lines ("CPU features: ...", "CPU kernels: ...",
 * "backends: ..."), NUL-terminated in buf (cut at cap). */
void latte_system_info(char *buf, size_t cap);

/* ---- context ---- */
typedef struct latte_ctx_params {
    int n_ctx;        /* total context in tokens, split evenly over the sequences;
                         0: min(training context, 4096) per sequence */
    int n_seq;        /* sequences (-np): each has its own n_ctx / n_seq positions; 0 or 1: one */
    int n_batch;      /* logical batch (the front ends split their input by it) */
    int n_ubatch;     /* micro-batch: tokens per forward pass */
    int n_threads;    /* 0: one per physical core */
    int mla;          /* -1: default (3 on MLA models); 0..3 */
    bool flash_attn;
    int type_k;       /* cache type id (ggml ids: 0 f32, 1 f16, ...); -1: f16 */
    int type_v;
    bool k_cache_hadamard; /* rotate K (and Q) by a Hadamard transform before caching (-khad) */
    int ser_kmin;     /* smart expert reduction: 0 off */
    float ser_thresh;
    /* warnings (e.g. -mla on a model without MLA, -t above the core count) go here if not NULL */
    FILE *log;
} latte_ctx_params;

latte_ctx_params latte_ctx_default_params(void);
int latte_ctx_init(latte_ctx **out, latte_model *m, const latte_ctx_params *p, latte_err *err);
void latte_ctx_free(latte_ctx *c);

/* A batch of tokens from one or more sequences, decoded in one call (like llama.cpp's
 * llama_batch). Row i is token[i] at position pos[i] of sequence seq[i]; logits[i] asks for
 * its logits. Rules: the rows of one sequence are contiguous in the batch and continue
 * that sequence (the first is at position latte_seq_len(seq), the next one higher). */
typedef struct latte_batch {
    int n_tokens, cap;
    int32_t *token, *pos, *seq;
    bool *logits;
} latte_batch;

/* Allocates room for cap rows (n_tokens = 0). */
int latte_batch_init(latte_batch *b, int cap, latte_err *err);
void latte_batch_free(latte_batch *b);
/* Appends a row; returns 0, or LATTE_E_ARG when the batch is full. */
int latte_batch_add(latte_batch *b, int32_t token, int32_t pos, int32_t seq, bool logits);

/* Decodes a batch (split into micro-batches of n_ubatch tokens) and advances each
 * sequence. Checks every row first: a bad sequence id, position or order is LATTE_E_ARG,
 * a sequence past its context LATTE_E_CTX, and then nothing is decoded. */
int latte_decode_batch(latte_ctx *c, const latte_batch *b, latte_err *err);
/* Logits of row i of the last batch ([n_vocab]); NULL when that row did not ask for them. */
const float *latte_ctx_logits_ith(const latte_ctx *c, int i);

/* One sequence (seq 0): evaluates n tokens at its end. When all_logits, logits of every
 * token are kept (latte_ctx_logits(c, i) for i < n); otherwise only the last token's (i = 0). */
int latte_decode(latte_ctx *c, const int32_t *tokens, int n, bool all_logits, latte_err *err);
/* The k-th row of logits kept by the last decode (in batch order). */
const float *latte_ctx_logits(const latte_ctx *c, int k);
int latte_ctx_n_past(const latte_ctx *c);  /* length of sequence 0 */
int latte_ctx_n_ctx(const latte_ctx *c);   /* positions per sequence */
int latte_ctx_n_seq(const latte_ctx *c);
int latte_ctx_n_threads(const latte_ctx *c);
/* Empties every sequence. */
void latte_ctx_reset(latte_ctx *c);
/* Drops sequence 0 after position n_keep (n_keep <= n_past). */
void latte_ctx_truncate(latte_ctx *c, int n_keep);

/* Sequences: length, truncation (keeps positions [0, n_keep)) and copy of the first n
 * positions of src into dst (dst then has length n: the prefix is reused, not recomputed). */
int latte_seq_len(const latte_ctx *c, int seq);
int latte_seq_truncate(latte_ctx *c, int seq, int n_keep, latte_err *err);
int latte_seq_copy(latte_ctx *c, int src, int dst, int n, latte_err *err);

/* Sequence state: one sequence's KV cache and token ids as one blob, to park it (on disk,
 * say) and load it back later into any sequence of a context over the same model and cache
 * setup, without decoding again. The blob starts with a header naming the model (a hash of
 * its tensor directory), cache kind, MLA mode, row widths, cache types, Hadamard rotation and
 * the number of positions; a checksum covers the rest. latte_seq_state_size: the bytes
 * latte_seq_state_save needs for seq as it is now (0 for a bad seq). Save: tokens are the
 * latte_seq_len(c, seq) ids the sequence holds (kept for prefix matching); *written gets the
 * size. Load: a blob from another model or setup, a damaged or truncated one, or one longer
 * than a sequence here is refused with one error (LATTE_E_ARG, LATTE_E_FORMAT, LATTE_E_CTX)
 * and seq left as it was; otherwise seq then holds the saved positions, and the ids go to
 * tokens (room for latte_ctx_n_ctx(c) of them; may be NULL) and their count to *n_tokens. */
size_t latte_seq_state_size(const latte_ctx *c, int seq);
int latte_seq_state_save(latte_ctx *c, int seq, const int32_t *tokens, void *buf, size_t cap, size_t *written,
                         latte_err *err);
int latte_seq_state_load(latte_ctx *c, int seq, const void *buf, size_t n, int32_t *tokens, int *n_tokens,
                         latte_err *err);

/* KV cache bytes allocated, and the attention actually used ("latent MLA mode 3", ...). */
uint64_t latte_ctx_kv_bytes(const latte_ctx *c);
const char *latte_ctx_attention_desc(const latte_ctx *c);
/* The MLA mode in use (0..3), or -1 on a model without MLA (standard attention). */
int latte_ctx_mla_mode(const latte_ctx *c);

/* ---- tokens and text ---- */
/* Encodes text. add_special: prepend BOS when the vocabulary asks for it. Token texts written
 * in the text become those tokens as llama.cpp and Hugging Face match them: user-defined
 * tokens (<think>, <tool_call>) always; control and unknown tokens (<|im_start|>,
 * <|endoftext|>) only when parse_special. *ids is malloc'ed. */
int latte_tokenize(const latte_model *m, const char *text, size_t len, bool add_special,
                   bool parse_special, int32_t **ids, size_t *n_ids, latte_err *err);
/* Raw bytes of one token (may be a partial UTF-8 sequence). Returns the byte count
 * (may exceed cap: then buf holds a prefix); negative for an invalid id. */
int latte_token_to_bytes(const latte_model *m, int32_t id, char *buf, size_t cap);
/* The token as written in the vocabulary (for display). */
const char *latte_token_text(const latte_model *m, int32_t id);
int32_t latte_token_bos(const latte_model *m); /* -1 when none */
bool latte_token_is_eog(const latte_model *m, int32_t id); /* EOS, EOT, ... */
/* Token kinds, as the vocabulary's tokenizer.ggml.token_type gives them. */
typedef enum latte_token_kind {
    LATTE_TOKEN_NORMAL = 1,
    LATTE_TOKEN_UNKNOWN = 2,
    LATTE_TOKEN_CONTROL = 3,      /* template markers: <|im_start|>, <｜User｜>, EOS */
    LATTE_TOKEN_USER_DEFINED = 4, /* added text tokens: <think>, <tool_call> */
    LATTE_TOKEN_UNUSED = 5,
    LATTE_TOKEN_BYTE = 6,
} latte_token_kind;
/* The kind of token id (a latte_token_kind), or -1 for a bad id or no tokenizer. */
int latte_token_kind_of(const latte_model *m, int32_t id);

/* ---- chat ---- */
typedef struct latte_chat_msg {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} latte_chat_msg;

/* Formats a conversation with the model's template (or the named one: "chatml",
 * "deepseek3", "deepseek3.1", "deepseek3.1-think", "kimi-k2", "llama3", ...). *out is
 * malloc'ed. Roles: system, user, assistant; tool for the templates that take tool results
 * (kimi-k2, deepseek3.1). */
int latte_chat_format(const latte_model *m, const char *tmpl_name, const latte_chat_msg *msgs,
                      size_t n_msgs, bool add_generation_prompt, char **out, latte_err *err);

/* Formats a conversation as latte_chat_format does and encodes it for the model: the
 * template's own markers become control tokens, while the messages' text never yields one
 * (a user who types "<|im_end|><|im_start|>system" gets those characters as text, not a new
 * turn); user-defined tokens such as <think> in messages still match, as in Hugging Face.
 * No BOS is added beyond what the template writes. *ids is malloc'ed; when text is not NULL,
 * *text receives the formatted prompt (malloc'ed) as well. */
int latte_chat_tokenize(const latte_model *m, const char *tmpl_name, const latte_chat_msg *msgs,
                        size_t n_msgs, bool add_generation_prompt, int32_t **ids, size_t *n_ids,
                        char **text, latte_err *err);

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
