/* gemm_q_avx512.c: AVX-512 VNNI kernels for Q8_0, Q4_0 and Q4_1 weights against many x rows
 * (prompt processing), x in plain q16 rows. A tile of GT = 16*R weight rows is widened once,
 * KC blocks at a time, into a small L1-resident buffer transposed so that one zmm holds one
 * int16 pair (elements 2p, 2p+1 of a block) of 16 weight rows; that buffer then serves every
 * x row. Per block, 16 vpdpwssd, each with the x pair broadcast from memory ({1to16}), leave
 * block sums of 16 weight rows in the 16 int32 lanes, so per (block, x row, 16 weight rows)
 * the float work is one convert, one multiply (d_w vector times d_x) and one FMA (two for
 * Q4_1: + m_w * s_x). A register tile of R weight-row vectors by C x rows keeps 2*R*C
 * accumulators (int32 per block, float per row) in registers; each output is a lane, so y is
 * stored as whole vectors, with no horizontal sums. Q4_0 is widened to q - 8 (signed), so it
 * needs no offset term. Exact integer sums: 32 products of |w| <= 128, |x| <= 32767 per lane. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/matmul.h"
#include "quant/quant.h"

#define AI static inline __attribute__((always_inline))
#ifndef GR
#define GR 2  /* weight-row vectors (16 rows each) per tile */
#endif
#ifndef GC
#define GC 6  /* x rows per register tile */
#endif
#ifndef KC
#define KC 8  /* blocks widened per pass: GR * KC * 2 KiB + scales, stays in L1 */
#endif
#define GT (16 * GR)
#define NB (86 * GC) /* most x rows per pass over a tile (their partial sums: NB * GT floats) */
_Static_assert(GC <= 12, "tail cases go to 11");

enum { T_Q8_0, T_Q4_0, T_Q4_1 };

AI int bbytes(int T) { return T == T_Q8_0 ? 34 : T == T_Q4_0 ? 18 : 20; }

typedef struct wbuf {
    __m512i q[KC][16][GR]; /* [block][pair][vector]: lane i = pair of weight row 16v + i */
    __m512 d[KC][GR];      /* d_w of the 16 rows */
    __m512 m[KC][GR];      /* m_w (Q4_1) */
} wbuf;

/* 16x16 int32 transpose of r[0..15] in place */
AI void tr16(__m512i *r) {
    __m512i t[16];
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    /* r[4a + j] lane L (128-bit) = row 4L+.. of column-group; now regroup lanes */
    _Pragma("GCC unroll 16") for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xdd);
        t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xdd);
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
        r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
        r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xdd);
    }
}

static inline float f16f(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* widens blocks [b0, b0 + nbc) of rows [j, j + nr) (nr <= GT; missing rows are zero) */
AI void widen(int T, const uint8_t *w, size_t ws, int64_t j, int nr, int64_t b0, int nbc,
              wbuf *B) {
    const int bb = bbytes(T);
    for (int v = 0; v < GR; v++) {
        for (int b = 0; b < nbc; b++) {
            __m512i r[16];
            float d[16], mm[16];
            for (int i = 0; i < 16; i++) {
                int row = 16 * v + i;
                if (row >= nr) {
                    r[i] = _mm512_setzero_si512();
                    d[i] = mm[i] = 0.0f;
                    continue;
                }
                const uint8_t *p = w + (size_t)(j + row) * ws + (size_t)(b0 + b) * bb;
                d[i] = f16f(p);
                if (T == T_Q8_0) {
                    r[i] = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(p + 2)));
                } else {
                    const uint8_t *qs = p + (T == T_Q4_1 ? 4 : 2);
                    __m256i q = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)qs));
                    __m256i lo = _mm256_and_si256(q, _mm256_set1_epi16(15));
                    __m256i hi = _mm256_srli_epi16(q, 4);
                    if (T == T_Q4_0) {
                        lo = _mm256_sub_epi16(lo, _mm256_set1_epi16(8));
                        hi = _mm256_sub_epi16(hi, _mm256_set1_epi16(8));
                    }
                    r[i] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
                    mm[i] = T == T_Q4_1 ? f16f(p + 2) : 0.0f;
                }
            }
            tr16(r);
            for (int p = 0; p < 16; p++)
                B->q[b][p][v] = r[p];
            B->d[b][v] = _mm512_loadu_ps(d);
            if (T == T_Q4_1)
                B->m[b][v] = _mm512_loadu_ps(mm);
        }
    }
}

/* acc + the int16 pairs of w times the pair at p broadcast: the broadcast is embedded in the
 * instruction ({1to16}), so it costs a load, not a vector ALU op as a separate vpbroadcastd
 * would (the compiler makes one of those when the pair serves more than one vpdpwssd) */
