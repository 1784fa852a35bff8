/* graph.h: the forward pass, written once over the backend's ops. A graph_ctx holds one
 * context's choices (attention kind, MLA mode, FA), its KV cache and the scratch buffers
 * sized for one micro-batch at creation: nothing is allocated per token. */
#ifndef LATTE_GRAPH_H
#define LATTE_GRAPH_H

#include "../backend/backend.h"
#include "../kv/kv.h"
#include "../model/hparams.h"
#include "../model/weights.h"

typedef struct graph_scratch {
    float *x, *xn;                 /* [n][n_embd] residual stream, normed */
    float *q, *k, *v, *o;          /* attention projections */
    float *qa, *kva, *lat;         /* MLA: q LoRA, kv_a output, latent+k_pe rows */
    float *gather, *q_lat, *q_pe, *o_lat, *kvb_out;
    float *ffn_g, *ffn_u;          /* [n][max ffn width] */
    float *router, *route_w;       /* [n][n_expert], [n][n_used] */
    int32_t *route_ids;            /* [n][n_used] */
    float *exp_g, *exp_u, *exp_d;  /* [n*n_used][...] */
    float *attn_out;               /* [n][n_embd] */
} graph_scratch;

typedef struct graph_ctx {
    const model_hparams *hp;
    const model_weights *w;
    backend *be;
    kv_cache kv;
    int mla_mode;                  /* 0 standard (also non-MLA models), 1..3 latent */
    bool flash;
    int n_ubatch;
    float kq_scale;
    rope_table rope;
    float *theta;                  /* [n_rot/2] */
    int ser_kmin;                  /* smart expert reduction (0 off) */
    float ser_thresh;
    graph_scratch s;
} graph_ctx;

/* Prepares a context: attention kind from the model and mode (mla 0 on an MLA model uses
 * per-head K/V; mla 1..3 latent), KV cache of n_ctx tokens, scratch for n_ubatch tokens. */
int graph_init(graph_ctx *g, const model_hparams *hp, const model_weights *w, backend *be, int mla_mode,
               bool flash, int n_ctx, int n_ubatch, uint32_t type_k, uint32_t type_v, latte_err *err);
void graph_free(graph_ctx *g);

/* Runs n <= n_ubatch tokens at positions kv.n_past ...; writes logits of every token
 * (all_logits) or of the last one into logits ([rows][n_vocab]); advances kv.n_past. */
int graph_forward(graph_ctx *g, const int32_t *tokens, int n, bool all_logits, float *logits, latte_err *err);

/* pieces of the forward pass (graph/attention.c, graph/moe.c, graph/rope.c) */
int graph_attention(graph_ctx *g, int il, int n, latte_err *err);
int graph_ffn(graph_ctx *g, int il, int n, latte_err *err);
int graph_rope_init(graph_ctx *g, latte_err *err);
/* Chooses experts and their weights for n tokens from router logits (DeepSeek rules). */
void graph_route(const model_hparams *hp, const float *logits, const float *bias, int n, int ser_kmin,
                 float ser_thresh, int32_t *ids, float *weights);

#endif
