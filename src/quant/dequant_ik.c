/* dequant_ik.c: scalar reference dequantization of ik_llama.cpp's own block types, from
 * their layouts (block structs of its ggml-common.h; formulas of its dequantizers): the
 * per-row-scaled IQ4_KS (in dequant_more.c), IQ4_KSS, IQ5_KS, IQ2_KS, IQ3_KS, Q8_KV; the
 * IQ2_K..IQ6_K family (non-linear grids picked per 16/32 elements by bits of `extra`); and the
 * row-interleaved _R4/_R8 variants, which store 4 or 8 rows block by block and are turned
 * back into rows a group at a time (quant_dequant_rows). Checked bit for bit against vectors
 * made once with ik_llama.cpp (tests/data/quant, test_quant). Float expressions keep ik's
 * operation order (no fused multiply-add here), which the vectors were made with. */
#include <string.h>

#include "quant_internal.h"

static const int8_t iq4k_values[32] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
    -123, -100, -79, -61, -45, -31, -18, -6, 5, 17, 29, 42, 57, 73, 93, 117,
};
static const int8_t iq2nl_values[8] = {-31, -13, 1, 17, -26, -8, 6, 22};
static const int8_t iq3nl_values[16] = {-63, -40, -23, -10, 1, 13, 28, 47, -59, -36, -19, -6, 5, 17, 32, 51};
static const int8_t iq5nl_values[64] = {
    -126, -114, -103, -92, -83, -74, -65, -57, -50, -43, -36, -30, -24, -18, -12, -6,
    -1, 5, 11, 17, 23, 29, 36, 43, 51, 59, 68, 77, 87, 97, 109, 121,
    -124, -112, -101, -90, -81, -72, -63, -55, -48, -41, -34, -28, -22, -16, -10, -4,
    1, 7, 13, 19, 25, 31, 38, 45, 53, 61, 70, 79, 89, 99, 111, 123,
};

static float rd_f32(const uint8_t *p) { float f; memcpy(&f, p, 4); return f; }
static unsigned rd_u16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

/* ---- per-row scaled ---- */

/* iq4_kss: 64 u16 a block; per 32 elements 8 of them: bit 0 of each is a bit of the 8-bit
 * scale byte, the other 15 bits, x ^ (x >> 1), are 4 nibbles */
void dq_iq4_kss(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = rd_f32(meta);
    for (int ib = 0; ib < 8; ib++, y += 32) {
        uint8_t aux8[16];
        int ls = 0;
        for (int k = 0; k < 8; k++) {
            unsigned q = rd_u16(b + 16 * ib + 2 * k), a = q & 0xfffe;
            a ^= a >> 1;
            aux8[2 * k] = (uint8_t)a;
            aux8[2 * k + 1] = (uint8_t)(a >> 8);
            ls |= (int)(q & 1) << k;
        }
        const int8_t *v = iq4k_values + ((ls & 1) << 4);
        float dl = d * ((ls & 254) - 127);
        for (int j = 0; j < 16; j++) {
            y[j] = dl * v[aux8[j] & 0xf];
            y[j + 16] = dl * v[aux8[j] >> 4];
        }
    }
}

/* iq5_ks: scales[8] (bit 0 picks the grid), qs[128], qh[32] (bit ib of qh[j]: fifth bit) */
void dq_iq5_ks(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = rd_f32(meta);
    const uint8_t *sc = b, *qs = b + 8, *qh = b + 136;
    for (int i64 = 0; i64 < 4; i64++, y += 64, qs += 32) {
        float dl1 = d * ((int)(sc[2 * i64] & 254) - 127), dl2 = d * ((int)(sc[2 * i64 + 1] & 254) - 127);
        const int8_t *v1 = iq5nl_values + ((sc[2 * i64] & 1) << 5), *v2 = iq5nl_values + ((sc[2 * i64 + 1] & 1) << 5);
        for (int j = 0; j < 32; j++) {
            y[j] = dl1 * v1[(qs[j] & 0xf) | (((qh[j] >> (2 * i64)) & 1) << 4)];
            y[j + 32] = dl2 * v2[(qs[j] >> 4) | (((qh[j] >> (2 * i64 + 1)) & 1) << 4)];
        }
    }
}

