/* cuda_ops.h: the CUDA op library, a plain C interface over device pointers.
 * Every op is enqueued on a stream (a cudaStream_t passed as the opaque cuda_stream; NULL is
 * the default stream) and returns at once: 0, or a negative LATTE_E_* with a one-line message
 * when the arguments are bad or the launch fails. Pointers named "device" must be device
 * memory; nothing here allocates, syncs or copies to the host. The engine's backend (later
 * backend_cuda) wires these into the op table; tests/test_cuda_ops.c checks each op against
 * the CPU reference. Shapes in comments are [outer][inner], inner contiguous. */
#ifndef LATTE_CUDA_OPS_H
#define LATTE_CUDA_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <latte.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *cuda_stream; /* a cudaStream_t */

/* What the kernels were tuned by; filled once per device. */
typedef struct cuda_device_info {
    int cc_major, cc_minor;
    int n_sm;
    size_t smem_optin;  /* the largest dynamic shared memory one block may ask for */
    size_t global_mem;
    char name[128];
} cuda_device_info;

/* Number of CUDA devices (0 when no driver or no GPU; never an error). */
int cuda_ops_device_count(void);
/* Selects device dev for this thread, reads its properties into out and prepares the kernels
 * (shared memory limits); call once per device before any op. */
int cuda_ops_init(int dev, cuda_device_info *out, latte_err *err);

/* A weight matrix in device memory: m rows of k elements of type (QT_*), row j at
 * data + j*row_bytes; for MoE, n_expert such matrices, expert e at data + e*expert_bytes. */
typedef struct cuda_weight {
    uint32_t type;
    int64_t k, m;
    size_t row_bytes;
    const void *data;
    int64_t n_expert;
    size_t expert_bytes;
} cuda_weight;

/* true when cuda_matmul, cuda_moe_matmul and cuda_get_rows run weights of this type:
 * f32, f16, bf16, q8_0, q4_0, q4_1, q4_K, q5_K, q6_K, iq4_xs. */
bool cuda_matmul_supports(uint32_t type);

/* y[i*ldy + j] = x[i] . W[j] for i < n, j < w->m; x is [n][ldx] f32 (ldx >= k, a multiple of 4,
 * x 16-byte aligned). Small n runs a mat-vec kernel (each weight byte read once for all n rows);
 * large n a tensor-core (tf32) tiled product. */
int cuda_matmul(cuda_stream s, const cuda_weight *w, const float *x, int64_t ldx, int64_t n, float *y, int64_t ldy,
                latte_err *err);

/* Bytes of workspace cuda_moe_matmul needs for n*n_used (token, slot) pairs. */
size_t cuda_moe_workspace_bytes(int64_t n_expert, int64_t n_pairs);
/* MoE: for token i < n and slot s < n_used with e = ids[i*n_used + s] (device), row
 * i*n_used + s of y (stride ldy) = W_e x_i, x_i at x + i*ldx. ids < 0 leave their y row untouched.
 * ids >= n_expert are a caller bug and are skipped too. Few pairs run one mat-vec per pair;
 * many run a grouped product: pairs bucketed by expert on the device (in ws), each expert's
 * weights read once per tile of its rows. */
int cuda_moe_matmul(cuda_stream s, const cuda_weight *w, const int32_t *ids, int n_used, const float *x, int64_t ldx,
                    int64_t n, float *y, int64_t ldy, void *ws, size_t ws_bytes, latte_err *err);

/* out[i] = dequantized row ids[i] of w (f32, w->k wide); ids (device) out of range give NaN rows. */
int cuda_get_rows(cuda_stream s, const cuda_weight *w, const int32_t *ids, int n, float *out, latte_err *err);

/* y[i] = x[i] / rms(x[i]) * w (w may be NULL) for n rows of d; strides ldx, ldy. */
int cuda_rms_norm(cuda_stream s, const float *x, int64_t ldx, const float *w, int n, int d, float eps, float *y,
                  int64_t ldy, latte_err *err);

/* Rotates n_tok x n_head vectors in place: vector (i, h) at x + i*ld_tok + h*ld_head, at position
 * pos[i] (device). theta (device, [n_rot/2]) holds the angle per position of each pair, as
 * graph/rope.c builds it; neox pairs (p, p + n_rot/2), otherwise (2p, 2p+1); cos and sin are
 * multiplied by mscale. */
int cuda_rope(cuda_stream s, float *x, int n_tok, int n_head, int64_t ld_tok, int64_t ld_head, const int32_t *pos,
              int n_rot, bool neox, float mscale, const float *theta, latte_err *err);

/* y = a + b; y = silu(g) * u; x[i][j] += bias[j] (n rows of d). n elements each. */
int cuda_add(cuda_stream s, const float *a, const float *b, float *y, int64_t n, latte_err *err);
int cuda_silu_mul(cuda_stream s, const float *g, const float *u, float *y, int64_t n, latte_err *err);
int cuda_add_bias(cuda_stream s, float *x, const float *bias, int n, int d, latte_err *err);
/* dst[0..n) = src[0..n) (device to device, a kernel: it runs inside graphs at full speed) */
int cuda_copy(cuda_stream s, void *dst, const void *src, size_t n, latte_err *err);

