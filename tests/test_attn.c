/* test_attn.c: the register-blocked attention kernels of the CPU backend (AVX2, picked by
 * CPUID in attn.c) against their scalar references, on random shapes including odd row
 * counts and lengths that leave vector tails, so both paths stay tested on an AVX2 machine. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/vec.h"

static int failures;

typedef void (*dot_fn)(const float *const *, int, const float *, size_t, int, int, float *, size_t, int);
typedef void (*axpy_fn)(float *const *, int, const float *, size_t, const float *, size_t, int, int);
static dot_fn dot_simd; /* the kernels under test, one ISA per pass */
static axpy_fn axpy_simd;
static const char *isa;
static unsigned rng = 12345u;

static float frand(void) {
    rng = rng * 1103515245u + 12345u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int irand(int lo, int hi) { /* [lo, hi] */
    rng = rng * 1103515245u + 12345u;
    return lo + (int)((rng >> 8) % (unsigned)(hi - lo + 1));
}

static int close_enough(const float *a, const float *b, size_t n, float tol, size_t *bad) {
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= tol * (1.0f + fabsf(b[i])))) {
            *bad = i;
            return 0;
        }
    return 1;
}

static void test_dot(const char *name, int nq, int nk, int n, int acc) {
    size_t qs = (size_t)n + (size_t)irand(0, 5), ks = (size_t)n + (size_t)irand(0, 7), ss = (size_t)nk + 3;
    float *qbuf = malloc(sizeof(float) * qs * nq), *k = malloc(sizeof(float) * ks * nk);
    float *s0 = malloc(sizeof(float) * ss * nq), *s1 = malloc(sizeof(float) * ss * nq);
    const float **q = malloc(sizeof(*q) * nq);
    for (size_t i = 0; i < qs * nq; i++) qbuf[i] = frand();
    for (size_t i = 0; i < ks * nk; i++) k[i] = frand();
    for (size_t i = 0; i < ss * nq; i++) s0[i] = s1[i] = frand();
    for (int i = 0; i < nq; i++) q[i] = qbuf + (size_t)(nq - 1 - i) * qs; /* rows out of order */
    cpu_vdot_blk_ref(q, nq, k, ks, nk, n, s0, ss, acc);
    dot_simd(q, nq, k, ks, nk, n, s1, ss, acc);
    size_t bad = 0;
    if (close_enough(s1, s0, ss * nq, 1e-4f * (1 + n / 64), &bad))
        printf("PASS %s_%s (nq %d nk %d n %d acc %d)\n", isa, name, nq, nk, n, acc);
    else {
        printf("FAIL %s_%s (nq %d nk %d n %d acc %d): s[%zu] = %g, want %g\n", isa, name, nq, nk, n, acc, bad, s1[bad],
               s0[bad]);
        failures++;
    }
    free(qbuf), free(k), free(s0), free(s1), free(q);
}

static void test_axpy(const char *name, int ny, int nx, int n) {
    size_t ys = (size_t)n + (size_t)irand(0, 5), xs = (size_t)n + (size_t)irand(0, 7), ps = (size_t)nx + 2;
    float *y0 = malloc(sizeof(float) * ys * ny), *y1 = malloc(sizeof(float) * ys * ny);
    float *x = malloc(sizeof(float) * xs * nx), *p = malloc(sizeof(float) * ps * ny);
    float **r0 = malloc(sizeof(*r0) * ny), **r1 = malloc(sizeof(*r1) * ny);
    for (size_t i = 0; i < ys * ny; i++) y0[i] = y1[i] = frand();
    for (size_t i = 0; i < xs * nx; i++) x[i] = frand();
    for (size_t i = 0; i < ps * ny; i++) p[i] = frand() > 0.6f ? 0.0f : frand();
    for (int i = 0; i < ny; i++) r0[i] = y0 + (size_t)(ny - 1 - i) * ys, r1[i] = y1 + (size_t)(ny - 1 - i) * ys;
    cpu_vaxpy_blk_ref(r0, ny, p, ps, x, xs, nx, n);
    axpy_simd(r1, ny, p, ps, x, xs, nx, n);
    size_t bad = 0;
    if (close_enough(y1, y0, ys * ny, 1e-4f * (1 + nx / 16), &bad))
        printf("PASS %s_%s (ny %d nx %d n %d)\n", isa, name, ny, nx, n);
    else {
        printf("FAIL %s_%s (ny %d nx %d n %d): y[%zu] = %g, want %g\n", isa, name, ny, nx, n, bad, y1[bad], y0[bad]);
        failures++;
    }
    free(y0), free(y1), free(x), free(p), free(r0), free(r1);
}

