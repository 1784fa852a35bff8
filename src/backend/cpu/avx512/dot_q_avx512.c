/* dot_q_avx512.c: AVX-512 VNNI kernels for Q8_0, Q4_0 and Q4_1 against x in cpu_q16x4 groups
 * (four q16 blocks, eight int16 elements of each block per 128-bit lane, see matmul.h).
 * Four weight blocks are unpacked per step: one or two 64-byte loads, word permutes
 * (vpermw / vpermt2w) that gather the quants of the four blocks into one register and their
 * eight f16 scales (d, and m or d) into one, then byte-to-word unpacks (per 128-bit lane)
 * widen them to four registers of int16 laid out as x is, and four vpdpwssd (int16 pairs,
 * exact int32 sums: eight products of |w| <= 128 and |x| <= 32767 per lane) per x row leave
 * the four int32 partial sums of block b in 128-bit lane b. [d_w, m_w] times x's [d_x, s_x]
 * is one 8-float multiply; d_w*d_x is spread to the lanes by one permute and scales the sums
 * into a zmm accumulator, m_w*s_x is summed in a ymm one (not for Q8_0: signed, no offset);
 * each row is reduced once at its end, so there is no horizontal work per block. Q4_0's
 * offset is -8 d_w*s_x, the constant applied once per row. A last partial group of blocks is
 * read with masked loads, so nothing past the row is touched; x is zero there. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/matmul.h"
#include "quant/quant.h"

#define AI static inline __attribute__((always_inline))
#define QX 8 /* x rows per pass over a weight row: 2 float accumulators each */

enum { T_Q8_0, T_Q4_0, T_Q4_1 };

AI int bbytes(int T) { return T == T_Q8_0 ? 34 : T == T_Q4_0 ? 18 : 20; }

/* word indices into the block bytes (as 16-bit words) of four consecutive blocks:
 * *_q / *_lo / *_hi gather 8 quant words per block into lane b; *_dm put d of blocks 0..3 in
 * words 0..3 and the coefficient of s (m for Q4_1, d again for the others) in words 4..7 */
static const uint16_t q41_q[32] = {2,  3,  4,  5,  6,  7,  8,  9,  12, 13, 14, 15, 16, 17, 18, 19,
                                   22, 23, 24, 25, 26, 27, 28, 29, 32, 33, 34, 35, 36, 37, 38, 39};
static const uint16_t q41_dm[32] = {0, 10, 20, 30, 1, 11, 21, 31};
static const uint16_t q40_q[32] = {1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12, 13, 14, 15, 16, 17,
                                   19, 20, 21, 22, 23, 24, 25, 26, 28, 29, 30, 31, 32, 33, 34, 35};
static const uint16_t q40_dm[32] = {0, 9, 18, 27, 0, 9, 18, 27};
static const uint16_t q80_lo[32] = {1,  2,  3,  4,  5,  6,  7,  8,  18, 19, 20, 21, 22, 23, 24, 25,
                                    35, 36, 37, 38, 39, 40, 41, 42, 52, 53, 54, 55, 56, 57, 58, 59};
/* relative to the block bytes + 8 */
static const uint16_t q80_hi[32] = {5,  6,  7,  8,  9,  10, 11, 12, 22, 23, 24, 25, 26, 27, 28, 29,
                                    39, 40, 41, 42, 43, 44, 45, 46, 56, 57, 58, 59, 60, 61, 62, 63};
static const uint16_t q80_dm[32] = {0, 17, 34, 51, 0, 17, 34, 51};

/* what the offset/min sums are multiplied by at the end of a row */
AI float mcoef(int T) { return T == T_Q8_0 ? 0.0f : T == T_Q4_0 ? -8.0f : 1.0f; }

AI __m512i ldidx(const uint16_t *t) { return _mm512_loadu_si512((const void *)t); }

/* 64 bytes at p, or only its first bytes set in mask (the rest zero) when !FULL */
AI __m512i ld(int FULL, const uint8_t *p, __mmask64 mask) {
    return FULL ? _mm512_loadu_si512((const void *)p) : _mm512_maskz_loadu_epi8(mask, p);
}

