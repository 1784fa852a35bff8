/* dot_k_avx2.c: AVX2 kernels for the K-quants (Q4_K, Q5_K, Q6_K) against x in cpu_q16k
 * super-blocks (int16). Per super-block the 6/8-bit sub-block scales are unpacked once, the
 * quants of each 64 elements once, widened to int16 and premultiplied by their scale, and
 * reused for up to KX x rows (larger nx is done in groups): int16 pair products (madd) stay
 * exact in int32 lanes across a super-block (Q6_K: half of one; bounds at the kernels) and
 * are scaled by d * dx in float at its end. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/matmul.h"
#include "quant/quant.h"

#define AI static inline __attribute__((always_inline))
#define KX 4 /* x rows per pass: 2 int32 + 1 float accumulators each fit in 16 registers */

enum { T_Q4_K, T_Q5_K, T_Q6_K };

AI float hsum8k(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI float f16at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

/* 6-bit scales and mins of Q4_K/Q5_K: sc[0..7], mn[0..7] */
AI void scale_mins(const uint8_t *q, int16_t *sc, int16_t *mn) {
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        mn[j] = q[j + 4] & 63;
        sc[j + 4] = (q[j + 8] & 15) | (q[j] >> 6) << 4;
        mn[j + 4] = (q[j + 8] >> 4) | (q[j + 4] >> 6) << 4;
    }
}

/* Q4_K and Q5_K (Q5 = has fifth bits) for NX <= KX x rows. Quants are widened to int16 and
 * multiplied by their sub-block scale (q*sc <= 31*63, exact in int16); each int32 lane then
 * takes 32 products of a super-block, |sum| <= 32 * 1953 * 32767 < 2^31. */
AI void kern45(int T, int NX, int64_t k, const uint8_t *w, const char *x, size_t xs, float *y,
               int64_t ldy) {
    const int bb = T == T_Q4_K ? 144 : 176;
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    __m256 acc[KX];
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 256; b++, w += bb) {
        int16_t sc[8], mn[8];
        scale_mins(w + 4, sc, mn);
        const uint8_t *qh = w + 16, *qs = w + (T == T_Q4_K ? 16 : 48);
        __m256i hb = T == T_Q5_K ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
        __m256i sumi[KX];
        _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) sumi[c] = _mm256_setzero_si256();
        _Pragma("GCC unroll 4") for (int jj = 0; jj < 4; jj++) {
            __m256i q4 = _mm256_loadu_si256((const __m256i *)(qs + 32 * jj));
            __m256i lo = _mm256_and_si256(q4, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), m4);
            if (T == T_Q5_K) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(
                         _mm256_and_si256(_mm256_srli_epi16(hb, 2 * jj), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(
                         _mm256_and_si256(_mm256_srli_epi16(hb, 2 * jj + 1), one), 4));
            }
            __m256i slo = _mm256_set1_epi16(sc[2 * jj]), shi = _mm256_set1_epi16(sc[2 * jj + 1]);
            __m256i w0 = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(lo)), slo);
            __m256i w1 = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256(lo, 1)), slo);
            __m256i w2 = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(hi)), shi);
            __m256i w3 = _mm256_mullo_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256(hi, 1)), shi);
            _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
                const int16_t *xq = ((const cpu_q16k *)(x + c * xs) + b)->qs + 64 * jj;
                __m256i p0 = _mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *)xq));
                __m256i p1 = _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *)(xq + 16)));
                __m256i p2 = _mm256_madd_epi16(w2, _mm256_loadu_si256((const __m256i *)(xq + 32)));
                __m256i p3 = _mm256_madd_epi16(w3, _mm256_loadu_si256((const __m256i *)(xq + 48)));
                sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(_mm256_add_epi32(p0, p1),
                                                                     _mm256_add_epi32(p2, p3)));
            }
        }
        /* mins against the 32-element sums: |m * bsum| <= 63 * 32 * 32767 */
        __m256i mv = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)mn));
        float d = f16at(w), dmin = f16at(w + 2);
        _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
            const cpu_q16k *xb = (const cpu_q16k *)(x + c * xs) + b;
            __m256i ms = _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)xb->bsums), mv);
            __m256 dx = _mm256_broadcast_ss(&xb->d);
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[c]),
                                     _mm256_mul_ps(dx, _mm256_set1_ps(d)), acc[c]);
            acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms),
                                      _mm256_mul_ps(dx, _mm256_set1_ps(dmin)), acc[c]);
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) y[c * ldy] = hsum8k(acc[c]);
}

