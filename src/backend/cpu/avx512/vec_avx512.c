/* vec_avx512.c: the register-blocked attention kernels of vec.h with AVX-512F: scores of
 * 4 query rows x 4 key rows (16 accumulators), values of 4 output rows x 64 floats; the
 * tails of a row go through masked loads. attn.c picks these by CPUID. */
#include <immintrin.h>
#include <stdint.h>

#include "../vec.h"

static inline __mmask16 tail_mask(int left) { return (__mmask16)((1u << (left < 16 ? left : 16)) - 1u); }

static inline __attribute__((always_inline)) void dot_tile(const float *const *q, const float *k, size_t ks, int n,
                                                           float *s, size_t ss, int acc, const int QI,
                                                           const int KJ) {
    __m512 c[4][4];
#pragma GCC unroll 4
    for (int a = 0; a < QI; a++)
#pragma GCC unroll 4
        for (int b = 0; b < KJ; b++) c[a][b] = _mm512_setzero_ps();
    int d = 0;
    for (; d + 16 <= n; d += 16) {
        __m512 kv[4];
#pragma GCC unroll 4
        for (int b = 0; b < KJ; b++) kv[b] = _mm512_loadu_ps(k + b * ks + d);
#pragma GCC unroll 4
        for (int a = 0; a < QI; a++) {
            __m512 qv = _mm512_loadu_ps(q[a] + d);
#pragma GCC unroll 4
            for (int b = 0; b < KJ; b++) c[a][b] = _mm512_fmadd_ps(qv, kv[b], c[a][b]);
        }
    }
    if (d < n) {
        __mmask16 mk = tail_mask(n - d);
        __m512 kv[4];
#pragma GCC unroll 4
        for (int b = 0; b < KJ; b++) kv[b] = _mm512_maskz_loadu_ps(mk, k + b * ks + d);
#pragma GCC unroll 4
        for (int a = 0; a < QI; a++) {
            __m512 qv = _mm512_maskz_loadu_ps(mk, q[a] + d);
#pragma GCC unroll 4
            for (int b = 0; b < KJ; b++) c[a][b] = _mm512_fmadd_ps(qv, kv[b], c[a][b]);
        }
    }
#pragma GCC unroll 4
    for (int a = 0; a < QI; a++)
#pragma GCC unroll 4
        for (int b = 0; b < KJ; b++) {
            float r = _mm512_reduce_add_ps(c[a][b]);
            float *o = s + a * ss + b;
            *o = acc ? *o + r : r;
        }
}

#define DOT_CASE(QI, KJ)                                  \
    case (QI) * 8 + (KJ):                                 \
        dot_tile(qq, kk, ks, n, so, ss, acc, (QI), (KJ)); \
        break;

void cpu_vdot_blk_avx512(const float *const *q, int nq, const float *k, size_t ks, int nk, int n, float *s,
                         size_t ss, int acc) {
    for (int i = 0; i < nq; i += 4) {
        int qi = nq - i < 4 ? nq - i : 4;
        for (int j = 0; j < nk; j += 4) {
            int kj = nk - j < 4 ? nk - j : 4;
            const float *const *qq = q + i;
            const float *kk = k + j * ks;
            float *so = s + i * ss + j;
            switch (qi * 8 + kj) {
                DOT_CASE(4, 4) DOT_CASE(4, 3) DOT_CASE(4, 2) DOT_CASE(4, 1)
                DOT_CASE(3, 4) DOT_CASE(3, 3) DOT_CASE(3, 2) DOT_CASE(3, 1)
                DOT_CASE(2, 4) DOT_CASE(2, 3) DOT_CASE(2, 2) DOT_CASE(2, 1)
                DOT_CASE(1, 4) DOT_CASE(1, 3) DOT_CASE(1, 2) DOT_CASE(1, 1)
            }
        }
    }
}

/* y rows [0, QI) at columns [d, d + 16*V) (the last vector masked by mk) += p x */
static inline __attribute__((always_inline)) void axpy_cols(float *const *y, const float *p, size_t ps,
                                                            const float *x, size_t xs, int nx, int d,
                                                            __mmask16 mk, const int QI, const int V) {
    __m512 c[4][4];
#pragma GCC unroll 4
    for (int a = 0; a < QI; a++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) c[a][v] = _mm512_maskz_loadu_ps(v == V - 1 ? mk : 0xffff, y[a] + d + 16 * v);
    for (int t = 0; t < nx; t++) {
        __m512 xv[4];
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) xv[v] = _mm512_maskz_loadu_ps(v == V - 1 ? mk : 0xffff, x + t * xs + d + 16 * v);
#pragma GCC unroll 4
        for (int a = 0; a < QI; a++) {
            __m512 pa = _mm512_set1_ps(p[a * ps + t]);
#pragma GCC unroll 4
            for (int v = 0; v < V; v++) c[a][v] = _mm512_fmadd_ps(pa, xv[v], c[a][v]);
        }
    }
#pragma GCC unroll 4
    for (int a = 0; a < QI; a++)
#pragma GCC unroll 4
        for (int v = 0; v < V; v++) _mm512_mask_storeu_ps(y[a] + d + 16 * v, v == V - 1 ? mk : 0xffff, c[a][v]);
}

static inline __attribute__((always_inline)) void axpy_tile(float *const *y, const float *p, size_t ps,
                                                            const float *x, size_t xs, int nx, int n,
                                                            const int QI) {
    int d = 0;
    for (; d + 64 <= n; d += 64) axpy_cols(y, p, ps, x, xs, nx, d, 0xffff, QI, 4);
    for (; d < n; d += 16) axpy_cols(y, p, ps, x, xs, nx, d, tail_mask(n - d), QI, 1);
}

void cpu_vaxpy_blk_avx512(float *const *y, int ny, const float *p, size_t ps, const float *x, size_t xs, int nx,
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
