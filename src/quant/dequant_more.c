/* dequant_more.c: scalar reference dequantization of the block types beyond the classic
 * ones of quant.c: Q2_K, Q3_K, IQ4_NL, IQ4_XS, the ternary TQ1_0/TQ2_0 (mainline ggml), and
 * ik_llama.cpp's IQ4_KS (a float scale per row ahead of the blocks). Layouts and formulas are
 * those of the formats (ggml-common.h, ik_llama.cpp); each is checked bit for bit against the
 * python gguf package or vectors made with ik_llama.cpp (tests/check_weight_types.py). */
#include <string.h>

#include "quant_internal.h"

/* the non-linear 4-bit grid of IQ4_NL / IQ4_XS; IQ4_KS adds a second one, shifted (+4 inside) */
static const int8_t iq4_values[32] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
    -123, -100, -79, -61, -45, -31, -18, -6, 5, 17, 29, 42, 57, 73, 93, 117,
};

/* q2_K: scales[16] (low nibble scale, high nibble min), qs[64] (2 bits), d, dmin */
void dq_q2_k(const uint8_t *b, const uint8_t *meta, float *y) {
    const uint8_t *sc = b, *q = b + 16;
    float d = qi_f16(b + 80), dmin = qi_f16(b + 82);
    int is = 0;
    for (int n = 0; n < 256; n += 128, q += 32) {
        for (int shift = 0; shift < 8; shift += 2) {
            for (int half = 0; half < 2; half++, is++) {
                float dl = d * (sc[is] & 0xf), ml = dmin * (sc[is] >> 4);
                for (int l = 0; l < 16; l++) *y++ = dl * ((q[16 * half + l] >> shift) & 3) - ml;
            }
        }
    }
    (void)meta;
}

/* q3_K: hmask[32] (third bit, inverted), qs[64] (2 bits), scales[12] (16 6-bit scales), d */
void dq_q3_k(const uint8_t *b, const uint8_t *meta, float *y) {
    const uint8_t *hm = b, *q = b + 32, *s = b + 96;
    float d = qi_f16(b + 108);
    int is = 0, m = 1;
    for (int n = 0; n < 256; n += 128, q += 32) {
        for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
            for (int half = 0; half < 2; half++, is++) {
                int lo = is < 8 ? s[is] & 0xf : s[is - 8] >> 4, hi = (s[8 + is % 4] >> (2 * (is / 4))) & 3;
                float dl = d * ((lo | hi << 4) - 32);
                for (int l = 16 * half; l < 16 * half + 16; l++)
                    *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            }
        }
    }
    (void)meta;
}

/* 32 values from 16 bytes of nibbles (low nibbles first) through a grid, times dl */
static void nibbles32(const uint8_t *qs, const int8_t *grid, float dl, float *y) {
    for (int j = 0; j < 16; j++) {
        y[j] = dl * grid[qs[j] & 0xf];
        y[j + 16] = dl * grid[qs[j] >> 4];
    }
}

/* iq4_nl: d, qs[16] */
void dq_iq4_nl(const uint8_t *b, const uint8_t *meta, float *y) {
    nibbles32(b + 2, iq4_values, qi_f16(b), y);
    (void)meta;
}

/* iq4_xs: d, scales_h (2 high bits of 8 scales), scales_l[4] (low nibbles), qs[128] */
void dq_iq4_xs(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    unsigned sh = (unsigned)b[2] | (unsigned)b[3] << 8;
    for (int ib = 0; ib < 8; ib++) {
        int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0xf) | (int)(((sh >> (2 * ib)) & 3) << 4);
        nibbles32(b + 8 + 16 * ib, iq4_values, d * (ls - 32), y + 32 * ib);
    }
    (void)meta;
}

/* iq4_ks: the row starts with a float d; per block scales[8] (bit 0 picks the grid, bits 1-7
 * the scale + 127), qs[128] */
void dq_iq4_ks(const uint8_t *b, const uint8_t *meta, float *y) {
    float d;
    memcpy(&d, meta, 4);
    for (int ib = 0; ib < 8; ib++) {
        float dl = d * ((int)(b[ib] & 254) - 127);
        nibbles32(b + 8 + 16 * ib, iq4_values + ((b[ib] & 1) << 4), dl, y + 32 * ib);
    }
}

/* tq2_0: qs[64] (2 bits: 0, 1, 2 for -1, 0, +1), d */
void dq_tq2_0(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b + 64);
    for (int j = 0; j < 64; j += 32)
        for (int l = 0; l < 4; l++)
            for (int m = 0; m < 32; m++) *y++ = (float)(((b[j + m] >> (2 * l)) & 3) - 1) * d;
    (void)meta;
}

/* one base-3 digit: the n-th of the 5 (or 4) trits packed in q as a fixed-point fraction */
static float trit(uint8_t q, int n) {
    static const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};
    uint8_t v = (uint8_t)(q * pow3[n]);
    return (float)((((uint16_t)v * 3) >> 8) - 1);
}

/* tq1_0: qs[48] (5 trits a byte), qh[4] (4 trits a byte), d */
void dq_tq1_0(const uint8_t *b, const uint8_t *meta, float *y) {
    const uint8_t *qs = b, *qh = b + 48;
    float d = qi_f16(b + 52);
    for (int n = 0; n < 5; n++)
        for (int m = 0; m < 32; m++) *y++ = trit(qs[m], n) * d;
    for (int n = 0; n < 5; n++)
        for (int m = 0; m < 16; m++) *y++ = trit(qs[32 + m], n) * d;
    for (int n = 0; n < 4; n++)
        for (int j = 0; j < 4; j++) *y++ = trit(qh[j], n) * d;
    (void)meta;
}
