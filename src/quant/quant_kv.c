/* quant_kv.c: quantization for the KV cache. The cache is written once per token and read by
 * every later token, so it is worth choosing each block's scale well: for the symmetric
 * block types (q8_0, q6_0, q4_0) the levels are tried for a range of scales around the
 * block's extreme, the scale is refitted by least squares for each choice of levels, and the
 * one with the least squared error is kept. Same block layouts as the reference quantizers
 * (quant.c), so every reader of the cache is unchanged. Other types use quant_quant_row. */
#include <math.h>
#include <string.h>

#include "quant.h"

enum { KV_QK = 32, KV_STEPS = 24 };

/* Levels q[j] in [-nmax, nmax - 1] and the scale d that make d*q closest to x; returns d. */
static float fit_block(const float *x, int nmax, int8_t *q) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < KV_QK; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    memset(q, 0, KV_QK);
    if (amax == 0.0f) return 0.0f;
    float best_d = 0.0f, best_score = -1.0f;
    int8_t t[KV_QK];
    /* the extreme maps to -nmax (the extra negative level) or to nmax - 1, at scales from a
     * little past it (clipping the extreme) to well inside it */
    for (int side = 0; side < 2; side++)
        for (int s = 0; s <= KV_STEPS; s++) {
            float lvl = side ? (float)(nmax - 1) : -(float)nmax;
            float id = lvl * (1.1f - 0.4f * (float)s / KV_STEPS) / max;
            float sxq = 0.0f, sqq = 0.0f;
            for (int j = 0; j < KV_QK; j++) {
                int v = (int)lrintf(x[j] * id);
                v = v < -nmax ? -nmax : v > nmax - 1 ? nmax - 1 : v;
                t[j] = (int8_t)v;
                sxq += x[j] * (float)v;
                sqq += (float)(v * v);
            }
            /* the least-squares scale for these levels leaves an error of sum(x^2) - sxq^2/sqq */
            float score = sqq > 0.0f ? sxq * sxq / sqq : 0.0f;
            if (score > best_score) {
                best_score = score;
                best_d = sqq > 0.0f ? sxq / sqq : 0.0f;
                memcpy(q, t, KV_QK);
            }
        }
    return best_d;
}

static void kv_q8_0(const float *x, uint8_t *b) {
    int8_t q[KV_QK];
    quant_put_f16(b, fit_block(x, 128, q));
    memcpy(b + 2, q, KV_QK);
}

/* q4_0 and q6_0 store level + nmax */
static void kv_offset(const float *x, int nmax, uint8_t *b, void (*pack)(const uint8_t *, uint8_t *)) {
    int8_t q[KV_QK];
    uint8_t lv[KV_QK];
    quant_put_f16(b, fit_block(x, nmax, q));
    for (int j = 0; j < KV_QK; j++) lv[j] = (uint8_t)(q[j] + nmax);
    pack(lv, b + 2);
}

static void kv_q4_0(const float *x, uint8_t *b) { kv_offset(x, 8, b, quant_pack_nibbles); }
static void kv_q6_0(const float *x, uint8_t *b) { kv_offset(x, 32, b, quant_pack_q6_0); }

void quant_kv_row(uint32_t type, const float *src, void *dst, int64_t n) {
    void (*blk)(const float *, uint8_t *) = type == QT_Q8_0 ? kv_q8_0 : type == QT_Q4_0 ? kv_q4_0
                                          : type == QT_Q6_0 ? kv_q6_0 : NULL;
    if (!blk) {
        quant_quant_row(type, src, dst, n);
        return;
    }
    if (n <= 0 || n % KV_QK) return;
    size_t bb = quant_row_bytes(type, KV_QK);
    for (int64_t i = 0; i < n / KV_QK; i++) blk(src + i * KV_QK, (uint8_t *)dst + (size_t)i * bb);
}