/* iq2_ks (f16 row scale): extra (bits 0-7 grid per 32, 8-15 scale high bits), scales[4], qs[64] */
void dq_iq2_ks(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(meta);
    unsigned extra = rd_u16(b);
    const uint8_t *sc = b + 2, *qs = b + 6;
    int shift = 0;
    for (int i64 = 0; i64 < 4; i64++, y += 64) {
        float dl1 = d * ((int)((sc[i64] & 0xf) | ((extra >> 4) & 0x10)) - 16);
        float dl2 = d * ((int)((sc[i64] >> 4) | ((extra >> 5) & 0x10)) - 16);
        const int8_t *v1 = extra & 1 ? iq2nl_values + 4 : iq2nl_values, *v2 = extra & 2 ? iq2nl_values + 4 : iq2nl_values;
        extra >>= 2;
        for (int j = 0; j < 32; j++) {
            y[j] = dl1 * v1[(qs[j] >> shift) & 3];
            y[j + 32] = dl2 * v2[(qs[j] >> (shift + 2)) & 3];
        }
        shift += 4;
        if (shift == 8) qs += 32, shift = 0;
    }
}

/* iq3_ks (f16 row scale): extra (0-7 scale high bits, 8-15 grid per 32), scales[4], qs[64], qh[32] */
void dq_iq3_ks(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(meta), dl[8];
    unsigned extra = rd_u16(b);
    const uint8_t *sc = b + 2, *qs = b + 6, *qh = b + 70;
    for (int j = 0; j < 4; j++) {
        dl[j] = d * ((int)((sc[j] & 0xf) | (((extra >> j) & 1) << 4)) - 16);
        dl[j + 4] = d * ((int)((sc[j] >> 4) | (((extra >> (j + 4)) & 1) << 4)) - 16);
    }
    for (int i128 = 0; i128 < 2; i128++, qs += 32)
        for (int ib = 0; ib < 4; ib++, y += 32) {
            const int8_t *v = iq3nl_values + (((extra >> (8 + 4 * i128 + ib)) & 1) << 3);
            for (int j = 0; j < 32; j++)
                y[j] = dl[4 * i128 + ib] * v[((qs[j] >> (2 * ib)) & 3) | (((qh[j] >> (4 * i128 + ib)) & 1) << 2)];
        }
}

/* q8_KV: the row starts with float d and an int32 sum; blocks are 32 int8 */
void dq_q8_kv(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = rd_f32(meta);
    for (int j = 0; j < 32; j++) y[j] = d * (int8_t)b[j];
}

/* ---- the IQ*_K family (f16 d per block) ---- */

/* iq2_k: d, extra, scales[8] (4-bit, -8), qs[64] */
void dq_iq2_k(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    unsigned extra = rd_u16(b + 2);
    const uint8_t *sc = b + 4, *qs = b + 12;
    int shift = 0;
    for (int ib = 0; ib < 8; ib++, y += 32) {
        float dl1 = d * ((sc[ib] & 0xf) - 8), dl2 = d * ((sc[ib] >> 4) - 8);
        const int8_t *v1 = extra & 1 ? iq2nl_values + 4 : iq2nl_values, *v2 = extra & 2 ? iq2nl_values + 4 : iq2nl_values;
        extra >>= 2;
        for (int j = 0; j < 16; j++) {
            y[j] = dl1 * v1[(qs[j] >> shift) & 3];
            y[j + 16] = dl2 * v2[(qs[j + 16] >> shift) & 3];
        }
        shift += 2;
        if (shift == 8) qs += 32, shift = 0;
    }
    (void)meta;
}

/* iq3_k: d, extra, scales_h (signs), scales_l[8] (odd magnitudes), qs[64], qh[32] */
void dq_iq3_k(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    unsigned extra = rd_u16(b + 2), sh = rd_u16(b + 4);
    const uint8_t *sl = b + 6, *qs = b + 14, *qh = b + 78;
    for (int ib = 0; ib < 8; ib++, y += 32) {
        float dl1 = d * ((2 * (sl[ib] & 0xf) + 1) * ((sh & 1) ? -1 : 1));
        float dl2 = d * ((2 * (sl[ib] >> 4) + 1) * ((sh & 2) ? -1 : 1));
        sh >>= 2;
        const int8_t *v1 = extra & 1 ? iq3nl_values + 8 : iq3nl_values, *v2 = extra & 2 ? iq3nl_values + 8 : iq3nl_values;
        extra >>= 2;
        int shl = 2 * (ib % 4), shh = ib % 8;
        for (int j = 0; j < 16; j++) {
            y[j] = dl1 * v1[((qs[j] >> shl) & 3) | (((qh[j] >> shh) & 1) << 2)];
            y[j + 16] = dl2 * v2[((qs[j + 16] >> shl) & 3) | (((qh[j + 16] >> shh) & 1) << 2)];
        }
        if (shl == 6) qs += 32;
    }
    (void)meta;
}