AI __m512i dpbc(__m512i acc, __m512i w, const int16_t *p) {
    __asm__("vpdpwssd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const int32_t *)p));
    return acc;
}

/* C x rows at x (xs apart) against the widened blocks [0, nbc) (x blocks from b0); adds to y
 * unless first; lanes past nr are not stored */
AI void tile(int T, int C, const wbuf *B, int nbc, const char *x, size_t xs, int64_t b0,
             float *y, int64_t ldy, int first, __mmask16 *mk) {
    __m512 acc[GC][GR];
    const cpu_q16 *xr[GC];
    _Pragma("GCC unroll 16") for (int c = 0; c < C; c++) {
        xr[c] = (const cpu_q16 *)(x + (size_t)c * xs) + b0;
        _Pragma("GCC unroll 16") for (int v = 0; v < GR; v++)
            acc[c][v] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mk[v], y + c * ldy + 16 * v);
    }
    for (int b = 0; b < nbc; b++) {
        __m512i s[GC][GR];
        _Pragma("GCC unroll 16") for (int c = 0; c < C; c++)
            _Pragma("GCC unroll 16") for (int v = 0; v < GR; v++)
                s[c][v] = _mm512_setzero_si512();
        _Pragma("GCC unroll 16") for (int p = 0; p < 16; p++) {
            __m512i wv[GR];
            _Pragma("GCC unroll 16") for (int v = 0; v < GR; v++)
                wv[v] = _mm512_load_si512((const void *)&B->q[b][p][v]);
            _Pragma("GCC unroll 16") for (int c = 0; c < C; c++) {
                const int16_t *xp = xr[c][b].qs + 2 * p;
                _Pragma("GCC unroll 16") for (int v = 0; v < GR; v++)
                    s[c][v] = dpbc(s[c][v], wv[v], xp);
            }
        }
        _Pragma("GCC unroll 16") for (int c = 0; c < C; c++) {
            __m512 dx = _mm512_set1_ps(xr[c][b].d);
            _Pragma("GCC unroll 16") for (int v = 0; v < GR; v++) {
                acc[c][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[c][v]),
                                            _mm512_mul_ps(B->d[b][v], dx), acc[c][v]);
                if (T == T_Q4_1)
                    acc[c][v] = _mm512_fmadd_ps(B->m[b][v], _mm512_set1_ps(xr[c][b].s), acc[c][v]);
            }
        }
    }
    _Pragma("GCC unroll 16") for (int c = 0; c < C; c++)
        _Pragma("GCC unroll 16") for (int v = 0; v < GR; v++)
            _mm512_mask_storeu_ps(y + c * ldy + 16 * v, mk[v], acc[c][v]);
}

AI void gemm(int T, int64_t k, const void *w, size_t ws, int64_t j0, int64_t j1, const void *x,
             size_t xs, int64_t n, float *y, int64_t ldy) {
    wbuf B __attribute__((aligned(64)));
    /* partial sums of NB x rows by the tile, contiguous: y itself, rows ldy apart, can alias
     * in cache sets (ldy a multiple of a large power of two) and lose its lines between
     * k-chunks */
    float acc[NB * GT] __attribute__((aligned(64)));
    __mmask16 full[GR];
    for (int v = 0; v < GR; v++)
        full[v] = 0xffff;
    int64_t nb = k / 32;
    /* passes of equal size (whole register tiles), not NB rows and a short rest */
    int64_t passes = (n + NB - 1) / NB, per = (n + passes - 1) / passes;
    per = (per + GC - 1) / GC * GC;
    for (int64_t j = j0; j < j1; j += GT) {
        int nr = j1 - j < GT ? (int)(j1 - j) : GT;
        __mmask16 mk[GR];
        for (int v = 0; v < GR; v++) {
            int l = nr - 16 * v;
            mk[v] = l <= 0 ? 0 : l >= 16 ? 0xffff : (__mmask16)((1u << l) - 1);
        }
        for (int64_t i0 = 0; i0 < n; i0 += per) {
            int ni = n - i0 < per ? (int)(n - i0) : (int)per;
            const char *x0 = (const char *)x + (size_t)i0 * xs;
            for (int64_t b0 = 0; b0 < nb; b0 += KC) {
                int nbc = nb - b0 < KC ? (int)(nb - b0) : KC;
                widen(T, w, ws, j, nr, b0, nbc, &B);
                int i = 0;
                for (; i + GC <= ni; i += GC)
                    tile(T, GC, &B, nbc, x0 + (size_t)i * xs, xs, b0, acc + i * GT, GT, b0 == 0,
                         full);
                const char *xi = x0 + (size_t)i * xs;
                float *ai = acc + i * GT;
                switch (ni - i) { /* the last ni % GC rows */
#define TAIL(c)                                                                               \
    case c: tile(T, c < GC ? c : 1, &B, nbc, xi, xs, b0, ai, GT, b0 == 0, full); break;
                    TAIL(1) TAIL(2) TAIL(3) TAIL(4) TAIL(5) TAIL(6) TAIL(7) TAIL(8) TAIL(9)
                    TAIL(10) TAIL(11)
#undef TAIL
                default: break;
                }
            }
            for (int r = 0; r < ni; r++)
                for (int v = 0; v < GR; v++)
                    _mm512_mask_storeu_ps(y + (i0 + r) * ldy + j + 16 * v, mk[v],
                                          _mm512_load_ps(acc + r * GT + 16 * v));
        }
    }
}

static void gemm_q8_0(int64_t k, const void *w, size_t ws, int64_t j0, int64_t j1, const void *x,
                      size_t xs, int64_t n, float *y, int64_t ldy) {
    gemm(T_Q8_0, k, w, ws, j0, j1, x, xs, n, y, ldy);
}
static void gemm_q4_0(int64_t k, const void *w, size_t ws, int64_t j0, int64_t j1, const void *x,
                      size_t xs, int64_t n, float *y, int64_t ldy) {
    gemm(T_Q4_0, k, w, ws, j0, j1, x, xs, n, y, ldy);
}
static void gemm_q4_1(int64_t k, const void *w, size_t ws, int64_t j0, int64_t j1, const void *x,
                      size_t xs, int64_t n, float *y, int64_t ldy) {
    gemm(T_Q4_1, k, w, ws, j0, j1, x, xs, n, y, ldy);
}

cpu_gemm_fn cpu_gemm_avx512(uint32_t wtype) {
    switch (wtype) {
    case QT_Q8_0: return gemm_q8_0;
    case QT_Q4_0: return gemm_q4_0;
    case QT_Q4_1: return gemm_q4_1;
    default: return NULL;
    }
}