/* Q6_K for NX <= KX x rows. (q - 32) * sc (|.| <= 32 * 128) is exact in int16; an int32 lane
 * takes the 16 products of one half super-block, |sum| <= 16 * 4096 * 32767 < 2^31, and is
 * converted to float per half. */
AI void kern6(int NX, int64_t k, const uint8_t *w, const char *x, size_t xs, float *y,
              int64_t ldy) {
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    const __m256i o32 = _mm256_set1_epi16(32);
    __m256 acc[KX];
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 256; b++, w += 210) {
        const int8_t *scp = (const int8_t *)(w + 192);
        float d = f16at(w + 208);
        _Pragma("GCC unroll 2") for (int half = 0; half < 2; half++) {
            const uint8_t *ql = w + 64 * half, *qh = w + 128 + 32 * half;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            __m256i g[4];
            g[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
            g[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
            g[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
            g[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
            __m256i sumi[KX];
            _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) sumi[c] = _mm256_setzero_si256();
            _Pragma("GCC unroll 4") for (int gi = 0; gi < 4; gi++) {
                int a = 8 * half + 2 * gi;
                __m256i wl = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm256_castsi256_si128(g[gi])), o32);
                __m256i wh = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm256_extracti128_si256(g[gi], 1)), o32);
                wl = _mm256_mullo_epi16(wl, _mm256_set1_epi16(scp[a]));
                wh = _mm256_mullo_epi16(wh, _mm256_set1_epi16(scp[a + 1]));
                _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
                    const int16_t *xq = ((const cpu_q16k *)(x + c * xs) + b)->qs + 128 * half + 32 * gi;
                    __m256i pl = _mm256_madd_epi16(wl, _mm256_loadu_si256((const __m256i *)xq));
                    __m256i ph = _mm256_madd_epi16(wh, _mm256_loadu_si256((const __m256i *)(xq + 16)));
                    sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(pl, ph));
                }
            }
            _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
                const cpu_q16k *xb = (const cpu_q16k *)(x + c * xs) + b;
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[c]),
                                         _mm256_set1_ps(d * xb->d), acc[c]);
            }
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) y[c * ldy] = hsum8k(acc[c]);
}

AI void kdispatch(int T, int64_t k, const uint8_t *w, const char *x, size_t xs, int nx,
                  float *y, int64_t ldy) {
    while (nx > 0) {
        int g = nx < KX ? nx : KX;
        switch (g) {
        case 1: T == T_Q6_K ? kern6(1, k, w, x, xs, y, ldy) : kern45(T, 1, k, w, x, xs, y, ldy); break;
        case 2: T == T_Q6_K ? kern6(2, k, w, x, xs, y, ldy) : kern45(T, 2, k, w, x, xs, y, ldy); break;
        case 3: T == T_Q6_K ? kern6(3, k, w, x, xs, y, ldy) : kern45(T, 3, k, w, x, xs, y, ldy); break;
        default: T == T_Q6_K ? kern6(4, k, w, x, xs, y, ldy) : kern45(T, 4, k, w, x, xs, y, ldy); break;
        }
        nx -= g;
        x += (size_t)g * xs;
        y += g * ldy;
    }
}

static void dot_q4_k(int64_t k, const void *w, const void *x, size_t xs, int nx, float *y,
                     int64_t ldy) {
    kdispatch(T_Q4_K, k, w, x, xs, nx, y, ldy);
}
static void dot_q5_k(int64_t k, const void *w, const void *x, size_t xs, int nx, float *y,
                     int64_t ldy) {
    kdispatch(T_Q5_K, k, w, x, xs, nx, y, ldy);
}
static void dot_q6_k(int64_t k, const void *w, const void *x, size_t xs, int nx, float *y,
                     int64_t ldy) {
    kdispatch(T_Q6_K, k, w, x, xs, nx, y, ldy);
}

cpu_dot_fn cpu_dot_avx2_k(uint32_t wtype) {
    switch (wtype) {
    case QT_Q4_K: return dot_q4_k;
    case QT_Q5_K: return dot_q5_k;
    case QT_Q6_K: return dot_q6_k;
    default: return cpu_dot_avx2_k2(wtype);
    }
}