/* the 8 (Q4_0) or 16 (Q4_1) bytes of the last block past the first 64 of a group */
AI __m512i ld_end(int FULL, int n, const uint8_t *p, __mmask64 mask) {
    if (!FULL)
        return _mm512_maskz_loadu_epi8(mask, p);
    return _mm512_zextsi128_si512(n == 8 ? _mm_loadl_epi64((const __m128i *)p)
                                         : _mm_loadu_si128((const __m128i *)p));
}

/* mask of the bytes [o, o + 64) that fall below v valid bytes, relative to o */
static inline __mmask64 tail_mask(int v, int o) {
    int n = v - o;
    return n <= 0 ? 0 : n >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << n) - 1;
}

typedef struct unpacked {
    __m512i q[4]; /* int16 quants: q[r] lane b = elements 8r .. 8r+7 of block b */
    __m256 dm;    /* [d_w of blocks 0..3, coefficient of s_x of blocks 0..3] */
} unpacked;

/* words 0..7 of v (f16) as floats */
AI __m256 f16x8(__m512i v) { return _mm256_cvtph_ps(_mm512_castsi512_si128(v)); }

/* bytes 0..7 / 8..15 of each 128-bit lane of v as signed words */
AI __m512i s8lo(__m512i v) { return _mm512_srai_epi16(_mm512_unpacklo_epi8(v, v), 8); }
AI __m512i s8hi(__m512i v) { return _mm512_srai_epi16(_mm512_unpackhi_epi8(v, v), 8); }

/* Unpacks four blocks at w; when !FULL, only the bytes in masks m[0..3] are read. */
AI unpacked unpack4(int T, int FULL, const uint8_t *w, const __mmask64 *m) {
    unpacked u;
    if (T == T_Q8_0) {
        __m512i a = ld(FULL, w, m[0]), b = ld(FULL, w + 64, m[1]);
        __m512i a2 = ld(FULL, w + 8, m[2]), b2 = ld(FULL, w + 72, m[3]);
        __m512i lo = _mm512_permutex2var_epi16(a, ldidx(q80_lo), b);
        __m512i hi = _mm512_permutex2var_epi16(a2, ldidx(q80_hi), b2);
        u.q[0] = s8lo(lo);
        u.q[1] = s8hi(lo);
        u.q[2] = s8lo(hi);
        u.q[3] = s8hi(hi);
        u.dm = f16x8(_mm512_permutex2var_epi16(a, ldidx(q80_dm), b));
    } else {
        const __m512i n4 = _mm512_set1_epi16(15), z = _mm512_setzero_si512();
        __m512i a = ld(FULL, w, m[0]);
        __m512i b = ld_end(FULL, T == T_Q4_0 ? 8 : 16, w + 64, m[1]);
        __m512i q = _mm512_permutex2var_epi16(a, ldidx(T == T_Q4_0 ? q40_q : q41_q), b);
        __m512i l = _mm512_unpacklo_epi8(q, z), h = _mm512_unpackhi_epi8(q, z);
        u.q[0] = _mm512_and_si512(l, n4);
        u.q[1] = _mm512_and_si512(h, n4);
        u.q[2] = _mm512_srli_epi16(l, 4);
        u.q[3] = _mm512_srli_epi16(h, 4);
        __asm__("" : "+v"(a)); /* one load of a for both permutes */
        u.dm = f16x8(_mm512_permutexvar_epi16(ldidx(T == T_Q4_0 ? q40_dm : q41_dm), a));
    }
    return u;
}

/* Unpacked blocks against one x group: sc = [d_w*d_x, mc_w*s_x] of the four blocks; the
 * integer sums of block b are scaled by lane b of d_w*d_x, the s terms summed in macc. */
AI void accum(int T, const unpacked *u, const cpu_q16x4 *xg, __m512i didx, __m512 *acc,
              __m256 *macc) {
    __m512i s = _mm512_dpwssd_epi32(_mm512_setzero_si512(), u->q[0],
                                    _mm512_loadu_si512((const void *)xg->qs[0]));
    s = _mm512_dpwssd_epi32(s, u->q[1], _mm512_loadu_si512((const void *)xg->qs[1]));
    s = _mm512_dpwssd_epi32(s, u->q[2], _mm512_loadu_si512((const void *)xg->qs[2]));
    s = _mm512_dpwssd_epi32(s, u->q[3], _mm512_loadu_si512((const void *)xg->qs[3]));
    __m256 sc = _mm256_mul_ps(u->dm, _mm256_loadu_ps(xg->d));
    __m512 dd = _mm512_permutexvar_ps(didx, _mm512_castps256_ps512(sc));
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), dd, *acc);
    if (T != T_Q8_0)
        *macc = _mm256_add_ps(*macc, sc);
}

