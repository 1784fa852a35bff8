/* internal.h: the structs behind the public handles (include/latte.h). src/api/ is the
 * top of the engine: it ties the file, the model, the backend, the cache and the text
 * layers together; front ends see only latte.h. */
#ifndef LATTE_API_INTERNAL_H
#define LATTE_API_INTERNAL_H

#include <latte.h>

#include "../backend/backend.h"
#include "../gguf/gguf.h"
#include "../graph/graph.h"
#include "../model/hparams.h"
#include "../model/weights.h"
#include "../place/place.h"
#include "../text/tok.h"

struct latte_model {
    gguf_file *gf;
    bool vocab_only;
    bool hparams_ok;        /* vocab-only files may lack hyper-parameters */
    char hparams_err[512];  /* why not, when !hparams_ok */
    model_hparams hp;
    model_weights w;
    tok_vocab *vocab;       /* NULL when the file has no tokenizer, or (vocab_only) one latte cannot use */
    char tok_err[512];      /* why the tokenizer is unusable, when vocab_only loading went on */
    bool mla_warned;        /* the no-MLA warning was given */
    place_device devs[PLACE_MAX_DEVICES]; /* the devices weights were placed on ([0]: CPU) */
    int n_devs;
    char *chat_template;    /* tokenizer.chat_template, NUL-terminated, or NULL */
};

/* devices.c: this build's devices, and a backend to run one */
int api_devices(place_device *devs, int cap, latte_err *err);
int api_device_backend(const place_device *d, int n_threads, backend **out, latte_err *err);
/* plan.c: the placement of m's tensors for p (names in *names, freed by api_plan_free) */
int api_plan(const latte_model *m, const latte_place_params *p, const place_device *devs, int n_devs, place_plan *plan,
             place_tensor **ts, latte_err *err);
void api_plan_free(const latte_model *m, place_plan *plan, place_tensor *ts);

struct latte_ctx {
    latte_model *model;
    backend *be;            /* the CPU backend (be == bes[0]) */
    backend *bes[PLACE_MAX_DEVICES]; /* one per device the model uses (NULL where none) */
    graph_ctx g;
    latte_ctx_params p;
    float *logits;          /* [rows kept by the last decode][n_vocab] */
    int n_logit_rows, logits_cap_rows;
    int *logit_idx;         /* [rows of the last batch]: its logits row, or -1 */
    int logit_idx_cap, n_batch_rows;
    /* per micro-batch host arrays [n_ubatch] for the forward pass */
    int32_t *ub_pos, *ub_out;
    int64_t *ub_rows;
    attn_run *ub_runs;
    char *seq_seen;         /* [n_seq] batch check */
    latte_batch one;        /* latte_decode's batch */
    char desc[160];
};

#endif
