/* dot_k2_avx2.c: AVX2 kernels for Q2_K, Q3_K, IQ4_XS and ik_llama.cpp's IQ4_KS against x in cpu_q16k super-blocks,
 * built like dot_k_avx2.c: per super-block the quants are unpacked once to int16, multiplied
 * by their sub-block scale, and reused for up to KX x rows; int16 pair products (madd) are
 * summed exactly in int32 lanes and scaled by d * dx in float (bounds at each kernel). The
 * references are in dot_ref_k2.c. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/matmul.h"
#include "quant/quant.h"

#define AI static inline __attribute__((always_inline))
#define KX 4

enum { T_Q2_K, T_Q3_K, T_IQ4_XS, T_IQ4_KS };

AI float hsum8(__m256 v) {
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

AI const int16_t *xqs(const char *x, size_t xs, int c, int64_t b) {
    return ((const cpu_q16k *)(x + c * xs) + b)->qs;
}

/* Q2_K / Q3_K: 32 2-bit quants of group g (0..3) of a 128-half are bits 2g of the 32 qs
 * bytes; bytes 0..15 and 16..31 are two sub-blocks of 16. Q2_K: w = q*(sc & 15) <= 45, mins
 * m*(sum of 16 x) separately; Q3_K: w = (q - 4*!h)*(sc - 32), |w| <= 128. An int32 lane takes
 * 32 products a super-block: 32 * 128 * 32767 < 2^31. */
AI void kern23(int T, int NX, int64_t k, const uint8_t *w, const char *x, size_t xs, float *y, int64_t ldy) {
    const int bb = T == T_Q2_K ? 84 : 110;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), four = _mm256_set1_epi16(4);
    __m256 acc[KX];
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 256; b++, w += bb) {
        int16_t sc[16], mn[16];
        const uint8_t *qs = w + (T == T_Q2_K ? 16 : 32);
        __m256i hm = _mm256_setzero_si256();
        if (T == T_Q2_K) {
            for (int j = 0; j < 16; j++) sc[j] = w[j] & 15, mn[j] = w[j] >> 4;
        } else {
            const uint8_t *s = w + 96;
            for (int j = 0; j < 16; j++) {
                int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4, hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
                sc[j] = (int16_t)((lo | hi << 4) - 32);
            }
            hm = _mm256_loadu_si256((const __m256i *)w);
        }
        __m256i sumi[KX], summ[KX];
        _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) sumi[c] = summ[c] = _mm256_setzero_si256();
        _Pragma("GCC unroll 2") for (int n = 0; n < 2; n++) {
            __m256i q8 = _mm256_loadu_si256((const __m256i *)(qs + 32 * n));
            _Pragma("GCC unroll 4") for (int g = 0; g < 4; g++) {
                int j = 8 * n + 2 * g, e = 128 * n + 32 * g;
                __m256i q = _mm256_and_si256(_mm256_srli_epi16(q8, 2 * g), m3);
                if (T == T_Q3_K) /* the third bit: q | h << 2, then minus 4 below */
                    q = _mm256_or_si256(q, _mm256_slli_epi16(
                                               _mm256_and_si256(_mm256_srli_epi16(hm, 4 * n + g), one), 2));
                __m256i w0 = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(q));
                __m256i w1 = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(q, 1));
                if (T == T_Q3_K) {
                    w0 = _mm256_sub_epi16(w0, four);
                    w1 = _mm256_sub_epi16(w1, four);
                }
                w0 = _mm256_mullo_epi16(w0, _mm256_set1_epi16(sc[j]));
                w1 = _mm256_mullo_epi16(w1, _mm256_set1_epi16(sc[j + 1]));
                __m256i m0 = _mm256_set1_epi16(T == T_Q2_K ? mn[j] : 0);
                __m256i m1 = _mm256_set1_epi16(T == T_Q2_K ? mn[j + 1] : 0);
                _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
                    const int16_t *xq = xqs(x, xs, c, b) + e;
                    __m256i x0 = _mm256_loadu_si256((const __m256i *)xq);
                    __m256i x1 = _mm256_loadu_si256((const __m256i *)(xq + 16));
                    sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(_mm256_madd_epi16(w0, x0),
                                                                         _mm256_madd_epi16(w1, x1)));
                    if (T == T_Q2_K) /* mins: m <= 15, 32 products a lane */
                        summ[c] = _mm256_add_epi32(summ[c], _mm256_add_epi32(_mm256_madd_epi16(m0, x0),
                                                                             _mm256_madd_epi16(m1, x1)));
                }
            }
        }
        float d = f16at(w + (T == T_Q2_K ? 80 : 108)), dmin = T == T_Q2_K ? f16at(w + 82) : 0.0f;
        _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
            __m256 dx = _mm256_broadcast_ss(&((const cpu_q16k *)(x + c * xs) + b)->d);
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[c]), _mm256_mul_ps(dx, _mm256_set1_ps(d)), acc[c]);
            if (T == T_Q2_K)
                acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(summ[c]), _mm256_mul_ps(dx, _mm256_set1_ps(dmin)),
                                          acc[c]);
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) y[c * ldy] = hsum8(acc[c]);
}

