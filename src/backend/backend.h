/* backend.h: the boundary between the forward pass and the code that runs it.
 * graph/ asks for operations through a table of function pointers (struct backend);
 * backend/cpu (and later backend/cuda) fill it. A weight is an lt_tensor: shape, type
 * and where its bytes live. Activations are f32 row-major buffers owned by the caller
 * and living where the backend says (host memory for the CPU backend). */
#ifndef LATTE_BACKEND_H
#define LATTE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

/* A weight or table: ne[0] contiguous; row j (over ne[1]*ne[2]*ne[3]) at data + j*row_bytes. */
typedef struct lt_tensor {
    const char *name;
    uint32_t type;     /* QT_* */
    int64_t ne[4];
    size_t row_bytes;
    const void *data;
} lt_tensor;

/* Rotary embedding tables for one model: per rotated pair i, the angle per position is
 * pos * theta[i]; cos/sin are multiplied by mscale. */
typedef struct rope_table {
    int n_rot;        /* rotated dims (pairs = n_rot / 2) */
    bool neox;        /* pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
    float mscale;     /* multiplies cos and sin */
    const float *theta; /* [n_rot / 2] */
} rope_table;

/* Standard attention (no MLA, or MLA mode 0) for n_tok new tokens that are already in
 * the cache at positions pos0 .. pos0+n_tok-1. */
typedef struct attn_std_args {
    int n_tok, pos0;
    int n_head, n_head_kv, d_k, d_v;
    float scale;
    const float *q;         /* [n_tok][n_head][d_k] */
    const void *k_cache;    /* [n_ctx][n_head_kv][d_k] of k_type */
    const void *v_cache;    /* [n_ctx][n_head_kv][d_v] of v_type */
    uint32_t k_type, v_type;
    bool flash;             /* online softmax over blocks instead of a full score row */
    float *out;             /* [n_tok][n_head][d_v] */
} attn_std_args;

/* Latent attention (MLA modes 1-3): all heads share one key [c_t, k_pe_t] and the value c_t. */
typedef struct attn_latent_args {
    int n_tok, pos0;
    int n_head, r, d_rope;
    float scale;
    int mode;               /* 1: transposed latent copy, 2: rows, 3: fused online softmax */
    bool flash;
    const float *q_lat;     /* [n_tok][n_head][r] */
    const float *q_pe;      /* [n_tok][n_head][d_rope] */
    const void *kv_cache;   /* [n_ctx][r + d_rope] of kv_type: c then k_pe */
    const void *ct_cache;   /* mode 1: [r][n_ctx] of ct_type (c transposed) */
    int n_ctx;
    uint32_t kv_type, ct_type;
    float *out;             /* [n_tok][n_head][r] */
} attn_latent_args;

typedef struct backend backend;

typedef struct backend_ops {
    const char *name;
    bool (*supports_type)(backend *b, uint32_t wtype);
    /* y[i*ldy + j] = x[i] . W[row0 + j] for i < n, j < m; x is [n][W.ne[0]] */
    int (*matmul)(backend *b, const lt_tensor *w, int64_t row0, int64_t m, const float *x, int64_t n,
                  float *y, int64_t ldy);
    /* MoE: for each token i and slot s < n_used, y[(i*n_used+s)][...] = W_e x_i with
     * e = ids[i*n_used+s]; W is 3-D {k, m, n_expert}. */
    int (*matmul_experts)(backend *b, const lt_tensor *w, const int32_t *ids, int n_used, const float *x,
                          int64_t ldx, int64_t n, float *y);
    /* out[i] = dequantized row ids[i] of w */
    int (*get_rows)(backend *b, const lt_tensor *w, const int32_t *ids, int n, float *out);
    /* y[i] = x[i] / rms(x[i]) * w (w may be NULL) for n rows of d, strides ldx/ldy */
    void (*rms_norm)(backend *b, const float *x, int64_t ldx, const float *w, int n, int d, float eps, float *y,
                     int64_t ldy);
    /* rotates n_tok x n_head vectors in place: vector (i, h) at x + i*ld_tok + h*ld_head,
     * position pos0 + i */
    void (*rope)(backend *b, float *x, int n_tok, int n_head, int64_t ld_tok, int64_t ld_head, int pos0,
                 const rope_table *rt);
    /* y = a + b (n elems) */
    void (*add)(backend *b, const float *a, const float *bb, float *y, int64_t n);
    /* x[i][j] += bias[j] */
    void (*add_bias)(backend *b, float *x, const float *bias, int n, int d);
    /* y[i] = silu(g[i]) * u[i] */
    void (*silu_mul)(backend *b, const float *g, const float *u, float *y, int64_t n);
    /* writes n rows of width d from src (f32) into dst rows [row0, row0+n) of type t; when
     * transposed, dst is [d][ld] and row r goes to column r */
    void (*cache_write)(backend *b, void *dst, uint32_t t, int64_t ld, bool transposed, int row0, const float *src,
                        int n, int d);
    int (*attn_std)(backend *b, const attn_std_args *a);
    int (*attn_latent)(backend *b, const attn_latent_args *a);
} backend_ops;

struct backend {
    const backend_ops *ops;
    void *impl;
};

/* The CPU backend (always present). n_threads <= 0: all cores. */
int backend_cpu_init(backend **out, int n_threads, latte_err *err);
void backend_free(backend *b);

#endif