/* iq4_k: d, extra, scales_h[4], scales_l[8], qs[128] */
void dq_iq4_k(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    unsigned extra = rd_u16(b + 2);
    const uint8_t *sh = b + 4, *sl = b + 8, *qs = b + 16;
    for (int ib = 0; ib < 8; ib++, y += 32, qs += 16) {
        int h = sh[ib / 2] >> (4 * (ib % 2));
        float dl1 = d * (((sl[ib] & 0xf) | ((h << 4) & 0x30)) - 32);
        float dl2 = d * (((sl[ib] >> 4) | ((h << 2) & 0x30)) - 32);
        const int8_t *v1 = extra & 1 ? iq4k_values + 16 : iq4k_values, *v2 = extra & 2 ? iq4k_values + 16 : iq4k_values;
        extra >>= 2;
        for (int j = 0; j < 16; j++) {
            y[j] = dl1 * v1[qs[j] & 0xf];
            y[j + 16] = dl2 * v2[qs[j] >> 4];
        }
    }
    (void)meta;
}

/* iq5_k: d, extra, scales_h[4], scales_l[8], qs[128], qh[32] */
void dq_iq5_k(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    unsigned extra = rd_u16(b + 2);
    const uint8_t *sh = b + 4, *sl = b + 8, *qs = b + 16, *qh = b + 144;
    int shift = 0;
    for (int i64 = 0; i64 < 4; i64++, y += 64, qs += 32) {
        float dl1 = d * (((sl[2 * i64] & 0xf) | ((sh[i64] << 4) & 0x30)) - 32);
        float dl2 = d * (((sl[2 * i64] >> 4) | ((sh[i64] << 2) & 0x30)) - 32);
        float dl3 = d * (((sl[2 * i64 + 1] & 0xf) | (sh[i64] & 0x30)) - 32);
        float dl4 = d * (((sl[2 * i64 + 1] >> 4) | ((sh[i64] >> 2) & 0x30)) - 32);
        const int8_t *v1 = iq5nl_values + ((extra & 1) << 5), *v2 = iq5nl_values + ((extra & 2) << 4);
        const int8_t *v3 = iq5nl_values + ((extra & 4) << 3), *v4 = iq5nl_values + ((extra & 8) << 2);
        for (int j = 0; j < 16; j++) {
            y[j] = dl1 * v1[(qs[j] & 0xf) | (((qh[j] >> shift) & 1) << 4)];
            y[j + 16] = dl2 * v2[(qs[j + 16] & 0xf) | (((qh[j + 16] >> shift) & 1) << 4)];
            y[j + 32] = dl3 * v3[(qs[j] >> 4) | (((qh[j] >> shift) & 2) << 3)];
            y[j + 48] = dl4 * v4[(qs[j + 16] >> 4) | (((qh[j + 16] >> shift) & 2) << 3)];
        }
        extra >>= 4;
        shift += 2;
        if (shift == 8) qh += 32, shift = 0;
    }
    (void)meta;
}

/* iq6_k: d, extra, int8 scales[16], qs[128], qh[64]; the 64 levels are a cubic in q (+1 where
 * the extra bit is set) */
static float iq6k_level(float q, float m) {
    return -127.f + q * (6.2568f + q * (-0.11218f + q * 0.0011972f)) + m;
}