/* IQ4_XS: nibbles through the 16-entry grid by a byte shuffle, times (ls - 32): |w| <= 4064.
 * An int32 lane takes 4 products a sub-block, 16 per half super-block: 16 * 4064 * 32767 <
 * 2^31, so the sums go to float every half. */
AI void kern_iq4xs(int NX, int64_t k, const uint8_t *w, const char *x, size_t xs, float *y, int64_t ldy) {
    const __m128i grid = _mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
    const __m256i grid2 = _mm256_broadcastsi128_si256(grid), m4 = _mm256_set1_epi8(15);
    __m256 acc[KX];
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 256; b++, w += 136) {
        unsigned sh = (unsigned)w[2] | (unsigned)w[3] << 8;
        float d = f16at(w);
        _Pragma("GCC unroll 2") for (int half = 0; half < 2; half++) {
            __m256i sumi[KX];
            _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) sumi[c] = _mm256_setzero_si256();
            _Pragma("GCC unroll 2") for (int p = 0; p < 2; p++) { /* two sub-blocks per 32 bytes */
                int j = 4 * half + 2 * p;
                __m256i q = _mm256_loadu_si256((const __m256i *)(w + 8 + 16 * j));
                __m256i lo = _mm256_shuffle_epi8(grid2, _mm256_and_si256(q, m4));
                __m256i hi = _mm256_shuffle_epi8(grid2, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
                int ls0 = (((w[4 + j / 2] >> (4 * (j % 2))) & 15) | (int)((sh >> (2 * j)) & 3) << 4) - 32;
                int ls1 = (((w[4 + (j + 1) / 2] >> (4 * ((j + 1) % 2))) & 15) | (int)((sh >> (2 * j + 2)) & 3) << 4) - 32;
                __m256i s0 = _mm256_set1_epi16((int16_t)ls0), s1 = _mm256_set1_epi16((int16_t)ls1);
                /* sub-block j: low nibbles of bytes 0..15 then high nibbles; j+1: bytes 16..31 */
                __m256i w0 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(lo)), s0);
                __m256i w1 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(hi)), s0);
                __m256i w2 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(lo, 1)), s1);
                __m256i w3 = _mm256_mullo_epi16(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(hi, 1)), s1);
                _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
                    const int16_t *xq = xqs(x, xs, c, b) + 32 * j;
                    __m256i p0 = _mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *)xq));
                    __m256i p1 = _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *)(xq + 16)));
                    __m256i p2 = _mm256_madd_epi16(w2, _mm256_loadu_si256((const __m256i *)(xq + 32)));
                    __m256i p3 = _mm256_madd_epi16(w3, _mm256_loadu_si256((const __m256i *)(xq + 48)));
                    sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(_mm256_add_epi32(p0, p1),
                                                                         _mm256_add_epi32(p2, p3)));
                }
            }
            _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
                float dx = ((const cpu_q16k *)(x + c * xs) + b)->d;
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[c]), _mm256_set1_ps(d * dx), acc[c]);
            }
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) y[c * ldy] = hsum8(acc[c]);
}

/* IQ4_KS: a float d ahead of the row; per sub-block the grid (plain or shifted, by bit 0 of
 * its scale byte) by a byte shuffle; the grid values are dotted with x (4 products a lane,
 * |sum| <= 4 * 127 * 32767) and each sub-block's int32 sums go to float times its scale
 * ((s & 254) - 127) and d * dx. */
