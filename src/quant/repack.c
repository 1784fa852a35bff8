/* repack.c: ik_llama.cpp's row-interleaved types (_R4/_R8: 4 or 8 rows stored block by block)
 * rewritten as the plain type of the same rows, losslessly: the same scales and the same
 * quant codes, only moved (IQ4_KS_R4 -> IQ4_KS, IQ4_XS_R8 -> IQ4_XS, IQ4_NL_R4 -> IQ4_NL,
 * Q8_0_R8 -> Q8_0, Q4_0_R8 -> Q4_0, Q5_0_R4 -> Q5_0, Q6_0_R4 -> Q6_0). A plain row has the same bytes as an interleaved one,
 * so a tensor keeps its size. Lets every kernel of the plain type run such files; test_quant
 * checks that the repacked rows dequantize to exactly what the interleaved group does (for
 * Q5_0_R4 / Q6_0_R4 to float rounding: ik computes d*q - 16d there, the plain types (q - 16)*d). */
#include <stdbool.h>
#include <string.h>

#include "quant_internal.h"

/* the 32 4-bit codes of row k in a 32-element sub-block of the IQ4_NL_R4 / IQ4_KS_R4 layout
 * (q = the sub-block's 64 bytes + 4k), packed the plain way: byte j = code j | code j+16 << 4 */
static void nl4_codes(const uint8_t *q, uint8_t *plain) {
    uint8_t c[32];
    for (int i = 0; i < 4; i++) {
        c[i] = q[i] & 0xf, c[i + 8] = q[i] >> 4;
        c[i + 16] = q[i + 16] & 0xf, c[i + 24] = q[i + 16] >> 4;
        c[i + 4] = q[i + 32] & 0xf, c[i + 12] = q[i + 32] >> 4;
        c[i + 20] = q[i + 48] & 0xf, c[i + 28] = q[i + 48] >> 4;
    }
    for (int j = 0; j < 16; j++) plain[j] = (uint8_t)(c[j] | c[j + 16] << 4);
}

/* one group of R rows of n elements: g (interleaved) -> rows (plain, row_bytes apart) */
static void rp_iq4_ks_r4(const uint8_t *g, uint8_t *out, int64_t n, size_t rb) {
    for (int k = 0; k < 4; k++) memcpy(out + k * rb, g + 4 * k, 4); /* the row scales */
    const uint8_t *blk = g + 16;
    for (int64_t ibl = 0; ibl < n / 256; ibl++, blk += 544)
        for (int k = 0; k < 4; k++) {
            uint8_t *p = out + k * rb + 4 + 136 * ibl;
            for (int ib = 0; ib < 8; ib++) {
                p[ib] = blk[4 * ib + k];
                nl4_codes(blk + 32 + 64 * ib + 4 * k, p + 8 + 16 * ib);
            }
        }
}

static void rp_iq4_nl_r4(const uint8_t *g, uint8_t *out, int64_t n, size_t rb) {
    for (int64_t ib = 0; ib < n / 32; ib++, g += 72)
        for (int k = 0; k < 4; k++) {
            uint8_t *p = out + k * rb + 18 * ib;
            memcpy(p, g + 2 * k, 2);
            nl4_codes(g + 8 + 4 * k, p + 2);
        }
}

static void rp_iq4_xs_r8(const uint8_t *g, uint8_t *out, int64_t n, size_t rb) {
    for (int64_t ibl = 0; ibl < n / 256; ibl++, g += 1088)
        for (int k = 0; k < 8; k++) {
            uint8_t *p = out + k * rb + 136 * ibl;
            const uint8_t *sh = g + 16, *sl = g + 32, *qs = g + 64;
            unsigned h16 = 0;
            memcpy(p, g + 2 * k, 2);
            memset(p + 4, 0, 4);
            for (int ib = 0; ib < 8; ib++) {
                int is = 8 * ib + k;
                int lo = (sl[is % 32] >> (4 * (is / 32))) & 0xf, hi = (sh[is % 16] >> (2 * (is / 16))) & 3;
                p[4 + ib / 2] |= (uint8_t)(lo << (4 * (ib % 2)));
                h16 |= (unsigned)hi << (2 * ib);
                uint8_t c[32]; /* element 8l + i: low nibble, 8l + i + 4: high nibble */
                for (int l = 0; l < 4; l++)
                    for (int i = 0; i < 4; i++) {
                        uint8_t q = qs[128 * ib + 4 * k + i + 32 * l];
                        c[8 * l + i] = q & 0xf, c[8 * l + i + 4] = q >> 4;
                    }
                for (int j = 0; j < 16; j++) p[8 + 16 * ib + j] = (uint8_t)(c[j] | c[j + 16] << 4);
            }
            p[2] = (uint8_t)h16, p[3] = (uint8_t)(h16 >> 8);
        }
}

static void rp_q8_0_r8(const uint8_t *g, uint8_t *out, int64_t n, size_t rb) {
    for (int64_t ib = 0; ib < n / 32; ib++, g += 272)
        for (int k = 0; k < 8; k++) {
            uint8_t *p = out + k * rb + 34 * ib;
            memcpy(p, g + 2 * k, 2);
            for (int l = 0; l < 4; l++)
                for (int i = 0; i < 4; i++) {
                    p[2 + 4 * l + i] = g[16 + 32 * l + 4 * k + i];
                    p[2 + 16 + 4 * l + i] = g[16 + 128 + 32 * l + 4 * k + i];
                }
        }
}

