/* backend.h: the boundary between the forward pass and the code that runs it.
 * graph/ asks for operations through a table of function pointers (struct backend);
 * backend/cpu (and backend/cuda) fill it. A weight is an lt_tensor: shape, type, where its
 * bytes live and which backend holds them. Activations are f32 row-major buffers the graph
 * allocates through the backend that computes on them (buf_alloc), so they live where that
 * backend wants them (host memory for the CPU, device memory for a GPU).
 *
 * Asynchrony: every op returns a status and may only queue its work (a GPU backend runs
 * it on its stream); the CPU backend runs each op at once. `sync` waits for the queued work
 * and returns the first error any of it met. Index arrays that describe the batch (token
 * ids, positions, cache rows, runs, row lists) are host memory owned by the caller and read
 * before the op returns; a backend copies what it needs. Data produced by ops (activations,
 * routing ids and weights) stays in the backend's memory. */
#ifndef LATTE_BACKEND_H
#define LATTE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

typedef struct backend backend;

/* A weight or table: ne[0] contiguous; row j (over ne[1]*ne[2]*ne[3]) at data + j*row_bytes.
 * be: the backend whose memory holds data (NULL: host memory, e.g. the file's map);
 * dev: the device the placement plan gave it (0: the CPU), which runs the ops that use it. */
typedef struct lt_tensor {
    const char *name;
    uint32_t type;     /* QT_* */
    int64_t ne[4];
    size_t row_bytes;
    const void *data;
    backend *be;
    int dev;
} lt_tensor;

/* Rotary embedding tables for one model: per rotated pair i, the angle per position is
 * pos * theta[i]; cos/sin are multiplied by mscale. */
typedef struct rope_table {
    int n_rot;        /* rotated dims (pairs = n_rot / 2) */
    bool neox;        /* pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    float mscale;     /* multiplies cos and sin */
    const float *theta; /* [n_rot / 2], host memory */
} rope_table;

/* A run of consecutive tokens of one sequence inside a micro-batch: batch rows
 * [tok0, tok0 + n_tok) are positions pos0 .. pos0 + n_tok - 1, already written to the cache,
 * whose position p sits at cache row kv0 + p. Token tok0 + i attends to cache rows
 * kv0 .. kv0 + pos0 + i (causal, within its sequence only). */
typedef struct attn_run {
    int tok0, n_tok, pos0;
    int64_t kv0;
} attn_run;

/* Standard attention (no MLA, or MLA mode 0) over the runs of a micro-batch. */
typedef struct attn_std_args {
    const attn_run *runs;   /* host memory */
    int n_runs;
    int n_head, n_head_kv, d_k, d_v;
    float scale;
    const float *q;         /* [n_tok][n_head][d_k] */
    const void *k_cache;    /* [rows][n_head_kv][d_k] of k_type */
    const void *v_cache;    /* [rows][n_head_kv][d_v] of v_type */
    uint32_t k_type, v_type;
    bool flash;             /* online softmax over blocks instead of a full score row */
    float *out;             /* [n_tok][n_head][d_v] */
} attn_std_args;

/* Latent attention (MLA modes 1-3): all heads share one key [c_t, k_pe_t] and the value c_t. */
typedef struct attn_latent_args {
    const attn_run *runs;   /* host memory */
    int n_runs;
    int n_head, r, d_rope;
    float scale;
    int mode;               /* 1: transposed latent copy, 2: rows, 3: fused online softmax */
    bool flash;
    const float *q_lat;     /* [n_tok][n_head][r] */
    const float *q_pe;      /* [n_tok][n_head][d_rope] */
    const void *kv_cache;   /* [rows][r + d_rope] of kv_type: c then k_pe */
    const void *ct_cache;   /* mode 1: [r][ct_ld] of ct_type (c transposed: cache row = column) */
    int64_t ct_ld;
    uint32_t kv_type, ct_type;
    float *out;             /* [n_tok][n_head][r] */
} attn_latent_args;

/* MoE routing rules (DESIGN.md "MoE routing"), filled by the graph from the hyper-parameters. */
typedef struct route_params {
    int n_expert, n_used, n_group, n_group_used;
    bool sigmoid;           /* gating: sigmoid (V3) or softmax (V2) */
    bool weights_norm;      /* normalise the chosen weights to sum 1 */
    float weights_scale;
    int ser_kmin;           /* smart expert reduction: 0 off */
    float ser_thresh;
} route_params;

/* Operations a backend may be asked whether it supports (for placement and fallbacks). */
typedef enum backend_op {
    BOP_MATMUL,       /* weights of a type times f32 rows (also matmul_heads, matmul_experts) */
    BOP_GET_ROWS,     /* embedding lookup from a table of a type */
    BOP_CACHE,        /* a KV cache of a type (cache_write and the attention ops read it) */
} backend_op;

typedef struct backend_event backend_event;

