/* quant.c: the block-type table and scalar reference (de)quantization of rows.
 * Block layouts follow ggml's reference code (little-endian, packed, f16 scales).
 * Callers pass n as a whole number of blocks (quant_row_bytes returns 0 otherwise);
 * unsupported types leave dst untouched (dequant writes zeros). No SIMD here. */
#include "quant.h"
#include "quant_internal.h"

#include <math.h>
#include <string.h>

/* ---- scalar conversions ---- */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float quant_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13)); /* inf / NaN */
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t quant_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t exp = (u >> 23) & 0xff, man = u & 0x7fffff;
    if (exp == 0xff) /* inf stays inf; NaN stays a (quiet) NaN */
        return sign | 0x7c00 | (man ? (0x200 | (man >> 13)) : 0);
    int e = (int)exp - 127 + 15;
    if (e >= 0x1f) return sign | 0x7c00; /* overflow to inf */
    if (e <= 0) {                        /* f16 subnormal or zero */
        if (e < -10) return sign;        /* below half the smallest subnormal */
        man |= 0x800000;                 /* implicit bit */
        int shift = 14 - e;              /* 24-bit mantissa to 10-bit subnormal */
        uint32_t r = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return sign | (uint16_t)r; /* a carry into bit 10 is the smallest normal: correct */
    }
    uint32_t r = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++; /* carry may reach inf: correct */
    return sign | (uint16_t)r;
}

