/* kv.c: allocation of the KV cache (zeroed, so unused rows read as zeros). */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

#include "../base/checked.h"
#include "../quant/quant.h"

bool kv_type_ok(uint32_t t) {
    return t == QT_F32 || t == QT_F16 || t == QT_BF16 || t == QT_Q8_0 || t == QT_Q4_0;
}

uint64_t kv_bytes_per_token(int n_layer, int64_t k_width, uint32_t type_k, int64_t v_width, uint32_t type_v) {
    uint64_t per = quant_row_bytes(type_k, k_width) + (v_width ? quant_row_bytes(type_v, v_width) : 0);
    return per * (uint64_t)n_layer;
}

int kv_init(kv_cache *kv, kv_kind kind, int n_layer, int n_ctx, int64_t k_width, int64_t v_width, bool transposed,
            uint32_t type_k, uint32_t type_v, latte_err *err) {
    memset(kv, 0, sizeof *kv);
    kv->kind = kind, kv->n_layer = n_layer, kv->n_ctx = n_ctx;
    kv->k_width = k_width, kv->v_width = v_width, kv->transposed = transposed;
    kv->type_k = type_k, kv->type_v = type_v;
    bool need_v = kind == KV_STANDARD || transposed;
    if (!kv_type_ok(type_k) || (need_v && !kv_type_ok(type_v)))
        return err_set(err, LATTE_E_ARG, "unsupported KV cache type (use f32, f16, bf16, q8_0 or q4_0)");
    size_t krow = quant_row_bytes(type_k, k_width);
    /* a transposed cache is written one element at a time: rows there run along positions */
    size_t vrow = need_v ? quant_row_bytes(type_v, transposed ? n_ctx : v_width) : 0;
    if (!krow || (need_v && !vrow))
        return err_set(err, LATTE_E_ARG, "KV cache type does not fit row widths %lld/%lld (block size)",
                       (long long)k_width, (long long)(transposed ? n_ctx : v_width));
    uint64_t kb, vb;
    if (!ck_mul_u64(krow, (uint64_t)n_ctx, &kb) || !ck_mul_u64(vrow, transposed ? (uint64_t)v_width : (uint64_t)n_ctx, &vb))
        return err_set(err, LATTE_E_NOMEM, "KV cache size overflows");
    kv->k = calloc((size_t)n_layer, sizeof *kv->k);
    kv->v = calloc((size_t)n_layer, sizeof *kv->v);
    if (!kv->k || !kv->v) return err_set(err, LATTE_E_NOMEM, "out of memory for the KV cache");
    for (int il = 0; il < n_layer; il++) {
        kv->k[il] = calloc(1, kb);
        if (need_v) kv->v[il] = calloc(1, vb);
        if (!kv->k[il] || (need_v && !kv->v[il]))
            return err_set(err, LATTE_E_NOMEM, "out of memory for the KV cache (%llu bytes per layer)",
                           (unsigned long long)(kb + vb));
        kv->bytes += kb + (need_v ? vb : 0);
    }
    return 0;
}

void kv_free(kv_cache *kv) {
    for (int il = 0; kv->k && il < kv->n_layer; il++) free(kv->k[il]);
    for (int il = 0; kv->v && il < kv->n_layer; il++) free(kv->v[il]);
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}
