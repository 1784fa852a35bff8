/* dot_q_avx2.c: AVX2 kernels for the 32-element block types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1)
 * against x in cpu_q16 blocks, the AVX2 x quantizers (q16, q16_K), and the AVX2 kernel lookup.
 * A weight block is unpacked once to 32 int16 (two ymm) and reused for up to QX x rows;
 * products are int16 pairs (madd) summed to int32, exact (|w| <= 128, |x| <= 32767: a block's
 * sum stays below 2^31), scaled per block in float. With one or two
 * x rows the block loop alternates two accumulator sets to hide FMA latency. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/matmul.h"
#include "quant/quant.h"

#define AI static inline __attribute__((always_inline))

AI float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* two f16 at p (d, and m for types with a min) as floats in lanes 0 and 1 */
AI __m128 f16x2(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128(v));
}

/* two halves of a block as 16 int16 each: lo = elements 0..15, hi = 16..31 */
typedef struct wq16 {
    __m256i lo, hi;
} wq16;

/* 16 bytes qs: low nibbles (elements 0..15) and high nibbles (16..31) as int16 words */
AI wq16 nibbles(const uint8_t *qs) {
    __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)qs));
    wq16 r = {_mm256_and_si256(v, _mm256_set1_epi16(15)), _mm256_srli_epi16(v, 4)};
    return r;
}

/* word i = 0x10 where bit i of the 16-bit h is set, else 0 */
AI __m256i fifth_bits16(uint32_t h) {
    const __m256i sel = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048,
                                          4096, 8192, 16384, (short)0x8000);
    __m256i v = _mm256_and_si256(_mm256_set1_epi16((short)h), sel);
    return _mm256_and_si256(_mm256_cmpeq_epi16(v, sel), _mm256_set1_epi16(0x10));
}

AI wq16 q5(const uint8_t *qh4, const uint8_t *qs) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    wq16 r = nibbles(qs);
    r.lo = _mm256_or_si256(r.lo, fifth_bits16(qh & 0xffff));
    r.hi = _mm256_or_si256(r.hi, fifth_bits16(qh >> 16));
    return r;
}

enum { T_Q8_0, T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1 };

/* Unpacks block w of type T: q as int16 (unsigned, or signed for Q8_0) and [d, mc] where mc
 * is the coefficient of x's block sum s (the offset -8d / -16d, or the min). */
AI wq16 unpack(int T, const uint8_t *w, __m128 *dm) {
    __m128 v = f16x2(w);
    switch (T) {
    case T_Q8_0: {
        *dm = v;
        wq16 r = {_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 2))),
                  _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + 18)))};
        return r;
    }
    case T_Q4_0: *dm = _mm_mul_ps(_mm_broadcastss_ps(v), _mm_setr_ps(1, -8, 0, 0));
                 return nibbles(w + 2);
    case T_Q4_1: *dm = v; return nibbles(w + 4);
    case T_Q5_0: *dm = _mm_mul_ps(_mm_broadcastss_ps(v), _mm_setr_ps(1, -16, 0, 0));
                 return q5(w + 2, w + 6);
    default: *dm = v; return q5(w + 4, w + 8);
    }
}

AI int block_bytes(int T) {
    return T == T_Q8_0 ? 34 : T == T_Q4_0 ? 18 : T == T_Q4_1 ? 20 : T == T_Q5_0 ? 22 : 24;
}

/* int32 x8 partial sums of q . xq (int16 pairs: exact, |sum| < 2^31 for a block) */
AI __m256i qdot(wq16 q, const int16_t *xq) {
    __m256i a = _mm256_madd_epi16(q.lo, _mm256_loadu_si256((const __m256i *)xq));
    __m256i b = _mm256_madd_epi16(q.hi, _mm256_loadu_si256((const __m256i *)(xq + 16)));
    return _mm256_add_epi32(a, b);
}

/* one block against NX x rows; per row p = [d*dx, mc*sx]: lane 0 scales the integer sum,
 * lane 1 accumulates the offset/min term in MACC */
#define STEP(ACC, MACC, B)                                                                    \
    do {                                                                                      \
        __m128 dm;                                                                            \
        wq16 q = unpack(T, w + (B) * block_bytes(T), &dm);                                    \
        _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {                                \
            const cpu_q16 *xb = (const cpu_q16 *)(x + c * xs) + (B);                          \
            __m256 sf = _mm256_cvtepi32_ps(qdot(q, xb->qs));                                  \
            __m128 p = _mm_mul_ps(dm, _mm_castpd_ps(_mm_load_sd((const double *)&xb->d)));    \
            ACC[c] = _mm256_fmadd_ps(sf, _mm256_broadcastss_ps(p), ACC[c]);                   \
            if (T != T_Q8_0)                                                                  \
                MACC[c] = _mm_add_ps(MACC[c], p);                                             \
        }                                                                                     \
    } while (0)

