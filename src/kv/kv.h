/* kv.h: the KV cache of one context. Standard caches hold per-layer K [n_ctx][k_width]
 * and V [n_ctx][v_width]; latent (MLA modes 1-3) caches hold per-layer [n_ctx][r + d_rope]
 * rows (normalised latent c, then roped k_pe), and mode 1 also a transposed copy of c
 * [r][n_ctx] for the value product. Rows are stored in the cache type (f32, f16, bf16,
 * q8_0, ...); one timeline, positions 0 .. n_past-1. */
#ifndef LATTE_KV_H
#define LATTE_KV_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/err.h"

typedef enum kv_kind { KV_STANDARD, KV_LATENT } kv_kind;

typedef struct kv_cache {
    kv_kind kind;
    int n_layer, n_ctx;
    int64_t k_width, v_width; /* standard: per-token K and V widths; latent: r + d_rope, and r */
    bool transposed;          /* latent mode 1: keep c transposed too (in v) */
    uint32_t type_k, type_v;
    void **k, **v;            /* [n_layer] */
    uint64_t bytes;
    int n_past;
} kv_cache;

/* Allocates the cache. Standard: k_width/v_width per token; latent: k_width = r + d_rope,
 * v_width = r (only used when transposed). Types must be block-compatible with the widths. */
int kv_init(kv_cache *kv, kv_kind kind, int n_layer, int n_ctx, int64_t k_width, int64_t v_width, bool transposed,
            uint32_t type_k, uint32_t type_v, latte_err *err);
void kv_free(kv_cache *kv);
/* Bytes per token over all layers for these widths and types. */
uint64_t kv_bytes_per_token(int n_layer, int64_t k_width, uint32_t type_k, int64_t v_width, uint32_t type_v);
/* Cache types allowed: f32, f16, bf16, q8_0, q4_0 (by ggml id). */
bool kv_type_ok(uint32_t type);

#endif
