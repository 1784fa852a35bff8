/* dequant_iq.c: scalar reference dequantization of ggml's codebook i-quants: IQ2_XXS, IQ2_XS,
 * IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M. Groups of 8 (or 4) elements are one grid entry
 * (iq_grids.c) with per-element signs; the scale and operation order follow ggml's and the
 * python gguf package's dequantizers, against which test_quant checks them bit for bit. */
#include <string.h>

#include "quant_internal.h"

static uint32_t rd_u32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static unsigned rd_u16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

/* level of element j of 8-element grid entry g (2 bits each) */
static float lvl8(const uint16_t *grid, const int8_t *levels, unsigned idx, int j) {
    return (float)levels[(grid[idx] >> (2 * j)) & 3];
}
/* level of element j of 4-element grid entry (a nibble each, 3 bits used) */
static float lvl4(const uint16_t *grid, const int8_t *levels, unsigned idx, int j) {
    return (float)levels[(grid[idx] >> (4 * j)) & 7];
}

/* 7 stored sign bits plus an eighth that makes the count even (ggml's ksigns table) */
static unsigned ksign(unsigned i) { return i | (unsigned)(__builtin_popcount(i) & 1) << 7; }

static float sgn(unsigned bits, int j) { return (bits >> j) & 1 ? -1.0f : 1.0f; }

/* iq2_xxs: d, then per 32 elements two u32: 4 grid bytes; 4 x 7 sign bits and a 4-bit scale */
void dq_iq2_xxs(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    for (int ib = 0; ib < 8; ib++) {
        uint32_t q0 = rd_u32(b + 2 + 8 * ib), q1 = rd_u32(b + 6 + 8 * ib);
        float db = d * (0.5f + (float)(q1 >> 28)) * 0.25f;
        for (int l = 0; l < 4; l++) {
            unsigned idx = (q0 >> (8 * l)) & 255, s = ksign((q1 >> (7 * l)) & 127);
            for (int j = 0; j < 8; j++)
                *y++ = db * lvl8(quant_grid_iq2xxs, quant_grid_iq2xxs_levels, idx, j) * sgn(s, j);
        }
    }
    (void)meta;
}

/* iq2_xs: d, qs u16[32] (9-bit grid index, 7 sign bits), scales[8] (a nibble per 16) */
void dq_iq2_xs(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    for (int g = 0; g < 32; g++) {
        unsigned q = rd_u16(b + 2 + 2 * g), s = ksign(q >> 9);
        float db = d * (0.5f + (float)((b[66 + g / 4] >> (4 * ((g / 2) % 2))) & 15)) * 0.25f;
        for (int j = 0; j < 8; j++) *y++ = db * lvl8(quant_grid_iq2xs, quant_grid_iq2xs_levels, q & 511, j) * sgn(s, j);
    }
    (void)meta;
}

/* iq2_s: d, qs[32] (grid index low bits), signs[32], qh[8] (2 high index bits each), scales[8] */
void dq_iq2_s(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    const uint8_t *qs = b + 2, *signs = b + 34, *qh = b + 66, *sc = b + 74;
    for (int g = 0; g < 32; g++) {
        unsigned idx = qs[g] | ((qh[g / 4] >> (2 * (g % 4))) & 3) << 8;
        float db = d * (0.5f + (float)((sc[g / 4] >> (4 * ((g / 2) % 2))) & 15)) * 0.25f;
        for (int j = 0; j < 8; j++) *y++ = db * lvl8(quant_grid_iq2s, quant_grid_iq2s_levels, idx, j) * sgn(signs[g], j);
    }
    (void)meta;
}

/* iq3_xxs: d, qs[64] (a grid index per 4 elements), per 32 elements a u32 of 4 x 7 sign bits
 * and a 4-bit scale */
void dq_iq3_xxs(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    const uint8_t *qs = b + 2;
    for (int ib = 0; ib < 8; ib++) {
        uint32_t s32 = rd_u32(b + 66 + 4 * ib);
        float db = d * (0.5f + (float)(s32 >> 28)) * 0.5f;
        for (int l = 0; l < 4; l++) {
            unsigned s = ksign((s32 >> (7 * l)) & 127);
            for (int j = 0; j < 8; j++) {
                unsigned idx = qs[8 * ib + 2 * l + j / 4];
                *y++ = db * lvl4(quant_grid_iq3xxs, quant_grid_iq3xxs_levels, idx, j % 4) * sgn(s, j);
            }
        }
    }
    (void)meta;
}

/* iq3_s: d, qs[64], qh[8] (ninth index bit), signs[32], scales[4] (a nibble per 32: 1 + 2s) */
void dq_iq3_s(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    const uint8_t *qs = b + 2, *qh = b + 66, *signs = b + 74, *sc = b + 106;
    for (int e = 0; e < 256; e++) {
        int i = e / 4, k = e / 32;
        unsigned idx = qs[i] | ((qh[i / 8] >> (i % 8)) & 1) << 8;
        float db = d * (float)(1 + 2 * ((sc[k / 2] >> (4 * (k % 2))) & 15));
        y[e] = db * lvl4(quant_grid_iq3s, quant_grid_iq3s_levels, idx, e % 4) * sgn(signs[e / 8], e % 8);
    }
    (void)meta;
}

#define IQ1_DELTA 0.125f

/* iq1_s: d, qs[32] (grid index low bytes), qh u16[8] per 32: 4 x 3 high index bits, a 3-bit
 * scale (2s + 1), the sign of the shift delta */
void dq_iq1_s(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    for (int ib = 0; ib < 8; ib++) {
        unsigned qh = rd_u16(b + 34 + 2 * ib);
        float dl = d * (float)(2 * ((qh >> 12) & 7) + 1), delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
        for (int l = 0; l < 4; l++) {
            unsigned idx = b[2 + 4 * ib + l] | ((qh >> (3 * l)) & 7) << 8;
            for (int j = 0; j < 8; j++) *y++ = dl * (lvl8(quant_grid_iq1s, quant_grid_iq1s_levels, idx, j) + delta);
        }
    }
    (void)meta;
}

/* iq1_m: qs[32], qh[16] (per 8 elements a nibble: 3 index bits and the delta sign), scales
 * u16[4]: 16 3-bit scales (2s + 1, per 16 elements) and, in their top nibbles, the f16 d */
void dq_iq1_m(const uint8_t *b, const uint8_t *meta, float *y) {
    const uint8_t *qs = b, *qh = b + 32;
    unsigned sc[4];
    for (int i = 0; i < 4; i++) sc[i] = rd_u16(b + 48 + 2 * i);
    unsigned dh = (sc[0] >> 12) | ((sc[1] >> 8) & 0xf0) | ((sc[2] >> 4) & 0xf00) | (sc[3] & 0xf000);
    float d = quant_f16_to_f32((uint16_t)dh);
    for (int g = 0; g < 32; g++) {
        int k = g / 2; /* scale of 16 elements */
        float dl = d * (float)(2 * ((sc[k / 4] >> (3 * (k % 4))) & 7) + 1);
        unsigned nib = (qh[g / 2] >> (4 * (g % 2))) & 15, idx = qs[g] | (nib & 7) << 8;
        float delta = nib & 8 ? -IQ1_DELTA : IQ1_DELTA;
        for (int j = 0; j < 8; j++) *y++ = dl * (lvl8(quant_grid_iq1s, quant_grid_iq1s_levels, idx, j) + delta);
    }
    (void)meta;
}