/* NX <= QX x rows: an accumulator and a min accumulator each stay in registers */
#define QX 4
AI void kern(int T, int NX, int64_t k, const uint8_t *w, const char *x, size_t xs, float *y,
             int64_t ldy) {
    __m256 acc0[QX], acc1[QX];
    __m128 macc0[QX], macc1[QX];
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
        acc0[c] = acc1[c] = _mm256_setzero_ps();
        macc0[c] = macc1[c] = _mm_setzero_ps();
    }
    int64_t nb = k / 32, b = 0;
    for (; b + 1 < nb; b += 2) {
        if (NX <= 2) {
            STEP(acc0, macc0, b);
            STEP(acc1, macc1, b + 1);
        } else {
            STEP(acc0, macc0, b);
            STEP(acc0, macc0, b + 1);
        }
    }
    if (b < nb)
        STEP(acc0, macc0, b);
    _Pragma("GCC unroll 4") for (int c = 0; c < NX; c++) {
        __m256 a = NX <= 2 ? _mm256_add_ps(acc0[c], acc1[c]) : acc0[c];
        __m128 mm = NX <= 2 ? _mm_add_ps(macc0[c], macc1[c]) : macc0[c];
        y[c * ldy] = hsum8(a) + _mm_cvtss_f32(_mm_movehdup_ps(mm));
    }
}

/* nx x rows in groups of QX */
AI void kgroups(int T, int64_t k, const uint8_t *w, const char *x, size_t xs, int nx, float *y,
                int64_t ldy) {
    while (nx > 0) {
        int g = nx < QX ? nx : QX;
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

#define DEF_DOT(name, T)                                                                      \
    static void dot_##name(int64_t k, const void *w, const void *x, size_t xs, int nx,        \
                           float *y, int64_t ldy) {                                           \
        kgroups(T, k, w, x, xs, nx, y, ldy);                                                  \
    }

DEF_DOT(q8_0, T_Q8_0)
DEF_DOT(q4_0, T_Q4_0)
DEF_DOT(q4_1, T_Q4_1)
DEF_DOT(q5_0, T_Q5_0)
DEF_DOT(q5_1, T_Q5_1)

AI int hsum8i(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

AI float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
}

void cpu_xquant_q16_avx2(const float *x, void *dst, int64_t k) {
    cpu_q16 *q = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        __m256 v[4], mx = _mm256_setzero_ps();
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 8 * i);
            mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, v[i]));
        }
        float amax = hmax8(mx);
        float d = amax / 32767.0f, id = d != 0 ? 32767.0f / amax : 0;
        __m256 idv = _mm256_set1_ps(id);
        __m256i iv[4], sum = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) {
            __m256 r = _mm256_round_ps(_mm256_mul_ps(v[i], idv),
                                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            iv[i] = _mm256_cvtps_epi32(r);
            sum = _mm256_add_epi32(sum, iv[i]);
        }
        __m256i p0 = _mm256_permute4x64_epi64(_mm256_packs_epi32(iv[0], iv[1]), 0xd8);
        __m256i p1 = _mm256_permute4x64_epi64(_mm256_packs_epi32(iv[2], iv[3]), 0xd8);
        _mm256_storeu_si256((__m256i *)q[b].qs, p0);
        _mm256_storeu_si256((__m256i *)(q[b].qs + 16), p1);
        q[b].d = d;
        q[b].s = d * (float)hsum8i(sum);
    }
}

void cpu_xquant_q16k_avx2(const float *x, void *dst, int64_t k) {
    cpu_q16k *q = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < k / 256; b++, x += 256) {
        __m256 mx = _mm256_setzero_ps();
        for (int i = 0; i < 32; i++)
            mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * i)));
        float amax = hmax8(mx);
        float d = amax / 32767.0f, id = d != 0 ? 32767.0f / amax : 0;
        __m256 idv = _mm256_set1_ps(id);
        for (int g = 0; g < 8; g++) { /* 32 elements: qs and their sum */
            __m256i iv[4];
            for (int i = 0; i < 4; i++)
                iv[i] = _mm256_cvtps_epi32(_mm256_round_ps(
                    _mm256_mul_ps(_mm256_loadu_ps(x + 32 * g + 8 * i), idv),
                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            __m256i p0 = _mm256_permute4x64_epi64(_mm256_packs_epi32(iv[0], iv[1]), 0xd8);
            __m256i p1 = _mm256_permute4x64_epi64(_mm256_packs_epi32(iv[2], iv[3]), 0xd8);
            _mm256_storeu_si256((__m256i *)(q[b].qs + 32 * g), p0);
            _mm256_storeu_si256((__m256i *)(q[b].qs + 32 * g + 16), p1);
            q[b].bsums[g] = hsum8i(_mm256_add_epi32(_mm256_add_epi32(iv[0], iv[1]),
                                                    _mm256_add_epi32(iv[2], iv[3])));
        }
        q[b].d = d;
    }
}

cpu_dot_fn cpu_dot_avx2(uint32_t wtype) {
    switch (wtype) {
    case QT_Q8_0: return dot_q8_0;
    case QT_Q4_0: return dot_q4_0;
    case QT_Q4_1: return dot_q4_1;
    case QT_Q5_0: return dot_q5_0;
    case QT_Q5_1: return dot_q5_1;
    default: {
        cpu_dot_fn f = cpu_dot_avx2_f(wtype);
        return f ? f : cpu_dot_avx2_k(wtype);
    }
    }
}
