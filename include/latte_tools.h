/* latte_tools.h: the model-file tools of the latte engine: writing random-weight models
 * in the shape of real ones (synth) and re-quantizing GGUF files (quantize). Like latte.h,
 * every fallible call returns 0 or a negative LATTE_E_* code and fills a latte_err;
 * nothing prints except through the progress callback and the FILE* passed in. */
#ifndef LATTE_TOOLS_H
#define LATTE_TOOLS_H

#include <latte.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Progress of a file being written: bytes of tensor data done of total, and the tensor
 * being written. */
typedef void (*latte_tool_progress)(uint64_t done, uint64_t total, const char *tensor, void *user);

/* ---- synth ---- */
typedef struct latte_synth_params {
    const char *like;   /* "deepseek-v2-lite", "deepseek-v3", ... (latte_synth_model_name) */
    const char *out;    /* the GGUF file to write */
    int type;           /* weight type (ggml id): 2-D weights; norms, router and biases stay f32 */
    int n_layer;        /* 0: all of the model's layers */
    uint64_t seed;
    bool mainline;      /* MLA tensors as mainline llama.cpp's converter writes them (3-D attn_k_b /
                           attn_v_b, no attn_kv_b); default: ik_llama.cpp's (attn_kv_b + 2-D k_b / v_b) */
    int n_threads;      /* 0: one per core */
    latte_tool_progress progress;
    void *progress_user;
} latte_synth_params;

/* Writes a model of the named shape, its real vocabulary size and a synthetic byte-level BPE
 * tokenizer, with random weights scaled so activations stay of order 1. The same seed gives
 * the same weights (before quantization) for every type and thread count. */
int latte_synth(const latte_synth_params *p, latte_err *err);
/* The i-th model name synth knows, NULL past the last. */
const char *latte_synth_model_name(int i);

/* ---- quantize ---- */
typedef struct latte_quantize_params {
    const char *in, *out;
    const char *ftype;               /* "Q4_K_M", "Q8_0", "q6_K", "F16", ... (llama-quantize's names) */
    const char *const *overrides;    /* "REGEX=TYPE": tensors whose name matches get TYPE (first match wins) */
    int n_overrides;
    bool pure;                       /* the base type for every weight: no mix (overrides still apply) */
    int n_threads;                   /* 0: one per core */
    latte_tool_progress progress;
    void *progress_user;
    FILE *summary;                   /* bytes and tensors per type are written here when not NULL */
} latte_quantize_params;

int latte_quantize(const latte_quantize_params *p, latte_err *err);
/* The i-th file type name quantize accepts, NULL past the last. */
const char *latte_quantize_ftype_name(int i);

#ifdef __cplusplus
}
#endif
#endif
