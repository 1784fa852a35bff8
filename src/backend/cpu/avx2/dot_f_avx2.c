/* dot_f_avx2.c: AVX2+FMA kernels for f32, f16 and bf16 weights against f32 x rows. Eight
 * weights are widened to f32 once and FMA'd into every x row's accumulator; with one or two
 * x rows the loop keeps four accumulators per row to cover FMA latency. Any k works: the
 * last k % 8 elements are done in scalar code. */
#include <immintrin.h>
#include <string.h>

#include "backend/cpu/matmul.h"
#include "quant/quant.h"

#define AI static inline __attribute__((always_inline))

enum { T_F32, T_F16, T_BF16 };

AI float hsum8f(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AI __m256 load8(int T, const uint8_t *w) {
    if (T == T_F32)
        return _mm256_loadu_ps((const float *)w);
    __m128i h = _mm_loadu_si128((const __m128i *)w);
    if (T == T_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

AI float load1(int T, const uint8_t *w) {
    if (T == T_F32) {
        float f;
        memcpy(&f, w, 4);
        return f;
    }
    uint16_t h;
    memcpy(&h, w, 2);
    if (T == T_F16)
        return _cvtsh_ss(h);
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, 4);
    return f;
}

AI void fkern(int T, int NX, int64_t k, const uint8_t *w, const char *x, size_t xs, float *y,
              int64_t ldy) {
    enum { U = 4 };
    const int es = T == T_F32 ? 4 : 2;
    const int u = NX <= 2 ? U : 1; /* accumulator sets */
    __m256 acc[U][CPU_MM_NX];
    _Pragma("GCC unroll 4") for (int s = 0; s < U; s++)
        _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) acc[s][c] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 * u <= k; i += 8 * u) {
        _Pragma("GCC unroll 4") for (int s = 0; s < u; s++) {
            __m256 wv = load8(T, w + (i + 8 * s) * es);
            _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) {
                const float *xr = (const float *)(x + c * xs);
                acc[s][c] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xr + i + 8 * s), acc[s][c]);
            }
        }
    }
    for (; i + 8 <= k; i += 8) {
        __m256 wv = load8(T, w + i * es);
        _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) {
            const float *xr = (const float *)(x + c * xs);
            acc[0][c] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xr + i), acc[0][c]);
        }
    }
    _Pragma("GCC unroll 8") for (int c = 0; c < NX; c++) {
        __m256 a = acc[0][c];
        if (u == U)
            a = _mm256_add_ps(_mm256_add_ps(a, acc[1][c]), _mm256_add_ps(acc[2][c], acc[3][c]));
        float s = hsum8f(a);
        const float *xr = (const float *)(x + c * xs);
        for (int64_t t = i; t < k; t++)
            s += load1(T, w + t * es) * xr[t];
        y[c * ldy] = s;
    }
}

#define DEF_FDOT(name, T)                                                                     \
    static void dot_##name(int64_t k, const void *w, const void *x, size_t xs, int nx,        \
                           float *y, int64_t ldy) {                                           \
        switch (nx) {                                                                         \
        case 1: fkern(T, 1, k, w, x, xs, y, ldy); break;                                      \
        case 2: fkern(T, 2, k, w, x, xs, y, ldy); break;                                      \
        case 3: fkern(T, 3, k, w, x, xs, y, ldy); break;                                      \
        case 4: fkern(T, 4, k, w, x, xs, y, ldy); break;                                      \
        case 5: fkern(T, 5, k, w, x, xs, y, ldy); break;                                      \
        case 6: fkern(T, 6, k, w, x, xs, y, ldy); break;                                      \
        case 7: fkern(T, 7, k, w, x, xs, y, ldy); break;                                      \
        default: fkern(T, 8, k, w, x, xs, y, ldy); break;                                     \
        }                                                                                     \
    }

DEF_FDOT(f32, T_F32)
DEF_FDOT(f16, T_F16)
DEF_FDOT(bf16, T_BF16)

cpu_dot_fn cpu_dot_avx2_f(uint32_t wtype) {
    switch (wtype) {
    case QT_F32: return dot_f32;
    case QT_F16: return dot_f16;
    case QT_BF16: return dot_bf16;
    default: return NULL;
    }
}