float quant_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t quant_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static float rd_f16(const uint8_t *p) { return quant_f16_to_f32((uint16_t)(p[0] | (p[1] << 8))); }
void quant_put_f16(uint8_t *p, float f) {
    uint16_t h = quant_f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

void quant_pack_nibbles(const uint8_t *lv, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((lv[j] & 0xf) | (lv[j + 16] << 4));
}

void quant_pack_q6_0(const uint8_t *lv, uint8_t *qhqs) {
    uint8_t *qh = qhqs, *qs = qhqs + 8;
    memset(qh, 0, 8);
    for (int j = 0; j < 16; j++) {
        int q0 = lv[j], q1 = lv[j + 16];
        qs[j] = (uint8_t)((q0 & 0xf) | ((q1 & 0xf) << 4));
        qh[j % 8] |= (uint8_t)(((q0 >> 4) | ((q1 >> 4) << 2)) << (4 * (j / 8)));
    }
}

/* ---- dequantization, one block at a time ---- */

static void dq_q4_0(const uint8_t *b, float *y) {
    float d = rd_f16(b);
    for (int j = 0; j < 16; j++) {
        y[j] = ((b[2 + j] & 0xf) - 8) * d;
        y[j + 16] = ((b[2 + j] >> 4) - 8) * d;
    }
}

static void dq_q4_1(const uint8_t *b, float *y) {
    float d = rd_f16(b), m = rd_f16(b + 2);
    for (int j = 0; j < 16; j++) {
        y[j] = (b[4 + j] & 0xf) * d + m;
        y[j + 16] = (b[4 + j] >> 4) * d + m;
    }
}

/* q5_0 / q5_1: 16 bytes of low nibbles plus 32 high bits in qh (bit j for element j) */
static void dq_q5(const uint8_t *qh4, const uint8_t *qs, float d, float m, int bias, float *y) {
    uint32_t qh = (uint32_t)qh4[0] | (uint32_t)qh4[1] << 8 | (uint32_t)qh4[2] << 16 | (uint32_t)qh4[3] << 24;
    for (int j = 0; j < 16; j++) {
        int x0 = (qs[j] & 0xf) | (int)(((qh >> j) & 1) << 4);
        int x1 = (qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4);
        y[j] = (x0 - bias) * d + m;
        y[j + 16] = (x1 - bias) * d + m;
    }
}

/* q6_0 (ik_llama.cpp): byte k of qh holds the 2 high bits of elements k, k+16 (bits 0-3)
 * for k < 8 and of k+8, k+24 (bits 4-7) */
static void dq_q6_0(const uint8_t *b, float *y) {
    float d = rd_f16(b);
    const uint8_t *qh = b + 2, *qs = b + 10;
    for (int j = 0; j < 16; j++) {
        int h = qh[j % 8] >> (4 * (j / 8));
        y[j] = (((qs[j] & 0xf) | ((h << 4) & 0x30)) - 32) * d;
        y[j + 16] = (((qs[j] >> 4) | ((h << 2) & 0x30)) - 32) * d;
    }
}

static void dq_q8_0(const uint8_t *b, float *y) {
    float d = rd_f16(b);
    for (int j = 0; j < 32; j++) y[j] = (int8_t)b[2 + j] * d;
}

/* 6-bit scale and min j of the 12-byte K-quant scale array */
static void k_scale_min(int j, const uint8_t *q, int *sc, int *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *mn = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* q4_K: d, dmin, scales[12], qs[128]; q5_K adds qh[32] before qs */
static void dq_q45_k(const uint8_t *b, float *y, bool five) {
    float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *q = five ? b + 48 : b + 16;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2) {
        int sc, mn;
        k_scale_min(is, scales, &sc, &mn);
        float d1 = d * sc, m1 = dmin * mn;
        k_scale_min(is + 1, scales, &sc, &mn);
        float d2 = d * sc, m2 = dmin * mn;
        int u1 = 1 << (j / 32), u2 = 2 << (j / 32);
        for (int l = 0; l < 32; l++) {
            int hi = five && (qh[l] & u1) ? 16 : 0;
            y[j + l] = d1 * ((q[l] & 0xf) + hi) - m1;
        }
        for (int l = 0; l < 32; l++) {
            int hi = five && (qh[l] & u2) ? 16 : 0;
            y[j + 32 + l] = d2 * ((q[l] >> 4) + hi) - m2;
        }
        q += 32;
    }
}

/* q6_K: ql[128], qh[64], int8 scales[16], d */
static void dq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = rd_f16(b + 208);
    for (int n = 0; n < 256; n += 128) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xf) | ((qh[l] & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[n + l] = d * sc[is] * q1;
            y[n + l + 32] = d * sc[is + 2] * q2;
            y[n + l + 64] = d * sc[is + 4] * q3;
            y[n + l + 96] = d * sc[is + 6] * q4;
        }
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

/* the classic types as block functions of one signature */
static void dqb_f32(const uint8_t *b, const uint8_t *m, float *y) { memcpy(y, b, 4); (void)m; }
static void dqb_f16(const uint8_t *b, const uint8_t *m, float *y) { y[0] = rd_f16(b); (void)m; }
static void dqb_bf16(const uint8_t *b, const uint8_t *m, float *y) {
    y[0] = quant_bf16_to_f32((uint16_t)(b[0] | (b[1] << 8)));
    (void)m;
}
static void dqb_q4_0(const uint8_t *b, const uint8_t *m, float *y) { dq_q4_0(b, y); (void)m; }
static void dqb_q4_1(const uint8_t *b, const uint8_t *m, float *y) { dq_q4_1(b, y); (void)m; }
static void dqb_q5_0(const uint8_t *b, const uint8_t *m, float *y) { dq_q5(b + 2, b + 6, rd_f16(b), 0.0f, 16, y); (void)m; }
static void dqb_q5_1(const uint8_t *b, const uint8_t *m, float *y) {
    dq_q5(b + 4, b + 8, rd_f16(b), rd_f16(b + 2), 0, y);
    (void)m;
}
static void dqb_q8_0(const uint8_t *b, const uint8_t *m, float *y) { dq_q8_0(b, y); (void)m; }
static void dqb_q6_0(const uint8_t *b, const uint8_t *m, float *y) { dq_q6_0(b, y); (void)m; }
static void dqb_q4_k(const uint8_t *b, const uint8_t *m, float *y) { dq_q45_k(b, y, false); (void)m; }
static void dqb_q5_k(const uint8_t *b, const uint8_t *m, float *y) { dq_q45_k(b, y, true); (void)m; }
static void dqb_q6_k(const uint8_t *b, const uint8_t *m, float *y) { dq_q6_k(b, y); (void)m; }

static quant_dq_block_fn dq_block(uint32_t type) {
    switch (type) {
    case QT_F32: return dqb_f32;
    case QT_F16: return dqb_f16;
    case QT_BF16: return dqb_bf16;
    case QT_Q4_0: return dqb_q4_0;
    case QT_Q4_1: return dqb_q4_1;
    case QT_Q5_0: return dqb_q5_0;
    case QT_Q5_1: return dqb_q5_1;
    case QT_Q8_0: return dqb_q8_0;
    case QT_Q6_0: return dqb_q6_0;
    case QT_Q2_K: return dq_q2_k;
    case QT_Q3_K: return dq_q3_k;
    case QT_Q4_K: return dqb_q4_k;
    case QT_Q5_K: return dqb_q5_k;
    case QT_Q6_K: return dqb_q6_k;
    case QT_IQ4_NL: return dq_iq4_nl;
    case QT_IQ4_XS: return dq_iq4_xs;
    case QT_IQ4_KS: return dq_iq4_ks;
    case QT_TQ1_0: return dq_tq1_0;
    case QT_TQ2_0: return dq_tq2_0;
    case QT_IQ2_XXS: return dq_iq2_xxs;
    case QT_IQ2_XS: return dq_iq2_xs;
    case QT_IQ2_S: return dq_iq2_s;
    case QT_IQ3_XXS: return dq_iq3_xxs;
    case QT_IQ3_S: return dq_iq3_s;
    case QT_IQ1_S: return dq_iq1_s;
    case QT_IQ1_M: return dq_iq1_m;
    case QT_IQ4_KSS: return dq_iq4_kss;
    case QT_IQ5_KS: return dq_iq5_ks;
    case QT_IQ2_KS: return dq_iq2_ks;
    case QT_IQ3_KS: return dq_iq3_ks;
    case QT_Q8_KV: return dq_q8_kv;
    case QT_IQ2_K: return dq_iq2_k;
    case QT_IQ3_K: return dq_iq3_k;
    case QT_IQ4_K: return dq_iq4_k;
    case QT_IQ5_K: return dq_iq5_k;
    case QT_IQ6_K: return dq_iq6_k;
    default: return NULL;
    }
}

static quant_dq_group_fn dq_group(uint32_t type) {
    switch (type) {
    case QT_IQ4_KS_R4: return dqg_iq4_ks_r4;
    case QT_Q8_0_R8: return dqg_q8_0_r8;
    case QT_Q4_0_R8: return dqg_q4_0_r8;
    case QT_IQ4_NL_R4: return dqg_iq4_nl_r4;
    case QT_IQ4_XS_R8: return dqg_iq4_xs_r8;
    case QT_Q6_0_R4: return dqg_q6_0_r4;
    case QT_Q5_0_R4: return dqg_q5_0_r4;
    default: return NULL;
    }
}

bool quant_can_dequant(uint32_t type) { return dq_block(type) != NULL || dq_group(type) != NULL; }

int quant_dequant_rows(uint32_t type, const void *src, float *dst, int64_t n_rows, int64_t n) {
    const quant_type_info *ti = quant_type_info_get(type);
    if (!ti || n <= 0 || n_rows <= 0 || n % ti->block_elems != 0 || n_rows % ti->row_interleave != 0) return -1;
    size_t rb = quant_row_bytes(type, n);
    if (ti->row_interleave == 1) {
        for (int64_t r = 0; r < n_rows; r++)
            if (quant_dequant_row(type, (const uint8_t *)src + (size_t)r * rb, dst + r * n, n)) return -1;
        return 0;
    }
    quant_dq_group_fn g = dq_group(type);
    if (!g) {
        memset(dst, 0, sizeof(float) * (size_t)(n * n_rows));
        return -1;
    }
    for (int64_t r = 0; r < n_rows; r += ti->row_interleave)
        g((const uint8_t *)src + (size_t)r * rb, dst + r * n, n);
    return 0;
}

int quant_dequant_part(uint32_t type, const void *row, int64_t first, float *dst, int64_t n) {
    const quant_type_info *ti = quant_type_info_get(type);
    quant_dq_block_fn f = dq_block(type);
    if (!ti || n <= 0 || first < 0 || n % ti->block_elems != 0 || first % ti->block_elems != 0) return -1;
    if (!f || ti->row_interleave != 1) {
        memset(dst, 0, sizeof(float) * (size_t)n);
        return -1;
    }
    const uint8_t *meta = row, *s = meta + ti->row_meta_bytes + (size_t)(first / ti->block_elems) * ti->block_bytes;
    for (int64_t i = 0; i < n / ti->block_elems; i++) f(s + i * ti->block_bytes, meta, dst + i * ti->block_elems);
    return 0;
}

int quant_dequant_row(uint32_t type, const void *src, float *dst, int64_t n) {
    return quant_dequant_part(type, src, 0, dst, n);
}

/* ---- quantization (round to nearest, as ggml's reference) ---- */

static void q_q8_0(const float *x, uint8_t *b) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    quant_put_f16(b, d);
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

static void q_q4_0(const float *x, uint8_t *b) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t lv[32];
    quant_put_f16(b, d);
    for (int j = 0; j < 32; j++) {
        int v = (int)(int8_t)(x[j] * id + 8.5f);
        lv[j] = (uint8_t)(v > 15 ? 15 : v);
    }
    quant_pack_nibbles(lv, b + 2);
}