/* Q4_0_R8: byte 32l + 4k + i holds elements 4l + i (low) and 16 + 4l + i (high) of row k,
 * which is exactly plain Q4_0's byte 4l + i */
static void rp_q4_0_r8(const uint8_t *g, uint8_t *out, int64_t n, size_t rb) {
    for (int64_t ib = 0; ib < n / 32; ib++, g += 144)
        for (int k = 0; k < 8; k++) {
            uint8_t *p = out + k * rb + 18 * ib;
            memcpy(p, g + 2 * k, 2);
            for (int l = 0; l < 4; l++) memcpy(p + 2 + 4 * l, g + 16 + 32 * l + 4 * k, 4);
        }
}

/* Q5_0_R4 / Q6_0_R4: per 32 elements d[4], qh, qs[64]; row k's element i + ll (ll = 16(l%2) +
 * 4(l/2)) is the low nibble of qs[4k + i + 16l], element i + ll + 8 its high nibble; their high
 * bits sit in qh as the dequantizers in dequant_ik.c read them. Codes are gathered per row and
 * packed the plain way (Q5_0: qh bit j for element j; Q6_0: see dq_q6_0). */
static void rp_q56_0_r4(const uint8_t *g, uint8_t *out, int64_t n, size_t rb, bool six) {
    const int gb = six ? 104 : 88, pb = six ? 26 : 22;
    for (int64_t ib = 0; ib < n / 32; ib++, g += gb)
        for (int k = 0; k < 4; k++) {
            const uint8_t *qh = g + 8, *qs = g + (six ? 40 : 24);
            uint8_t c[32];
            for (int l = 0; l < 4; l++) {
                int ll = 16 * (l % 2) + 4 * (l / 2);
                for (int i = 0; i < 4; i++) {
                    int q = qs[4 * k + i + 16 * l], hlo, hhi;
                    if (six) {
                        int h = qh[4 * k + i + 16 * (l % 2)];
                        hlo = (h >> (2 * (l / 2))) & 3, hhi = (h >> (2 * (l / 2) + 4)) & 3;
                    } else {
                        int h = qh[4 * k + i];
                        hlo = (h >> l) & 1, hhi = (h >> (l + 4)) & 1;
                    }
                    c[i + ll] = (uint8_t)((q & 0xf) | hlo << 4);
                    c[i + ll + 8] = (uint8_t)((q >> 4) | hhi << 4);
                }
            }
            uint8_t *p = out + k * rb + (size_t)pb * ib;
            memcpy(p, g + 2 * k, 2);
            if (six) {
                memset(p + 2, 0, 8);
                for (int j = 0; j < 16; j++) {
                    p[10 + j] = (uint8_t)((c[j] & 15) | (c[j + 16] & 15) << 4);
                    p[2 + j % 8] |= (uint8_t)((((c[j] >> 4) & 3) | ((c[j + 16] >> 4) & 3) << 2) << (4 * (j / 8)));
                }
            } else {
                uint32_t h32 = 0;
                for (int j = 0; j < 32; j++) h32 |= (uint32_t)((c[j] >> 4) & 1) << j;
                for (int j = 0; j < 4; j++) p[2 + j] = (uint8_t)(h32 >> (8 * j));
                for (int j = 0; j < 16; j++) p[6 + j] = (uint8_t)((c[j] & 15) | (c[j + 16] & 15) << 4);
            }
        }
}
static void rp_q5_0_r4(const uint8_t *g, uint8_t *out, int64_t n, size_t rb) { rp_q56_0_r4(g, out, n, rb, false); }
static void rp_q6_0_r4(const uint8_t *g, uint8_t *out, int64_t n, size_t rb) { rp_q56_0_r4(g, out, n, rb, true); }

int quant_plain_type(uint32_t type) {
    switch (type) {
    case QT_IQ4_KS_R4: return QT_IQ4_KS;
    case QT_IQ4_NL_R4: return QT_IQ4_NL;
    case QT_IQ4_XS_R8: return QT_IQ4_XS;
    case QT_Q8_0_R8: return QT_Q8_0;
    case QT_Q4_0_R8: return QT_Q4_0;
    case QT_Q5_0_R4: return QT_Q5_0;
    case QT_Q6_0_R4: return QT_Q6_0;
    default: return -1;
    }
}

int quant_repack_plain(uint32_t type, const void *src, void *dst, int64_t n_rows, int64_t n) {
    const quant_type_info *ti = quant_type_info_get(type);
    int plain = quant_plain_type(type);
    if (!ti || plain < 0 || n <= 0 || n_rows <= 0 || n % ti->block_elems || n_rows % ti->row_interleave) return -1;
    size_t rb = quant_row_bytes(type, n);
    if (rb != quant_row_bytes((uint32_t)plain, n)) return -1;
    void (*f)(const uint8_t *, uint8_t *, int64_t, size_t) =
        type == QT_IQ4_KS_R4 ? rp_iq4_ks_r4 : type == QT_IQ4_NL_R4 ? rp_iq4_nl_r4 : type == QT_IQ4_XS_R8 ? rp_iq4_xs_r8
        : type == QT_Q8_0_R8 ? rp_q8_0_r8 : type == QT_Q5_0_R4 ? rp_q5_0_r4 : type == QT_Q6_0_R4 ? rp_q6_0_r4
        : rp_q4_0_r8;
    for (int64_t r = 0; r < n_rows; r += ti->row_interleave)
        f((const uint8_t *)src + (size_t)r * rb, (uint8_t *)dst + (size_t)r * rb, n, rb);
    return 0;
}