/* one row's sums: the float lanes of acc plus mc times floats 4..7 of macc */
AI __m512 row_total(int T, __m512 acc, __m256 macc) {
    __m256 m = _mm256_blend_ps(_mm256_mul_ps(macc, _mm256_set1_ps(mcoef(T))),
                               _mm256_setzero_ps(), 15);
    return _mm512_add_ps(acc, _mm512_castps256_ps512(m));
}

static const int32_t didx_tab[16] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3};

AI void set_tail(int T, int64_t nb, __mmask64 *masks) {
    int v = (int)(nb % 4) * bbytes(T);
    masks[0] = tail_mask(v, 0);
    masks[1] = tail_mask(v, 64);
    masks[2] = tail_mask(v, 8);
    masks[3] = tail_mask(v, 72);
}

/* one weight row against NX <= QX x rows */
AI void kern(int T, int NX, int64_t k, const uint8_t *w, const char *x, size_t xs, float *y,
             int64_t ldy) {
    const int bb = bbytes(T);
    const __m512i didx = _mm512_loadu_si512((const void *)didx_tab);
    __m512 acc[QX];
    __m256 macc[QX];
    _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) {
        acc[c] = _mm512_setzero_ps();
        macc[c] = _mm256_setzero_ps();
    }
    int64_t nb = k / 32, ng = nb / 4, g = 0;
    __mmask64 masks[4] = {0, 0, 0, 0};
    for (; g < ng; g++) {
        unpacked u = unpack4(T, 1, w + (size_t)g * 4 * bb, masks);
        _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++)
            accum(T, &u, (const cpu_q16x4 *)(x + c * xs) + g, didx, &acc[c], &macc[c]);
    }
    if (nb % 4) {
        set_tail(T, nb, masks);
        unpacked u = unpack4(T, 0, w + (size_t)g * 4 * bb, masks);
        _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++)
            accum(T, &u, (const cpu_q16x4 *)(x + c * xs) + g, didx, &acc[c], &macc[c]);
    }
    _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++)
        y[c * ldy] = _mm512_reduce_add_ps(row_total(T, acc[c], macc[c]));
}

/* nx x rows in groups of up to QX (4 for the last short group's sizes 1..4, else 8) */
AI void kgroups(int T, int64_t k, const uint8_t *w, const char *x, size_t xs, int nx, float *y,
                int64_t ldy) {
    while (nx > 0) {
        int g = nx < QX ? nx : QX;
        switch (g) {
        case 1: kern(T, 1, k, w, x, xs, y, ldy); break;
        case 2: kern(T, 2, k, w, x, xs, y, ldy); break;
        case 3: kern(T, 3, k, w, x, xs, y, ldy); break;
        case 4: kern(T, 4, k, w, x, xs, y, ldy); break;
        case 5: kern(T, 5, k, w, x, xs, y, ldy); break;
        case 6: kern(T, 6, k, w, x, xs, y, ldy); break;
        case 7: kern(T, 7, k, w, x, xs, y, ldy); break;
        default: kern(T, 8, k, w, x, xs, y, ldy); break;
        }
        nx -= g;
        x += (size_t)g * xs;
        y += g * ldy;
    }
}

/* Four weight rows w + r*ws against one x row (token generation): one call, the tail masks
 * made once, the four sums reduced together. The rows are walked one after another: four
 * interleaved short streams defeat the hardware prefetcher. */
