/* kv.c: allocation of the KV cache in each layer's backend memory (zeroed, so unused rows
 * read as zeros) and the copy of one sequence's rows to another (prompt-prefix reuse). */
#include "kv.h"

#include <stdlib.h>
#include <string.h>

#include "../base/checked.h"
#include "../quant/quant.h"

bool kv_type_ok(uint32_t t) {
    return t == QT_F32 || t == QT_F16 || t == QT_BF16 || t == QT_Q8_0 || t == QT_Q6_0 || t == QT_Q4_0;
}

uint64_t kv_bytes_per_token(int n_layer, int64_t k_width, uint32_t type_k, int64_t v_width, uint32_t type_v) {
    uint64_t per = quant_row_bytes(type_k, k_width) + (v_width ? quant_row_bytes(type_v, v_width) : 0);
    return per * (uint64_t)n_layer;
}

int kv_init(kv_cache *kv, kv_kind kind, int n_layer, int n_seq, int n_ctx_seq, int64_t k_width, int64_t v_width,
            bool transposed, uint32_t type_k, uint32_t type_v, backend *const *be, latte_err *err) {
    memset(kv, 0, sizeof *kv);
    kv->kind = kind, kv->n_layer = n_layer, kv->n_seq = n_seq, kv->n_ctx_seq = n_ctx_seq;
    kv->n_rows = (int64_t)n_seq * n_ctx_seq;
    kv->k_width = k_width, kv->v_width = v_width, kv->transposed = transposed;
    kv->type_k = type_k, kv->type_v = type_v;
    bool need_v = kind == KV_STANDARD || transposed;
    if (!kv_type_ok(type_k) || (need_v && !kv_type_ok(type_v)))
        return err_set(err, LATTE_E_ARG, "unsupported KV cache type (use f32, f16, bf16, q8_0, q6_0 or q4_0)");
    for (int il = 0; il < n_layer; il++)
        if (!be[il]->ops->supports(be[il], BOP_CACHE, type_k) || (need_v && !be[il]->ops->supports(be[il], BOP_CACHE, type_v)))
            return err_set(err, LATTE_E_UNSUPPORTED, "the %s backend cannot hold a %s/%s KV cache", be[il]->ops->name,
                           quant_type_info_get(type_k)->name, quant_type_info_get(type_v)->name);
    size_t krow = quant_row_bytes(type_k, k_width);
    /* a transposed cache is written one element at a time: rows there run along positions */
    size_t vrow = need_v ? quant_row_bytes(type_v, transposed ? kv->n_rows : v_width) : 0;
    if (!krow || (need_v && !vrow))
        return err_set(err, LATTE_E_ARG, "KV cache type does not fit row widths %lld/%lld (block size)",
                       (long long)k_width, (long long)(transposed ? kv->n_rows : v_width));
    uint64_t kb, vb;
    if (!ck_mul_u64(krow, (uint64_t)kv->n_rows, &kb) ||
        !ck_mul_u64(vrow, transposed ? (uint64_t)v_width : (uint64_t)kv->n_rows, &vb) || kb > SIZE_MAX || vb > SIZE_MAX)
        return err_set(err, LATTE_E_NOMEM, "KV cache size overflows");
    kv->k = calloc((size_t)n_layer, sizeof *kv->k);
    kv->v = calloc((size_t)n_layer, sizeof *kv->v);
    kv->be = calloc((size_t)n_layer, sizeof *kv->be);
    kv->seq_len = calloc((size_t)n_seq, sizeof *kv->seq_len);
    if (!kv->k || !kv->v || !kv->be || !kv->seq_len) return err_set(err, LATTE_E_NOMEM, "out of memory for the KV cache");
    for (int il = 0; il < n_layer; il++) {
        kv->be[il] = be[il];
        kv->k[il] = be[il]->ops->buf_alloc(be[il], (size_t)kb);
        if (need_v) kv->v[il] = be[il]->ops->buf_alloc(be[il], (size_t)vb);
        if (!kv->k[il] || (need_v && !kv->v[il]))
            return err_set(err, LATTE_E_NOMEM, "%s: out of memory for the KV cache (%llu bytes per layer): reduce the context (-c)",
                           be[il]->ops->name, (unsigned long long)(kb + vb));
        kv->bytes += kb + (need_v ? vb : 0);
    }
    return 0;
}

int kv_seq_copy(kv_cache *kv, int src, int dst, int n, latte_err *err) {
    if (src == dst || n <= 0) {
        if (n >= 0) kv->seq_len[dst] = n;
        return 0;
    }
    size_t krow = quant_row_bytes(kv->type_k, kv->k_width);
    for (int il = 0; il < kv->n_layer; il++) {
        backend *be = kv->be[il];
        int rc = be->ops->copy_2d(be, (char *)kv->k[il] + (size_t)kv_row(kv, dst, 0) * krow, 0,
                                  (const char *)kv->k[il] + (size_t)kv_row(kv, src, 0) * krow, 0, krow * (size_t)n, 1);
        if (!rc && kv->v[il] && !kv->transposed) {
            size_t vrow = quant_row_bytes(kv->type_v, kv->v_width);
            rc = be->ops->copy_2d(be, (char *)kv->v[il] + (size_t)kv_row(kv, dst, 0) * vrow, 0,
                                  (const char *)kv->v[il] + (size_t)kv_row(kv, src, 0) * vrow, 0, vrow * (size_t)n, 1);
        } else if (!rc && kv->v[il]) { /* transposed: n columns of every one of the v_width rows */
            size_t es = quant_row_bytes(kv->type_v, 1), ld = es * (size_t)kv->n_rows;
            rc = be->ops->copy_2d(be, (char *)kv->v[il] + (size_t)kv_row(kv, dst, 0) * es, ld,
                                  (const char *)kv->v[il] + (size_t)kv_row(kv, src, 0) * es, ld, es * (size_t)n,
                                  kv->v_width);
        }
        if (rc) return err_set(err, rc, "layer %d: copying the cache of sequence %d to %d failed", il, src, dst);
    }
    kv->seq_len[dst] = n;
    return 0;
}

void kv_free(kv_cache *kv) {
    for (int il = 0; kv->k && il < kv->n_layer; il++)
        if (kv->be && kv->be[il]) kv->be[il]->ops->buf_free(kv->be[il], kv->k[il]);
    for (int il = 0; kv->v && il < kv->n_layer; il++)
        if (kv->be && kv->be[il]) kv->be[il]->ops->buf_free(kv->be[il], kv->v[il]);
    free(kv->k);
    free(kv->v);
    free(kv->be);
    free(kv->seq_len);
    memset(kv, 0, sizeof *kv);
}