static void run_all(void) {
    /* the shapes attention uses: MLA latent 512 + rope 64 over blocks of 32 keys, heads of 64 */
    test_dot("dot_blk_mla_latent", 64, 32, 512, 0);
    test_dot("dot_blk_mla_rope", 64, 32, 64, 1);
    test_dot("dot_blk_std", 24, 32, 64, 0);
    test_axpy("axpy_blk_mla", 64, 32, 512);
    test_axpy("axpy_blk_std", 24, 32, 64);
    /* edge shapes: every remainder of the 4x3 (AVX2), 4x4 (AVX-512) and 4-row blocks, vector tails, empty */
    for (int nq = 1; nq <= 5; nq++)
        for (int nk = 1; nk <= 4; nk++) test_dot("dot_blk_edges", nq, nk, 8 * nk + nq - 1, nq & 1);
    test_dot("dot_blk_empty_n", 3, 2, 0, 0);
    for (int ny = 1; ny <= 5; ny++)
        for (int n = 1; n <= 33; n += 4) test_axpy("axpy_blk_edges", ny, ny + 1, n);
    test_axpy("axpy_blk_no_keys", 3, 0, 24);
    for (int k = 0; k < 40; k++) {
        test_dot("dot_blk_random", irand(1, 19), irand(1, 35), irand(0, 300), irand(0, 1));
        test_axpy("axpy_blk_random", irand(1, 19), irand(0, 35), irand(1, 300));
    }
}

/* the vector exp of softmax against libm's expf, over the range softmax feeds it
 * (scores minus their max: <= 0, down to where e^x underflows) and lengths with tails */
static void test_exp(void) {
    static const int lens[] = {0, 1, 7, 8, 9, 33, 100};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        int n = lens[li];
        float s[100], want[100], wsum = 0.0f, m = 3.0f;
        for (int i = 0; i < n; i++) {
            s[i] = m - 90.0f * (frand() * 0.5f + 0.5f); /* x - m in [-90, 0] */
            if (i == 0) s[i] = m;                          /* e^0 = 1 exactly */
            wsum += (want[i] = expf(s[i] - m));
        }
        float sum = cpu_vexp_sum_avx2(s, n, m);
        /* elements within a few ulp; the sum within float summation error (another order) */
        int bad = -1;
        for (int i = 0; i < n && bad < 0; i++)
            if (fabsf(s[i] - want[i]) > 4e-7f * want[i] + 2e-38f) bad = i; /* below 2e-38 inputs are clamped */
        if (bad < 0 && fabsf(sum - wsum) <= 1e-6f * n * (wsum > 1 ? wsum : 1))
            printf("PASS vexp_sum n=%d\n", n);
        else {
            printf("FAIL vexp_sum n=%d: element %d %.9g want %.9g; sum %.9g want %.9g\n", n, bad,
                   bad >= 0 ? s[bad] : 0.0, bad >= 0 ? want[bad] : 0.0, sum, wsum);
            failures++;
        }
    }
}

int main(void) {
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) {
        printf("SKIP attn_blocked_kernels: no AVX2/FMA on this CPU\n");
        return 0;
    }
    test_exp();
    isa = "avx2", dot_simd = cpu_vdot_blk_avx2, axpy_simd = cpu_vaxpy_blk_avx2;
    run_all();
    if (__builtin_cpu_supports("avx512f")) {
        isa = "avx512", dot_simd = cpu_vdot_blk_avx512, axpy_simd = cpu_vaxpy_blk_avx512;
        run_all();
    } else
        printf("SKIP attn_blocked_kernels_avx512: no AVX-512F on this CPU\n");
    return failures ? 1 : 0;
}