AI void kern4w(int T, int64_t k, const uint8_t *w, size_t ws, const char *x, float *y) {
    const int bb = bbytes(T);
    const __m512i didx = _mm512_loadu_si512((const void *)didx_tab);
    const cpu_q16x4 *xg = (const cpu_q16x4 *)x;
    __m512 v[4];
    int64_t nb = k / 32, ng = nb / 4;
    __mmask64 masks[4] = {0, 0, 0, 0};
    if (nb % 4)
        set_tail(T, nb, masks);
    _Pragma("GCC unroll 4") for (int r = 0; r < 4; r++) {
        const uint8_t *wr = w + r * ws;
        __m512 acc = _mm512_setzero_ps();
        __m256 macc = _mm256_setzero_ps();
        int64_t g = 0;
        for (; g < ng; g++) {
            unpacked u = unpack4(T, 1, wr + (size_t)g * 4 * bb, masks);
            accum(T, &u, xg + g, didx, &acc, &macc);
        }
        if (nb % 4) {
            unpacked u = unpack4(T, 0, wr + (size_t)g * 4 * bb, masks);
            accum(T, &u, xg + g, didx, &acc, &macc);
        }
        v[r] = row_total(T, acc, macc);
    }
    /* lanes to [row 0, row 1, row 2, row 3], then the four floats of each lane */
    __m512 a = _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], 0x44),
                             _mm512_shuffle_f32x4(v[0], v[1], 0xee));
    __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(v[2], v[3], 0x44),
                             _mm512_shuffle_f32x4(v[2], v[3], 0xee));
    __m512 c = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xdd));
    c = _mm512_add_ps(c, _mm512_shuffle_ps(c, c, 0x4e));
    c = _mm512_add_ps(c, _mm512_shuffle_ps(c, c, 0xb1));
    _mm_storeu_ps(y, _mm512_castps512_ps128(_mm512_maskz_compress_ps(0x1111, c)));
}

/* one x row (token generation) gets its own small function: no spills, no dispatch */
#define DEF_DOT(name, T)                                                                      \
    static __attribute__((noinline)) void dot1_##name(int64_t k, const uint8_t *w,           \
                                                      const char *x, float *y) {              \
        kern(T, 1, k, w, x, 0, y, 0);                                                         \
    }                                                                                         \
    static void dot_##name(int64_t k, const void *w, const void *x, size_t xs, int nx,        \
                           float *y, int64_t ldy) {                                           \
        if (nx == 1)                                                                          \
            dot1_##name(k, w, x, y);                                                          \
        else                                                                                  \
            kgroups(T, k, w, x, xs, nx, y, ldy);                                              \
    }                                                                                         \
    static void dot4w_##name(int64_t k, const void *w, size_t ws, const void *x, float *y) {  \
        kern4w(T, k, w, ws, x, y);                                                            \
    }

DEF_DOT(q8_0, T_Q8_0)
DEF_DOT(q4_0, T_Q4_0)
DEF_DOT(q4_1, T_Q4_1)

/* Same bytes as cpu_xquant_q16x4_ref: each block quantized by the AVX2 q16 quantizer (itself
 * byte-exact with the reference), then scattered into the group. */
void cpu_xquant_q16x4_avx512(const float *x, void *dst, int64_t k) {
    cpu_q16x4 *q = dst;
    int64_t nb = k / 32;
    for (int64_t g = 0; g < (nb + 3) / 4; g++) {
        cpu_q16x4 *o = q + g;
        memset(o, 0, sizeof *o);
        for (int b = 0; b < 4 && 4 * g + b < nb; b++) {
            cpu_q16 t;
            cpu_xquant_q16_avx2(x + 32 * (4 * g + b), &t, 32);
            for (int r = 0; r < 4; r++)
                memcpy(o->qs[r] + 8 * b, t.qs + 8 * r, 16);
            o->d[b] = t.d;
            o->s[b] = t.s;
        }
    }
}

cpu_dot4w_fn cpu_dot4w_avx512(uint32_t wtype) {
    switch (wtype) {
    case QT_Q8_0: return dot4w_q8_0;
    case QT_Q4_0: return dot4w_q4_0;
    case QT_Q4_1: return dot4w_q4_1;
    default: return NULL;
    }
}

cpu_dot_fn cpu_dot_avx512(uint32_t wtype) {
    switch (wtype) {
    case QT_Q8_0: return dot_q8_0;
    case QT_Q4_0: return dot_q4_0;
    case QT_Q4_1: return dot_q4_1;
    default: return NULL;
    }
}
