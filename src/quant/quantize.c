/* quantize.c: quant_quantize_row over every writable type, and q5_0 / q5_1 blocks.
 * q5_0 and q5_1 follow ggml's reference rounding (truncation of x/d + 16.5, resp. of
 * (x - min)/d + 0.5), which the gguf Python package reproduces bit for bit. */
#include "quantize.h"

#include <math.h>
#include <string.h>

#include "quant.h"


/* 32 five-bit values: low nibbles of j and j+16 share byte j, the high bits go to qh bit j */
static void pack_q5(const uint8_t *q, uint8_t *qh4, uint8_t *qs) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xf) | ((q[j + 16] & 0xf) << 4));
        qh |= (uint32_t)(q[j] >> 4) << j;
        qh |= (uint32_t)(q[j + 16] >> 4) << (j + 16);
    }
    for (int i = 0; i < 4; i++) qh4[i] = (uint8_t)(qh >> (8 * i));
}

static void q_q5_0(const float *x, uint8_t *b) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    float d = max / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[32];
    for (int j = 0; j < 32; j++) {
        int v = (int)(int8_t)(x[j] * id + 16.5f);
        q[j] = (uint8_t)(v > 31 ? 31 : v);
    }
    quant_put_f16(b, d);
    pack_q5(q, b + 2, b + 6);
}

static void q_q5_1(const float *x, uint8_t *b) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < 32; j++) {
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
    }
    float d = (mx - mn) / 31.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[32];
    for (int j = 0; j < 32; j++) {
        int v = (int)(int8_t)((x[j] - mn) * id + 0.5f);
        q[j] = (uint8_t)(v > 31 ? 31 : v);
    }
    quant_put_f16(b, d);
    quant_put_f16(b + 2, mn);
    pack_q5(q, b + 4, b + 8);
}

bool quant_can_quantize(uint32_t type) {
    switch (type) {
    case QT_F32: case QT_F16: case QT_BF16: case QT_Q8_0: case QT_Q4_0: case QT_Q4_1: case QT_Q5_0: case QT_Q5_1:
    case QT_Q2_K: case QT_Q3_K: case QT_Q4_K: case QT_Q5_K: case QT_Q6_K:
        return true;
    default:
        return false;
    }
}

int quant_quantize_row(uint32_t type, const float *src, void *dst, int64_t n) {
    const quant_type_info *ti = quant_type_info_get(type);
    if (!ti || !quant_can_quantize(type) || n <= 0 || n % ti->block_elems) return -1;
    void (*block)(const float *, uint8_t *) = NULL;
    switch (type) {
    case QT_Q5_0: block = q_q5_0; break;
    case QT_Q5_1: block = q_q5_1; break;
    case QT_Q2_K: block = quant_k_q2_k; break;
    case QT_Q3_K: block = quant_k_q3_k; break;
    case QT_Q4_K: block = quant_k_q4_k; break;
    case QT_Q5_K: block = quant_k_q5_k; break;
    case QT_Q6_K: block = quant_k_q6_k; break;
    default:
        quant_quant_row(type, src, dst, n);
        return 0;
    }
    uint8_t *d = dst;
    for (int64_t i = 0; i < n / ti->block_elems; i++) block(src + i * ti->block_elems, d + i * ti->block_bytes);
    return 0;
}