void dq_iq6_k(const uint8_t *b, const uint8_t *meta, float *y) {
    float d = qi_f16(b);
    unsigned extra = rd_u16(b + 2);
    const int8_t *sc = (const int8_t *)(b + 4);
    const uint8_t *qs = b + 20, *qh = b + 148;
    int shift = 0;
    for (int i64 = 0; i64 < 4; i64++, y += 64, qs += 32) {
        float dl1 = d * sc[4 * i64], dl2 = d * sc[4 * i64 + 1], dl3 = d * sc[4 * i64 + 2], dl4 = d * sc[4 * i64 + 3];
        float m1 = extra & 1 ? 1.f : 0, m2 = extra & 2 ? 1.f : 0, m3 = extra & 4 ? 1.f : 0, m4 = extra & 8 ? 1.f : 0;
        for (int j = 0; j < 16; j++) {
            float q1 = (float)((qs[j] & 0xf) | (((qh[j] >> shift) & 3) << 4));
            float q2 = (float)((qs[j + 16] & 0xf) | (((qh[j + 16] >> shift) & 3) << 4));
            float q3 = (float)((qs[j] >> 4) | (((qh[j] >> shift) & 0xc) << 2));
            float q4 = (float)((qs[j + 16] >> 4) | (((qh[j + 16] >> shift) & 0xc) << 2));
            y[j] = dl1 * iq6k_level(q1, m1);
            y[j + 16] = dl2 * iq6k_level(q2, m2);
            y[j + 32] = dl3 * iq6k_level(q3, m3);
            y[j + 48] = dl4 * iq6k_level(q4, m4);
        }
        extra >>= 4;
        shift += 4;
        if (shift == 8) qh += 32, shift = 0;
    }
    (void)meta;
}

/* ---- row-interleaved groups: g holds R rows of n elements; y gets them row after row ---- */

/* iq4_ks_r4: 4 float row scales, then per 256 elements scales[32] (4*ib + row) and qs[512]:
 * row k's 32 elements of sub-block ib come from bytes 64*ib + 4*k + {0, 16, 32, 48} + i,
 * low and high nibbles, in the element order below */
void dqg_iq4_ks_r4(const uint8_t *g, float *y, int64_t n) {
    const uint8_t *blk = g + 16;
    for (int64_t ibl = 0; ibl < n / 256; ibl++, blk += 544)
        for (int k = 0; k < 4; k++) {
            float d = rd_f32(g + 4 * k), *yk = y + k * n + 256 * ibl;
            for (int ib = 0; ib < 8; ib++) {
                int s = blk[4 * ib + k];
                float dl = d * ((s & 254) - 127);
                const int8_t *v = iq4k_values + ((s & 1) << 4);
                const uint8_t *q = blk + 32 + 64 * ib + 4 * k;
                for (int i = 0; i < 4; i++) {
                    float *o = yk + 32 * ib + i;
                    o[0] = dl * v[q[i] & 0xf];
                    o[8] = dl * v[q[i] >> 4];
                    o[16] = dl * v[q[i + 16] & 0xf];
                    o[24] = dl * v[q[i + 16] >> 4];
                    o[4] = dl * v[q[i + 32] & 0xf];
                    o[12] = dl * v[q[i + 32] >> 4];
                    o[20] = dl * v[q[i + 48] & 0xf];
                    o[28] = dl * v[q[i + 48] >> 4];
                }
            }
        }
}

/* q8_0_r8: per 32 elements d[8] then qs[256]: row k's element 4l + i is qs[32l + 4k + i],
 * element 16 + 4l + i is qs[128 + 32l + 4k + i] */
void dqg_q8_0_r8(const uint8_t *g, float *y, int64_t n) {
    for (int64_t ib = 0; ib < n / 32; ib++, g += 272)
        for (int k = 0; k < 8; k++) {
            float d = qi_f16(g + 2 * k), *o = y + k * n + 32 * ib;
            const int8_t *q = (const int8_t *)(g + 16);
            for (int l = 0; l < 4; l++)
                for (int i = 0; i < 4; i++) {
                    o[4 * l + i] = d * q[32 * l + 4 * k + i];
                    o[16 + 4 * l + i] = d * q[128 + 32 * l + 4 * k + i];
                }
        }
}

/* q4_0_r8: per 32 elements d[8] then qs[128]: row k's 4l + i / 16 + 4l + i are the low / high
 * nibble of qs[32l + 4k + i], minus 8 */
void dqg_q4_0_r8(const uint8_t *g, float *y, int64_t n) {
    for (int64_t ib = 0; ib < n / 32; ib++, g += 144)
        for (int k = 0; k < 8; k++) {
            float d = qi_f16(g + 2 * k), *o = y + k * n + 32 * ib;
            const uint8_t *q = g + 16;
            for (int l = 0; l < 4; l++)
                for (int i = 0; i < 4; i++) {
                    o[4 * l + i] = d * ((q[32 * l + 4 * k + i] & 0xf) - 8);
                    o[16 + 4 * l + i] = d * ((q[32 * l + 4 * k + i] >> 4) - 8);
                }
        }
}

