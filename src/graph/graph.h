/* graph.h: the forward pass, written once over the backend's ops. A graph_ctx holds one
 * context's choices (attention kind, MLA mode, FA), its KV cache (one region per sequence)
 * and the scratch buffers sized for one micro-batch at creation, allocated through the
 * backend that computes: nothing is allocated per token. */
#ifndef LATTE_GRAPH_H
#define LATTE_GRAPH_H

#include "../backend/backend.h"
#include "../kv/kv.h"
#include "../model/hparams.h"
#include "../model/weights.h"

/* Activations of one micro-batch, in the compute backend's memory. */
typedef struct graph_scratch {
    float *x, *xn;                 /* [n][n_embd] residual stream, normed */
    float *q, *k, *v, *o;          /* attention projections */
    float *qa, *kva, *lat;         /* MLA: q LoRA, kv_a output, latent+k_pe rows */
    float *q_lat, *q_pe, *o_lat, *kvb_out;
    float *ffn_g, *ffn_u;          /* [n][max ffn width] */
    float *router, *route_w;       /* [n][n_expert], [n][n_used] */
    int32_t *route_ids;            /* [n][n_used] */
    float *exp_g, *exp_u, *exp_d;  /* [n*n_used][...] */
    float *attn_out;               /* [n][n_embd] */
    float *moe_out;                /* [n][n_embd] routed experts' sum when they ran on another device */
    float *logits;                 /* [GRAPH_OUT_ROWS][n_vocab] */
} graph_scratch;

#define GRAPH_MAX_DEVICES 16

/* One device the context computes on: its backend, the activations of a micro-batch in its
 * memory, and an event marking its last copy in from the staging buffer. */
typedef struct graph_dev {
    backend *be;
    graph_scratch s;
    backend_event *ev;
} graph_dev;

/* The device each block of a layer runs on: where its weights were placed. */
typedef struct graph_blocks {
    int attn, ffn, exps;
} graph_blocks;

/* rows of logits computed per output-head call (bounds the logits scratch) */
#define GRAPH_OUT_ROWS 64

/* One micro-batch as the forward pass sees it (host memory): n tokens at their positions,
 * grouped into runs of consecutive tokens of one sequence (backend.h attn_run), each token's
 * cache row, and the rows whose logits are wanted. */
typedef struct graph_batch {
    int n;
    const int32_t *tokens;   /* [n] */
    const int32_t *pos;      /* [n] */
    const int64_t *kv_rows;  /* [n] */
    const attn_run *runs;
    int n_runs;
    const int32_t *out_rows; /* [n_out] rows of the batch, ascending */
    int n_out;
} graph_batch;

typedef struct graph_ctx {
    const model_hparams *hp;
    const model_weights *w;
    graph_dev dev[GRAPH_MAX_DEVICES]; /* be NULL: a device this model does not use */
    graph_blocks *blk;             /* [n_layer] */
    int embd_dev, out_dev;
    /* the block running now: its device's backend and activations */
    backend *be;
    graph_scratch *s;
    int cur;                       /* the device holding the residual stream s->x */
    /* host staging buffer for moves between devices (pinned where a device wants it) */
    void *stage;
    size_t stage_bytes;
    backend *stage_host;           /* the backend whose host_alloc made it */
    int stage_dev;                 /* device whose copy in last read it (-1: none) */
    kv_cache kv;
    int mla_mode;                  /* 0 standard (also non-MLA models), 1..3 latent */
    bool flash;
    bool k_hadamard;               /* --k-cache-hadamard: keys (and queries) rotated before caching */
    int n_ubatch;
    float kq_scale;
    rope_table rope;
    float *theta;                  /* [n_rot/2] */
    route_params route;            /* MoE routing rules (with -ser) */
} graph_ctx;

/* Prepares a context: attention kind from the model and mode (mla 0 on an MLA model uses
 * per-head K/V; mla 1..3 latent), KV cache of n_seq regions of n_ctx_seq tokens (each
 * layer's on its attention's device), scratch for n_ubatch tokens on every device a block
 * runs on. bes[d] runs device d (the weights' lt_tensor.dev); bes[0] is the CPU. */
int graph_init(graph_ctx *g, const model_hparams *hp, const model_weights *w, backend *const *bes, int mla_mode,
               bool flash, int n_seq, int n_ctx_seq, int n_ubatch, uint32_t type_k, uint32_t type_v, int ser_kmin,
               float ser_thresh, latte_err *err);
void graph_free(graph_ctx *g);
/* --k-cache-hadamard: rotates keys and queries by the same orthonormal Walsh-Hadamard
 * transform before the keys are cached (and, in latent modes, the attention output back), so
 * outlying channels are spread over a block before quantization; scores are unchanged in
 * exact arithmetic. Fails when a device running attention has no hadamard op. */
int graph_set_k_hadamard(graph_ctx *g, bool on, latte_err *err);

/* Runs one micro-batch (b->n <= n_ubatch; its tokens are written to the cache at kv_rows)
 * and writes the logits of b->out_rows, in order, to logits ([n_out][n_vocab], host
 * memory). Sequence lengths are the caller's to advance. */
int graph_forward(graph_ctx *g, const graph_batch *b, float *logits, latte_err *err);

/* pieces of the forward pass (graph/attention.c, graph/moe.c, graph/rope.c, graph/devices.c) */
/* Makes device d the one computing (g->be, g->s). */
void graph_use(graph_ctx *g, int d);
/* Copies bytes from src in device `from`'s memory to dst in device `to`'s (through the
 * staging buffer when they differ). */
int graph_copy(graph_ctx *g, int to, void *dst, int from, const void *src, size_t bytes);
/* Moves the residual stream of n tokens to device d and makes d the one computing. */
int graph_move_x(graph_ctx *g, int d, int n);
int graph_attention(graph_ctx *g, int il, const graph_batch *b, latte_err *err);
int graph_ffn(graph_ctx *g, int il, int n, latte_err *err);
int graph_rope_init(graph_ctx *g, latte_err *err);
/* The routing rules of a model, with smart expert reduction. */
route_params graph_route_params(const model_hparams *hp, int ser_kmin, float ser_thresh);

#endif
