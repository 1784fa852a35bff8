/* vec_avx2.c: the vector helpers of CPU attention (dot, axpy, f16 rows to f32) with
 * AVX2/FMA/F16C. attn.c picks these or its scalar versions once, by CPUID. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "../vec.h"

float cpu_vdot_avx2(const float *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s0 = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float s = _mm_cvtss_f32(h);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

void cpu_vaxpy_avx2(float *y, float a, const float *x, int n) {
    __m256 va = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

void cpu_f16_to_f32_avx2(const void *src, float *dst, int n) {
    const uint16_t *h = src;
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) dst[i] = _cvtsh_ss(h[i]);
}

/* ---- register-blocked kernels: QI query rows x KJ key rows share every load ---- */

static inline float hsum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static inline __attribute__((always_inline)) void dot_tile(const float *const *q, const float *k, size_t ks, int n,
                                                           float *s, size_t ss, int acc, const int QI,
                                                           const int KJ) {
    __m256 c[4][3];
#pragma GCC unroll 4
    for (int a = 0; a < QI; a++)
#pragma GCC unroll 3
        for (int b = 0; b < KJ; b++) c[a][b] = _mm256_setzero_ps();
    int d = 0;
    for (; d + 8 <= n; d += 8) {
        __m256 kv[3];
#pragma GCC unroll 3
        for (int b = 0; b < KJ; b++) kv[b] = _mm256_loadu_ps(k + b * ks + d);
#pragma GCC unroll 4
        for (int a = 0; a < QI; a++) {
            __m256 qv = _mm256_loadu_ps(q[a] + d);
#pragma GCC unroll 3
            for (int b = 0; b < KJ; b++) c[a][b] = _mm256_fmadd_ps(qv, kv[b], c[a][b]);
        }
    }
#pragma GCC unroll 4
    for (int a = 0; a < QI; a++)
#pragma GCC unroll 3
        for (int b = 0; b < KJ; b++) {
            float r = hsum8(c[a][b]);
            for (int e = d; e < n; e++) r += q[a][e] * k[b * ks + e];
            float *o = s + a * ss + b;
            *o = acc ? *o + r : r;
        }
}

#define DOT_CASE(QI, KJ)                                  \
    case (QI) * 4 + (KJ):                                 \
        dot_tile(qq, kk, ks, n, so, ss, acc, (QI), (KJ)); \
        break;

void cpu_vdot_blk_avx2(const float *const *q, int nq, const float *k, size_t ks, int nk, int n, float *s,
                       size_t ss, int acc) {
    for (int i = 0; i < nq; i += 4) {
        int qi = nq - i < 4 ? nq - i : 4;
        for (int j = 0; j < nk; j += 3) {
            int kj = nk - j < 3 ? nk - j : 3;
            const float *const *qq = q + i;
            const float *kk = k + j * ks;
            float *so = s + i * ss + j;
            switch (qi * 4 + kj) {
                DOT_CASE(4, 3) DOT_CASE(4, 2) DOT_CASE(4, 1)
                DOT_CASE(3, 3) DOT_CASE(3, 2) DOT_CASE(3, 1)
                DOT_CASE(2, 3) DOT_CASE(2, 2) DOT_CASE(2, 1)
                DOT_CASE(1, 3) DOT_CASE(1, 2) DOT_CASE(1, 1)
            }
        }
    }
}

static inline __attribute__((always_inline)) void axpy_tile(float *const *y, const float *p, size_t ps,
                                                            const float *x, size_t xs, int nx, int n,
                                                            const int QI) {
    int d = 0;
    for (; d + 16 <= n; d += 16) {
        __m256 c[4][2];
#pragma GCC unroll 4
        for (int a = 0; a < QI; a++) {
            c[a][0] = _mm256_loadu_ps(y[a] + d);
            c[a][1] = _mm256_loadu_ps(y[a] + d + 8);
        }
        for (int t = 0; t < nx; t++) {
            __m256 x0 = _mm256_loadu_ps(x + t * xs + d), x1 = _mm256_loadu_ps(x + t * xs + d + 8);
#pragma GCC unroll 4
            for (int a = 0; a < QI; a++) {
                __m256 pa = _mm256_broadcast_ss(p + a * ps + t);
                c[a][0] = _mm256_fmadd_ps(pa, x0, c[a][0]);
                c[a][1] = _mm256_fmadd_ps(pa, x1, c[a][1]);
            }
        }
#pragma GCC unroll 4
        for (int a = 0; a < QI; a++) {
            _mm256_storeu_ps(y[a] + d, c[a][0]);
            _mm256_storeu_ps(y[a] + d + 8, c[a][1]);
        }
    }
    for (; d + 8 <= n; d += 8) {
        __m256 c[4];
#pragma GCC unroll 4
        for (int a = 0; a < QI; a++) c[a] = _mm256_loadu_ps(y[a] + d);
        for (int t = 0; t < nx; t++) {
            __m256 x0 = _mm256_loadu_ps(x + t * xs + d);
#pragma GCC unroll 4
            for (int a = 0; a < QI; a++) c[a] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + a * ps + t), x0, c[a]);
        }
#pragma GCC unroll 4
        for (int a = 0; a < QI; a++) _mm256_storeu_ps(y[a] + d, c[a]);
    }
    for (; d < n; d++)
#pragma GCC unroll 4
        for (int a = 0; a < QI; a++) {
            float r = y[a][d];
            for (int t = 0; t < nx; t++) r += p[a * ps + t] * x[t * xs + d];
            y[a][d] = r;
        }
}

void cpu_vaxpy_blk_avx2(float *const *y, int ny, const float *p, size_t ps, const float *x, size_t xs, int nx,
                        int n) {
    for (int i = 0; i < ny; i += 4) {
        int qi = ny - i < 4 ? ny - i : 4;
        float *const *yy = y + i;
        const float *pp = p + i * ps;
        switch (qi) {
        case 4: axpy_tile(yy, pp, ps, x, xs, nx, n, 4); break;
        case 3: axpy_tile(yy, pp, ps, x, xs, nx, n, 3); break;
        case 2: axpy_tile(yy, pp, ps, x, xs, nx, n, 2); break;
        default: axpy_tile(yy, pp, ps, x, xs, nx, n, 1); break;
        }
    }
}

/* e^x for 8 lanes: x = n ln2 + r with |r| <= ln2/2 (ln2 split in two for accuracy), e^r by
 * the Cephes degree-7 polynomial, 2^n added to the exponent bits. Inputs are clamped to
 * [-87.3, 88.7]; relative error ~2 ulp. */
static __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 y = _mm256_set1_ps(1.9875691500e-4f);
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
    y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(y), e));
}

float cpu_vexp_sum_avx2(float *s, int n, float m) {
    __m256 vm = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + i), vm));
        _mm256_storeu_ps(s + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float sum = _mm_cvtss_f32(h);
    for (; i < n; i++) sum += (s[i] = expf(s[i] - m));
    return sum;
}