typedef struct backend_ops {
    const char *name;
    void (*free)(backend *b); /* stops the backend and frees everything it owns */
    /* ---- capabilities and memory ---- */
    bool (*supports)(backend *b, backend_op op, uint32_t type);
    /* device memory of bytes (zeroed) or NULL; buf_free(NULL) is a no-op */
    void *(*buf_alloc)(backend *b, size_t bytes);
    void (*buf_free)(backend *b, void *p);
    /* Host memory the backend copies from and to fastest (pinned on a GPU). */
    void *(*host_alloc)(backend *b, size_t bytes);
    void (*host_free)(backend *b, void *p);
    /* Queued copies between host memory and this backend's memory; the host side must stay
     * valid until an event recorded after the copy completes (or sync). */
    int (*copy_in)(backend *b, void *dst, const void *host_src, size_t bytes);
    int (*copy_out)(backend *b, void *host_dst, const void *src, size_t bytes);
    /* rows x width bytes within this backend's memory, dst rows dld bytes apart, src sld */
    int (*copy_2d)(backend *b, void *dst, size_t dld, const void *src, size_t sld, size_t width, int64_t rows);
    /* An event marks a point in the backend's queue: record it, then wait for it on the
     * host (event_sync) or make another backend's queue wait for it (event_wait). */
    backend_event *(*event_new)(backend *b);
    void (*event_free)(backend *b, backend_event *e);
    int (*event_record)(backend *b, backend_event *e);
    int (*event_wait)(backend *b, backend_event *e);
    int (*event_sync)(backend *b, backend_event *e);
    /* Waits for all queued work; returns 0 or the first error of it. */
    int (*sync)(backend *b);
    /* Optional (NULL: the backend reads weights where they are): makes the backend's own
     * copy of a weight now, when a context starts, so that running out of device memory is
     * one error there; LATTE_E_NOMEM when it does not fit. */
    int (*weight_load)(backend *b, const lt_tensor *w);

    /* ---- compute ---- */
    /* y[i*ldy + j] = x[i] . W[row0 + j] for i < n, j < m; x is [n][W.ne[0]] */
    int (*matmul)(backend *b, const lt_tensor *w, int64_t row0, int64_t m, const float *x, int64_t n, float *y,
                  int64_t ldy);
    /* One product per head h < n_head (MLA absorption): for every token i < n,
     * y[i*ldy + h*ys + j] = W[h*head_rows + row_off + j] . x[i*ldx + h*xs .. + W.ne[0]], j < m. */
    int (*matmul_heads)(backend *b, const lt_tensor *w, int n_head, int64_t head_rows, int64_t row_off, int64_t m,
                        const float *x, int64_t ldx, int64_t xs, int64_t n, float *y, int64_t ldy, int64_t ys);
    /* MoE: for each token i and slot s < n_used, y[(i*n_used+s)][...] = W_e x_i with
     * e = ids[i*n_used+s] (e < 0: the slot is skipped); W is 3-D {k, m, n_expert}. */
    int (*matmul_experts)(backend *b, const lt_tensor *w, const int32_t *ids, int n_used, const float *x,
                          int64_t ldx, int64_t n, float *y);
    /* out[i] = dequantized row ids[i] of w (ids: host memory, checked against the table) */
    int (*get_rows)(backend *b, const lt_tensor *w, const int32_t *ids, int n, float *out);
    /* y[i] = x[i] / rms(x[i]) * w for n rows of d (w: an f32 tensor of d, or NULL) */
    int (*rms_norm)(backend *b, const float *x, int64_t ldx, const lt_tensor *w, int n, int d, float eps, float *y,
                    int64_t ldy);
    /* rotates n_tok x n_head vectors in place: vector (i, h) at x + i*ld_tok + h*ld_head, at
     * position pos[i] (host memory) */
    int (*rope)(backend *b, float *x, int n_tok, int n_head, int64_t ld_tok, int64_t ld_head, const int32_t *pos,
                const rope_table *rt);
    /* y = a + b (n elems) */
    int (*add)(backend *b, const float *a, const float *bb, float *y, int64_t n);
    /* x[i][j] += bias[j] (bias: an f32 tensor of d) */
    int (*add_bias)(backend *b, float *x, const lt_tensor *bias, int n, int d);
    /* y[i] = silu(g[i]) * u[i] */
    int (*silu_mul)(backend *b, const float *g, const float *u, float *y, int64_t n);
    /* chooses n_used experts per token from router logits [n][n_expert] (bias: selection bias,
     * an f32 tensor of n_expert, or NULL); ids [n][n_used] (-1: dropped by SER), weights */
    int (*route)(backend *b, const route_params *rp, const float *logits, const lt_tensor *bias, int n, int32_t *ids,
                 float *weights);
    /* out[i] (+)= sum_s weights[i*n_used+s] * d[(i*n_used+s)][...] over slots with ids >= 0;
     * out is overwritten unless accumulate */
    int (*moe_combine)(backend *b, const float *d, const int32_t *ids, const float *weights, int n, int n_used, int dim,
                       float *out, bool accumulate);
    /* writes n rows of width d from src (f32) into the cache: row i to cache row rows[i]
     * (host memory) of type t; when transposed, dst is [d][ld] and row r goes to column r */
    int (*cache_write)(backend *b, void *dst, uint32_t t, int64_t ld, bool transposed, const int64_t *rows,
                       const float *src, int n, int d);
    /* Walsh-Hadamard rotation, normalised so that it is its own inverse: in each of n rows
     * (x + i*ld), every consecutive block of len elements (len a power of two) among the
     * first width. NULL: the backend has none (--k-cache-hadamard is then refused). */
    int (*hadamard)(backend *b, float *x, int64_t ld, int64_t n, int64_t width, int len);
    int (*attn_std)(backend *b, const attn_std_args *a);
    int (*attn_latent)(backend *b, const attn_latent_args *a);
} backend_ops;

struct backend {
    const backend_ops *ops;
    void *impl;
};

/* The CPU backend (always present). n_threads <= 0: one thread per physical core. */
int backend_cpu_init(backend **out, int n_threads, latte_err *err);
/* Threads the CPU backend runs with. */
int backend_cpu_threads(const backend *b);
/* Physical cores (and logical CPUs) of this host, from the OS; >= 1. */
int backend_cpu_physical_cores(void);
int backend_cpu_logical_cpus(void);
/* Frees any backend (NULL: no-op). */
void backend_free(backend *b);

/* The CPU's reference routing (also what tests compare other backends' routing with). */
void cpu_route_ref(const route_params *rp, const float *logits, const float *bias, int n, int32_t *ids,
                   float *weights);

#endif
