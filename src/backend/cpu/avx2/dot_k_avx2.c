/* dot_k_avx2.c: AVX2 kernels for the K-quants (Q4_K, Q5_K, Q6_K) against x in cpu_q8k
 * super-blocks. Per super-block the 6/8-bit sub-block scales are unpacked once, the quants
 * of each 64 elements once, and reused for up to KX x rows (larger nx is done in groups):
 * integer sums per sub-block times the scale stay in int32 across the super-block, which the
 * ranges allow (|sum| < 2^29), and are scaled by d * dx in float at its end. */
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

/* Q4_K and Q5_K (Q5 = has fifth bits) for NX <= KX x rows */
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
            _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
                const cpu_q8k *xb = (const cpu_q8k *)(x + c * xs) + b;
                __m256i xl = _mm256_loadu_si256((const __m256i *)(xb->qs + 64 * jj));
                __m256i xh = _mm256_loadu_si256((const __m256i *)(xb->qs + 64 * jj + 32));
                __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, xl), slo);
                __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, xh), shi);
                sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(pl, ph));
            }
        }
        /* mins pairwise [m0 m0 m1 m1 ...] against the 16-element sums */
        __m256i mv = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)mn));
        mv = _mm256_or_si256(mv, _mm256_slli_epi32(mv, 16));
        float d = f16at(w), dmin = f16at(w + 2);
        _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
            const cpu_q8k *xb = (const cpu_q8k *)(x + c * xs) + b;
            __m256i ms = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xb->bsums), mv);
            __m256 dx = _mm256_broadcast_ss(&xb->d);
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[c]),
                                     _mm256_mul_ps(dx, _mm256_set1_ps(d)), acc[c]);
            acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms),
                                      _mm256_mul_ps(dx, _mm256_set1_ps(dmin)), acc[c]);
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) y[c * ldy] = hsum8k(acc[c]);
}

/* Q6_K for NX <= KX x rows */
AI void kern6(int NX, int64_t k, const uint8_t *w, const char *x, size_t xs, float *y,
              int64_t ldy) {
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    __m256 acc[KX];
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 256; b++, w += 210) {
        const int8_t *scp = (const int8_t *)(w + 192);
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)scp));
        __m256i sumi[KX];
        _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
            /* the -32 offset: sum_i sc_i * 32 * bsum_i */
            const cpu_q8k *xb = (const cpu_q8k *)(x + c * xs) + b;
            __m256i off = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)xb->bsums), sc16);
            sumi[c] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
        }
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
            _Pragma("GCC unroll 4") for (int gi = 0; gi < 4; gi++) {
                int a = 8 * half + 2 * gi;
                __m256i sv = _mm256_set_m128i(_mm_set1_epi16(scp[a + 1]), _mm_set1_epi16(scp[a]));
                _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
                    const cpu_q8k *xb = (const cpu_q8k *)(x + c * xs) + b;
                    __m256i xq = _mm256_loadu_si256((const __m256i *)(xb->qs + 128 * half + 32 * gi));
                    sumi[c] = _mm256_add_epi32(sumi[c],
                                               _mm256_madd_epi16(_mm256_maddubs_epi16(g[gi], xq), sv));
                }
            }
        }
        float d = f16at(w + 208);
        _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
            const cpu_q8k *xb = (const cpu_q8k *)(x + c * xs) + b;
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[c]),
                                     _mm256_set1_ps(d * xb->d), acc[c]);
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
    default: return NULL;
    }
}