AI void kern_iq4ks(int NX, int64_t k, const uint8_t *w, const char *x, size_t xs, float *y, int64_t ldy) {
    const __m256i g0 = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113));
    const __m256i g1 = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(-123, -100, -79, -61, -45, -31, -18, -6, 5, 17, 29, 42, 57, 73, 93, 117));
    const __m256i m4 = _mm256_set1_epi8(15);
    float d;
    memcpy(&d, w, 4);
    w += 4;
    __m256 acc[KX];
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t b = 0; b < k / 256; b++, w += 136) {
        _Pragma("GCC unroll 2") for (int p = 0; p < 4; p++) { /* two sub-blocks per 32 bytes */
            int j = 2 * p;
            __m256i q = _mm256_loadu_si256((const __m256i *)(w + 8 + 16 * j));
            __m256i lo4 = _mm256_and_si256(q, m4), hi4 = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            /* bytes 0..15 belong to sub-block j, 16..31 to j + 1: per 128-bit lane its own grid */
            __m256i gsel = _mm256_set_m128i(w[j + 1] & 1 ? _mm256_castsi256_si128(g1) : _mm256_castsi256_si128(g0),
                                            w[j] & 1 ? _mm256_castsi256_si128(g1) : _mm256_castsi256_si128(g0));
            __m256i lo = _mm256_shuffle_epi8(gsel, lo4), hi = _mm256_shuffle_epi8(gsel, hi4);
            __m256i w0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(lo));
            __m256i w1 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(hi));
            __m256i w2 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(lo, 1));
            __m256i w3 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(hi, 1));
            float s0 = d * (float)((w[j] & 254) - 127), s1 = d * (float)((w[j + 1] & 254) - 127);
            _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
                const int16_t *xq = xqs(x, xs, c, b) + 32 * j;
                __m256i a = _mm256_add_epi32(_mm256_madd_epi16(w0, _mm256_loadu_si256((const __m256i *)xq)),
                                             _mm256_madd_epi16(w1, _mm256_loadu_si256((const __m256i *)(xq + 16))));
                __m256i e = _mm256_add_epi32(_mm256_madd_epi16(w2, _mm256_loadu_si256((const __m256i *)(xq + 32))),
                                             _mm256_madd_epi16(w3, _mm256_loadu_si256((const __m256i *)(xq + 48))));
                float dx = ((const cpu_q16k *)(x + c * xs) + b)->d;
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a), _mm256_set1_ps(s0 * dx), acc[c]);
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(e), _mm256_set1_ps(s1 * dx), acc[c]);
            }
        }
    }
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) y[c * ldy] = hsum8(acc[c]);
}

AI void kern(int T, int NX, int64_t k, const uint8_t *w, const char *x, size_t xs, float *y, int64_t ldy) {
    if (T == T_IQ4_XS)
        kern_iq4xs(NX, k, w, x, xs, y, ldy);
    else if (T == T_IQ4_KS)
        kern_iq4ks(NX, k, w, x, xs, y, ldy);
    else
        kern23(T, NX, k, w, x, xs, y, ldy);
}

AI void kdispatch(int T, int64_t k, const uint8_t *w, const char *x, size_t xs, int nx, float *y, int64_t ldy) {
    while (nx > 0) {
        int g = nx < KX ? nx : KX;
        switch (g) {
        case 1: kern(T, 1, k, w, x, xs, y, ldy); break;
        case 2: kern(T, 2, k, w, x, xs, y, ldy); break;
        case 3: kern(T, 3, k, w, x, xs, y, ldy); break;
        default: kern(T, 4, k, w, x, xs, y, ldy); break;
        }
        nx -= g;
        x += (size_t)g * xs;
        y += g * ldy;
    }
}

static void dot_q2_k(int64_t k, const void *w, const void *x, size_t xs, int nx, float *y, int64_t ldy) {
    kdispatch(T_Q2_K, k, w, x, xs, nx, y, ldy);
}
static void dot_q3_k(int64_t k, const void *w, const void *x, size_t xs, int nx, float *y, int64_t ldy) {
    kdispatch(T_Q3_K, k, w, x, xs, nx, y, ldy);
}
static void dot_iq4_xs(int64_t k, const void *w, const void *x, size_t xs, int nx, float *y, int64_t ldy) {
    kdispatch(T_IQ4_XS, k, w, x, xs, nx, y, ldy);
}

static void dot_iq4_ks(int64_t k, const void *w, const void *x, size_t xs, int nx, float *y, int64_t ldy) {
    kdispatch(T_IQ4_KS, k, w, x, xs, nx, y, ldy);
}

cpu_dot_fn cpu_dot_avx2_k2(uint32_t wtype) {
    switch (wtype) {
    case QT_Q2_K: return dot_q2_k;
    case QT_Q3_K: return dot_q3_k;
    case QT_IQ4_XS: return dot_iq4_xs;
    case QT_IQ4_KS: return dot_iq4_ks;
    default: return NULL;
    }
}