/* iq4_nl_r4: per 32 elements d[4] then qs[64], nibbles as in iq4_ks_r4 */
void dqg_iq4_nl_r4(const uint8_t *g, float *y, int64_t n) {
    for (int64_t ib = 0; ib < n / 32; ib++, g += 72)
        for (int k = 0; k < 4; k++) {
            float d = qi_f16(g + 2 * k);
            const uint8_t *q = g + 8 + 4 * k;
            for (int i = 0; i < 4; i++) {
                float *o = y + k * n + 32 * ib + i;
                o[0] = d * iq4k_values[q[i] & 0xf];
                o[8] = d * iq4k_values[q[i] >> 4];
                o[16] = d * iq4k_values[q[i + 16] & 0xf];
                o[24] = d * iq4k_values[q[i + 16] >> 4];
                o[4] = d * iq4k_values[q[i + 32] & 0xf];
                o[12] = d * iq4k_values[q[i + 32] >> 4];
                o[20] = d * iq4k_values[q[i + 48] & 0xf];
                o[28] = d * iq4k_values[q[i + 48] >> 4];
            }
        }
}

/* iq4_xs_r8: per 256 elements d[8], scales_h[16], scales_l[32], qs[1024]; scale index is = 8*ib + k */
void dqg_iq4_xs_r8(const uint8_t *g, float *y, int64_t n) {
    for (int64_t ibl = 0; ibl < n / 256; ibl++, g += 1088)
        for (int k = 0; k < 8; k++) {
            float d = qi_f16(g + 2 * k);
            const uint8_t *sh = g + 16, *sl = g + 32, *qs = g + 64;
            for (int ib = 0; ib < 8; ib++) {
                int is = 8 * ib + k;
                float dl = d * ((((sl[is % 32] >> (4 * (is / 32))) & 0xf) | (((sh[is % 16] >> (2 * (is / 16))) & 3) << 4)) - 32);
                for (int l = 0; l < 4; l++)
                    for (int i = 0; i < 4; i++) {
                        uint8_t q = qs[128 * ib + 4 * k + i + 32 * l];
                        float *o = y + k * n + 256 * ibl + 32 * ib + 8 * l + i;
                        o[0] = dl * iq4k_values[q & 0xf];
                        o[4] = dl * iq4k_values[q >> 4];
                    }
            }
        }
}

/* q6_0_r4: per 32 elements d[4], qh[32], qs[64]; value d*q + (-32 d), as ik computes it */
void dqg_q6_0_r4(const uint8_t *g, float *y, int64_t n) {
    for (int64_t ib = 0; ib < n / 32; ib++, g += 104)
        for (int k = 0; k < 4; k++) {
            float d = qi_f16(g + 2 * k), m = -32 * d;
            const uint8_t *qh = g + 8, *qs = g + 40;
            for (int l = 0; l < 4; l++) {
                int ll = 16 * (l % 2) + 4 * (l / 2);
                for (int i = 0; i < 4; i++) {
                    float *o = y + k * n + 32 * ib + i + ll;
                    int h = qh[4 * k + i + 16 * (l % 2)], q = qs[4 * k + i + 16 * l];
                    o[0] = d * ((q & 0xf) | (((h >> (2 * (l / 2))) & 3) << 4)) + m;
                    o[8] = d * ((q >> 4) | (((h >> (2 * (l / 2) + 4)) & 3) << 4)) + m;
                }
            }
        }
}

/* q5_0_r4: per 32 elements d[4], qh[16], qs[64]; value d*q + (-16 d) */
void dqg_q5_0_r4(const uint8_t *g, float *y, int64_t n) {
    for (int64_t ib = 0; ib < n / 32; ib++, g += 88)
        for (int k = 0; k < 4; k++) {
            float d = qi_f16(g + 2 * k), m = -16 * d;
            const uint8_t *qh = g + 8, *qs = g + 24;
            for (int l = 0; l < 4; l++) {
                int ll = 16 * (l % 2) + 4 * (l / 2);
                for (int i = 0; i < 4; i++) {
                    float *o = y + k * n + 32 * ib + i + ll;
                    int h = qh[4 * k + i], q = qs[4 * k + i + 16 * l];
                    o[0] = d * ((q & 0xf) | (((h >> l) & 1) << 4)) + m;
                    o[8] = d * ((q >> 4) | (((h >> (l + 4)) & 1) << 4)) + m;
                }
            }
        }
}