/* Writes n f32 rows of d into a cache of type t (f32, f16, bf16; q8_0 when d % 32 == 0): row i
 * to cache row rows[i] (device); when transposed (f32/f16/bf16), dst is [d][ld] and row i goes
 * to column rows[i]. Rounding as the CPU's quant_quant_row. */
int cuda_cache_write(cuda_stream s, void *dst, uint32_t t, int64_t ld, bool transposed, const int64_t *rows,
                     const float *src, int n, int d, latte_err *err);
/* out[i] (+)= sum over s < n_used with ids[i*n_used+s] >= 0 of weights[i*n_used+s] * d[i*n_used+s]
 * (rows of dim); out is overwritten unless accumulate. All device pointers. */
int cuda_moe_combine(cuda_stream s, const float *d, const int32_t *ids, const float *weights, int n, int n_used,
                     int dim, float *out, bool accumulate, latte_err *err);

/* DeepSeek MoE routing, the same function as graph_route (src/graph/moe.c). */
typedef struct cuda_route_params {
    int n_expert, n_used;           /* n_expert <= 1024 */
    int n_group, n_group_used;      /* group-limited top-k when n_group > 1 and n_group_used < n_group */
    bool sigmoid;                   /* sigmoid scores (V3) instead of softmax (V2) */
    bool norm;                      /* weights normalised to sum 1 */
    float scale;                    /* then multiplied by this */
    int ser_kmin;                   /* > 0: smart expert reduction beyond the best ser_kmin */
    float ser_thresh;
} cuda_route_params;
/* logits [n][n_expert], bias [n_expert] or NULL -> ids [n][n_used] (-1 for SER-dropped),
 * weights [n][n_used]. All device pointers. */
int cuda_route(cuda_stream s, const cuda_route_params *p, const float *logits, const float *bias, int n, int32_t *ids,
               float *weights, latte_err *err);

/* One sequence's part of a batch: tokens tok0 .. tok0+n_tok-1 at positions pos0 .. pos0+n_tok-1,
 * already written into the cache; token tok0+i attends to KV rows seq*n_ctx_seq + [0, pos0+i]. */
typedef struct cuda_run {
    int32_t tok0, n_tok, seq, pos0;
} cuda_run;

/* Latent (MLA) attention, FlashMLA-style: each cache row [c (r) | k_pe (d_rope)] is read once per
 * tile for 16 (token, head) query rows of its run; long contexts split over the sequence with
 * a combine pass. q_lat, q_pe and 16-bit cache rows 16-byte aligned. */
typedef struct cuda_mla_args {
    int n_tok;                  /* tokens in the batch */
    int n_head, r, d_rope;      /* r = 512, d_rope = 64 for DeepSeek; r, d_rope multiples of 32 */
    float scale;
    const float *q_lat;         /* [n_tok][n_head][r] */
    const float *q_pe;          /* [n_tok][n_head][d_rope] */
    const void *kv_cache;       /* [rows][r + d_rope] of kv_type (f16, bf16, q8_0, f32) */
    uint32_t kv_type;
    int n_ctx_seq;              /* rows per sequence */
    const cuda_run *runs;       /* device, [n_runs] */
    int n_runs;
    int max_run_tok;            /* host-side bounds that size the grid: max n_tok of a run */
    int max_kv_len;             /* max pos0 + n_tok of a run */
    float *out;                 /* [n_tok][n_head][r] */
    bool f32_math;              /* f32 arithmetic throughout; else f16/bf16/q8_0 caches with r = 512 run
                                 * on the tensor cores with queries and probabilities rounded to the
                                 * cache's 16-bit type (q8_0: f16; f16 queries must stay under 65504) */
} cuda_mla_args;
size_t cuda_mla_workspace_bytes(const cuda_mla_args *a);
int cuda_mla_attn(cuda_stream s, const cuda_mla_args *a, void *ws, size_t ws_bytes, latte_err *err);

/* Standard (GQA) attention over K/V caches of f16, bf16, q8_0 or f32 rows. */
typedef struct cuda_attn_args {
    int n_tok;
    int n_head, n_head_kv, d_k, d_v; /* d_k, d_v multiples of 32, <= 256 */
    float scale;
    const float *q;             /* [n_tok][n_head][d_k] */
    const void *k_cache;        /* [rows][n_head_kv][d_k] of k_type */
    const void *v_cache;        /* [rows][n_head_kv][d_v] of v_type */
    uint32_t k_type, v_type;
    int n_ctx_seq;
    const cuda_run *runs;       /* device */
    int n_runs;
    float *out;                 /* [n_tok][n_head][d_v] */
} cuda_attn_args;
int cuda_attn(cuda_stream s, const cuda_attn_args *a, latte_err *err);

#ifdef __cplusplus
}
#endif

#endif