static void q_q4_1(const float *x, uint8_t *b) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < 32; j++) {
        mn = fminf(mn, x[j]);
        mx = fmaxf(mx, x[j]);
    }
    float d = (mx - mn) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    quant_put_f16(b, d);
    quant_put_f16(b + 2, mn);
    uint8_t lv[32];
    for (int j = 0; j < 32; j++) {
        int v = (int)(int8_t)((x[j] - mn) * id + 0.5f);
        lv[j] = (uint8_t)(v > 15 ? 15 : v);
    }
    quant_pack_nibbles(lv, b + 4);
}

/* ik_llama.cpp's q6_0: levels -32..31 with the block's signed extreme at -32, then the scale
 * refitted by least squares for the chosen levels */
static void q_q6_0(const float *x, uint8_t *b) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    float d = max / -32.0f, id = d != 0.0f ? 1.0f / d : 0.0f, sxq = 0.0f, sqq = 0.0f;
    uint8_t lv[32];
    for (int j = 0; j < 32; j++) {
        int v = (int)(int8_t)(x[j] * id + 32.5f);
        v = v > 63 ? 63 : v < 0 ? 0 : v;
        lv[j] = (uint8_t)v;
        sxq += x[j] * (float)(v - 32);
        sqq += (float)((v - 32) * (v - 32));
    }
    quant_pack_q6_0(lv, b + 2);
    quant_put_f16(b, sqq > 0.0f ? sxq / sqq : d);
}

void quant_quant_row(uint32_t type, const float *src, void *dst, int64_t n) {
    const quant_type_info *ti = quant_type_info_get(type);
    uint8_t *d = dst;
    if (!ti || n <= 0 || n % ti->block_elems != 0) return;
    int64_t nb = n / ti->block_elems;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *b = d + i * ti->block_bytes;
        const float *x = src + i * ti->block_elems;
        uint16_t h;
        switch (type) {
        case QT_F32: memcpy(b, x, 4); break;
        case QT_F16: quant_put_f16(b, x[0]); break;
        case QT_BF16:
            h = quant_f32_to_bf16(x[0]);
            b[0] = (uint8_t)h;
            b[1] = (uint8_t)(h >> 8);
            break;
        case QT_Q8_0: q_q8_0(x, b); break;
        case QT_Q4_0: q_q4_0(x, b); break;
        case QT_Q4_1: q_q4_1(x, b); break;
        case QT_Q6_0: q_q6_0(x, b); break;
        default: return;
        }
    }
}
