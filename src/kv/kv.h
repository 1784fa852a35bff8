/* kv.h: the KV cache of one context, split into n_seq equal regions, one per sequence:
 * position p of sequence s sits at cache row s * n_ctx_seq + p. Standard caches hold
 * per-layer K [rows][k_width] and V [rows][v_width]; latent (MLA modes 1-3) caches hold
 * per-layer [rows][r + d_rope] rows (normalised latent c, then roped k_pe), and mode 1 also
 * a transposed copy of c [r][rows] for the value product. Rows are stored in the cache type
 * (f32, f16, bf16, q8_0, ...) in the memory of the backend that runs each layer's
 * attention. Each sequence holds positions 0 .. seq_len[s]-1. */
#ifndef LATTE_KV_H
#define LATTE_KV_H

#include <stdbool.h>
#include <stdint.h>

#include "../backend/backend.h"
#include "../base/err.h"

typedef enum kv_kind { KV_STANDARD, KV_LATENT } kv_kind;

typedef struct kv_cache {
    kv_kind kind;
    int n_layer;
    int n_seq, n_ctx_seq;     /* sequences and positions per sequence */
    int64_t n_rows;           /* n_seq * n_ctx_seq */
    int64_t k_width, v_width; /* standard: per-token K and V widths; latent: r + d_rope, and r */
    bool transposed;          /* latent mode 1: keep c transposed too (in v) */
    uint32_t type_k, type_v;
    void **k, **v;            /* [n_layer], in the memory of be[il] */
    backend **be;             /* [n_layer] the backend holding each layer's cache */
    int *seq_len;             /* [n_seq] */
    uint64_t bytes;
} kv_cache;

/* Allocates the cache: n_seq regions of n_ctx_seq rows per layer, layer il in be[il]'s
 * memory. Standard: k_width/v_width per token; latent: k_width = r + d_rope, v_width = r
 * (only used when transposed). Types must be block-compatible with the widths. */
int kv_init(kv_cache *kv, kv_kind kind, int n_layer, int n_seq, int n_ctx_seq, int64_t k_width, int64_t v_width,
            bool transposed, uint32_t type_k, uint32_t type_v, backend *const *be, latte_err *err);
void kv_free(kv_cache *kv);
/* Cache row of position pos of sequence seq. */
static inline int64_t kv_row(const kv_cache *kv, int seq, int pos) { return (int64_t)seq * kv->n_ctx_seq + pos; }
/* Copies positions [0, n) of sequence src to sequence dst (dst's length becomes n).
 * Returns 0 or the backend's error. */
int kv_seq_copy(kv_cache *kv, int src, int dst, int n, latte_err *err);
/* Bytes per token over all layers for these widths and types. */
uint64_t kv_bytes_per_token(int n_layer, int64_t k_width, uint32_t type_k, int64_t v_width, uint32_t type_v);
/* Cache types allowed: f32, f16, bf16, q8_0, q6_0, q4_0 (by ggml id). */
bool kv_type_ok(uint32_t type);

#endif
