/* dot_ref_k2.c: scalar reference kernels for the low-bit 256-element types that have SIMD
 * kernels (Q2_K, Q3_K, IQ4_XS, ik_llama.cpp's IQ4_KS), against x in cpu_q16k super-blocks, summed exactly in int64
 * per super-block like dot_ref.c's K-quants, so the SIMD kernels must agree to float rounding.
 * Layouts: Q2_K {u8 scales[16]; u8 qs[64]; f16 d; f16 dmin}, Q3_K {u8 hmask[32]; u8 qs[64];
 * u8 scales[12]; f16 d}, IQ4_XS {f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}. */
#include "backend/cpu/matmul.h"

#include <string.h>

#include "quant/quant.h"

static const int8_t iq4nl_grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

static float f16_at(const uint8_t *p) { return quant_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* the 2-bit quant of element e (0..255) of a Q2_K/Q3_K qs[64]: in each half of 128, bits
 * 2g..2g+1 (g = 32-element group) of byte 16*half16 + l */
static int q2_of(const uint8_t *qs, int e) {
    int n = e / 128, g = (e % 128) / 32, b = e % 32;
    return (qs[32 * n + b] >> (2 * g)) & 3;
}

/* Q2_K: value d*(scales[j] & 15)*q - dmin*(scales[j] >> 4) for sub-block j = e/16 */
static float row_q2_k(int64_t k, const uint8_t *w, const cpu_q16k *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 256; b++, w += 84) {
        int64_t sumi = 0, summ = 0;
        for (int j = 0; j < 16; j++) {
            int si = 0, sx = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                si += q2_of(w + 16, e) * x[b].qs[e];
                sx += x[b].qs[e];
            }
            sumi += (int64_t)(w[j] & 15) * si;
            summ += (int64_t)(w[j] >> 4) * sx;
        }
        s += x[b].d * (f16_at(w + 80) * (float)sumi - f16_at(w + 82) * (float)summ);
    }
    return s;
}

/* 6-bit scale j (0..15) of Q3_K's 12 bytes: low 4 bits in nibbles, high 2 bits in bytes 8..11 */
static int q3_scale(const uint8_t *s, int j) {
    int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4, hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (lo | hi << 4) - 32;
}

/* Q3_K: value d*scale_j*(q2 - 4 unless bit (4n + g) of hmask[e % 32] is set) */
static float row_q3_k(int64_t k, const uint8_t *w, const cpu_q16k *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 256; b++, w += 110) {
        int64_t sumi = 0;
        for (int j = 0; j < 16; j++) {
            int si = 0;
            for (int e = 16 * j; e < 16 * j + 16; e++) {
                int h = (w[e % 32] >> (4 * (e / 128) + (e % 128) / 32)) & 1;
                si += (q2_of(w + 32, e) - (h ? 0 : 4)) * x[b].qs[e];
            }
            sumi += (int64_t)q3_scale(w + 96, j) * si;
        }
        s += x[b].d * f16_at(w + 108) * (float)sumi;
    }
    return s;
}

/* IQ4_XS: value d*(ls_j - 32)*grid[nibble], sub-block j of 32: low nibbles of qs[16j..] are
 * its first 16 elements, high nibbles the next 16 */
static float row_iq4_xs(int64_t k, const uint8_t *w, const cpu_q16k *x) {
    float s = 0;
    for (int64_t b = 0; b < k / 256; b++, w += 136) {
        unsigned sh = (unsigned)w[2] | (unsigned)w[3] << 8;
        int64_t sumi = 0;
        for (int j = 0; j < 8; j++) {
            int ls = ((w[4 + j / 2] >> (4 * (j % 2))) & 15) | (int)((sh >> (2 * j)) & 3) << 4, si = 0;
            const uint8_t *qs = w + 8 + 16 * j;
            const int16_t *xq = x[b].qs + 32 * j;
            for (int i = 0; i < 16; i++)
                si += iq4nl_grid[qs[i] & 15] * xq[i] + iq4nl_grid[qs[i] >> 4] * xq[i + 16];
            sumi += (int64_t)(ls - 32) * si;
        }
        s += x[b].d * f16_at(w) * (float)sumi;
    }
    return s;
}

/* IQ4_KS (ik_llama.cpp): a float d ahead of the row; per 32 elements a scale byte s: value
 * d*((s & 254) - 127)*grid[nibble], the grid shifted by +4 where bit 0 of s is set */
static const int8_t iq4k_grid[32] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
                                     -123, -100, -79, -61, -45, -31, -18, -6, 5, 17, 29, 42, 57, 73, 93, 117};

static float row_iq4_ks(int64_t k, const uint8_t *w, const cpu_q16k *x) {
    float d, s = 0;
    memcpy(&d, w, 4);
    w += 4;
    for (int64_t b = 0; b < k / 256; b++, w += 136) {
        int64_t sumi = 0;
        for (int j = 0; j < 8; j++) {
            const int8_t *g = iq4k_grid + ((w[j] & 1) << 4);
            const uint8_t *qs = w + 8 + 16 * j;
            const int16_t *xq = x[b].qs + 32 * j;
            int si = 0;
            for (int i = 0; i < 16; i++) si += g[qs[i] & 15] * xq[i] + g[qs[i] >> 4] * xq[i + 16];
            sumi += (int64_t)((w[j] & 254) - 127) * si;
        }
        s += x[b].d * d * (float)sumi;
    }
    return s;
}

#define REF_KERNEL(name)                                                                                      \
    static void dot_ref_##name(int64_t k, const void *w, const void *x, size_t xstride, int nx, float *y,     \
                               int64_t ldy) {                                                                 \
        for (int c = 0; c < nx; c++)                                                                          \
            y[c * ldy] = row_##name(k, w, (const cpu_q16k *)((const char *)x + c * xstride));                 \
    }

REF_KERNEL(q2_k)
REF_KERNEL(q3_k)
REF_KERNEL(iq4_xs)
REF_KERNEL(iq4_ks)

cpu_dot_fn cpu_dot_ref_k2(uint32_t wtype) {
    switch (wtype) {
    case QT_Q2_K: return dot_ref_q2_k;
    case QT_Q3_K: return dot_ref_q3_k;
    case QT_IQ4_XS: return dot_ref_iq4_xs;
    case QT_IQ4_KS: return dot_ref_iq4_ks;
    default: return NULL;
    }
}
