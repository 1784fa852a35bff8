/* test_cpu_matmul.c: the CPU matmul kernels and thread pool. For every weight type, on
 * random shapes (odd m, n = 1..9 and 64), checks (a) the scalar reference against the exact
 * product with dequantized weights, within the bound that 16-bit x quantization allows (8-bit x
 * would exceed it ~250-fold), and
 * (b) cpu_matmul (SIMD, threaded, no pool) and cpu_matmul_rows against the reference to float
 * rounding. Also the pool (every thread runs once per job, also after sleeping) and errors. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu/matmul.h"
#include "backend/cpu/pool.h"
#include "quant/quant.h"
#include <latte.h>

static int n_fail;

static void report(bool ok, const char *name, const char *why) {
    if (ok)
        printf("PASS %s\n", name);
    else {
        printf("FAIL %s: %s\n", name, why);
        n_fail++;
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}
static float frnd(void) { return (float)(rnd() >> 8) / 8388608.0f - 1.0f; } /* [-1, 1) */

static void put_f16(uint8_t *p, float f) {
    uint16_t h = quant_f32_to_f16(f);
    memcpy(p, &h, 2);
}

/* where a block of type t keeps its f16 scale d (-1: none, the scale is per row) */
static int scale_at(uint32_t t) {
    switch (t) {
    case QT_Q6_K: return 208;
    case QT_Q2_K: return 80;
    case QT_Q3_K: return 108;
    case QT_TQ1_0: return 52;
    case QT_TQ2_0: return 64;
    case QT_IQ1_M: /* d spread over the scales' top nibbles: set in make_weights */
    case QT_IQ4_KS: case QT_IQ4_KSS: case QT_IQ5_KS: case QT_IQ2_KS: case QT_IQ3_KS: case QT_Q8_KV: return -1;
    default: return 0;
    }
}

/* m rows of random weights of type t; quantized from floats where quant_quant_row can,
 * else random bytes with sane scales. */
static uint8_t *make_weights(uint32_t t, int64_t m, int64_t k, size_t *stride) {
    const quant_type_info *ti = quant_type_info_get(t);
    size_t rb = quant_row_bytes(t, k);
    *stride = rb;
    uint8_t *w = malloc(rb * (size_t)m);
    float *row = malloc(sizeof(float) * (size_t)k);
    for (int64_t j = 0; j < m; j++) {
        uint8_t *wr = w + (size_t)j * rb;
        switch (t) {
        case QT_F32: case QT_F16: case QT_BF16: case QT_Q8_0: case QT_Q4_0: case QT_Q4_1:
            for (int64_t i = 0; i < k; i++)
                row[i] = frnd() * (1 + (i % 7));
            quant_quant_row(t, row, wr, k);
            break;
        default:
            for (size_t i = 0; i < rb; i++)
                wr[i] = (uint8_t)rnd();
            if (ti->row_meta_bytes) { /* ik's per-row scale: f16 (2 bytes) or float */
                float d = 0.001f + 0.02f * (frnd() + 1);
                if (ti->row_meta_bytes == 2)
                    put_f16(wr, d);
                else
                    memcpy(wr, &d, 4);
            }
            for (int64_t b = 0; b < k / ti->block_elems; b++) {
                uint8_t *bl = wr + ti->row_meta_bytes + (size_t)b * ti->block_bytes;
                float d = 0.001f + 0.02f * (frnd() + 1), mn = 0.01f * frnd();
                int at = scale_at(t);
                if (at >= 0)
                    put_f16(bl + at, d);
                if (t == QT_IQ1_M) { /* d's four nibbles are the top nibbles of the scales' u16s */
                    uint16_t h = quant_f32_to_f16(d);
                    for (int q = 0; q < 4; q++)
                        bl[49 + 2 * q] = (uint8_t)((bl[49 + 2 * q] & 0x0f) | ((h >> (4 * q)) & 0xf) << 4);
                }
                if (t == QT_Q4_K || t == QT_Q5_K || t == QT_Q5_1)
                    put_f16(bl + 2, t == QT_Q5_1 ? mn : fabsf(mn));
                if (t == QT_Q2_K)
                    put_f16(bl + 82, fabsf(mn));
            }
        }
    }
    free(row);
    return w;
}

static const uint32_t types[] = {QT_F32, QT_F16, QT_BF16, QT_Q8_0, QT_Q4_0, QT_Q4_1,
                                 QT_Q5_0, QT_Q5_1, QT_Q4_K, QT_Q5_K, QT_Q6_K,
                                 /* through the generic (dequantizing) path or their own kernels */
                                 QT_Q2_K, QT_Q3_K, QT_IQ4_NL, QT_IQ4_XS, QT_IQ4_KS, QT_TQ1_0, QT_TQ2_0, QT_Q6_0,
                                 QT_IQ4_KSS, QT_IQ5_KS, QT_IQ2_KS, QT_IQ3_KS, QT_Q8_KV, QT_IQ2_K, QT_IQ3_K,
                                 QT_IQ4_K, QT_IQ5_K, QT_IQ6_K, QT_IQ2_XXS, QT_IQ2_XS, QT_IQ2_S, QT_IQ3_XXS,
                                 QT_IQ3_S, QT_IQ1_S, QT_IQ1_M};

/* One shape: returns false and fills why on the first mismatch. */
static bool check_shape(cpu_pool *pool, uint32_t t, int64_t m, int64_t k, int64_t n, char *why) {
    const quant_type_info *ti = quant_type_info_get(t);
    int xk = cpu_matmul_xkind(t);
    size_t ws;
    uint8_t *w = make_weights(t, m, k, &ws);
    int64_t ldy = m + 3;
    float *x = malloc(sizeof(float) * (size_t)(n * k));
    float *wd = malloc(sizeof(float) * (size_t)(m * k));
    float *yr = malloc(sizeof(float) * (size_t)(n * ldy));
    float *ys = malloc(sizeof(float) * (size_t)(n * ldy));
    float *yn = malloc(sizeof(float) * (size_t)(n * ldy));
    float *yw = malloc(sizeof(float) * (size_t)(n * ldy));
    for (int64_t i = 0; i < n * k; i++)
        x[i] = frnd() * (i % 5 == 0 ? 3.0f : 1.0f);
    for (int64_t j = 0; j < m; j++)
        quant_dequant_row(t, w + (size_t)j * ws, wd + j * k, k);
    for (int64_t i = 0; i < n * ldy; i++)
        yr[i] = ys[i] = yn[i] = yw[i] = NAN;
    bool ok = true;
    /* reference: scalar x quantization and scalar kernel, one x row at a time */
    size_t xs = cpu_matmul_xrow_bytes(xk, k);
    char *xq = malloc(xs * (size_t)n + 1);
    for (int64_t i = 0; i < n; i++) {
        if (xk == CPU_XQ_Q16)
            cpu_xquant_q16_ref(x + i * k, xq + i * xs, k);
        else if (xk == CPU_XQ_Q16K)
            cpu_xquant_q16k_ref(x + i * k, xq + i * xs, k);
        else
            memcpy(xq + i * xs, x + i * k, xs);
    }
    cpu_dot_fn ref = cpu_dot_ref(t);
    for (int64_t j = 0; j < m; j++)
        for (int64_t i = 0; i < n; i++)
            ref(k, w + (size_t)j * ws, xq + i * xs, xs, 1, yr + i * ldy + j, ldy);
    /* (a) reference vs exact product with dequantized weights */
    for (int64_t i = 0; i < n && ok; i++) {
        for (int64_t j = 0; j < m && ok; j++) {
            double exact = 0, mag = 0, qbound = 0;
            uint32_t be = xk == CPU_XQ_Q16K ? 256 : 32;
            /* x rounded to levels amax/32767 (16-bit): error <= half a step (8-bit x would
             * exceed this ~250-fold) */
            double qsteps = 65534.0;
            for (int64_t b = 0; b < k; b += be) {
                double amax = 0, wabs = 0;
                for (int64_t kk = b; kk < b + be && kk < k; kk++) {
                    double wv = wd[j * k + kk], xv = x[i * k + kk];
                    exact += wv * xv;
                    mag += fabs(wv * xv);
                    wabs += fabs(wv);
                    amax = fmax(amax, fabs(xv));
                }
                qbound += wabs * amax / qsteps;
            }
            double tol = (xk == CPU_XQ_F32 ? 0 : qbound * 1.01) + 2e-6 * mag + 1e-6;
            if (!(fabs(yr[i * ldy + j] - exact) <= tol)) {
                snprintf(why, 256, "ref y[%lld][%lld] = %g, exact %g (tol %g)", (long long)i,
                         (long long)j, yr[i * ldy + j], exact, tol);
                ok = false;
            }
        }
    }
    /* (b) cpu_matmul with the pool, without a pool, and cpu_matmul_rows on a sub-range */
    int rc1 = cpu_matmul(pool, t, w, ws, m, k, x, n, ys, ldy);
    int rc2 = cpu_matmul(NULL, t, w, ws, m, k, x, n, yn, ldy);
    int64_t j0 = m / 3, j1 = m - m / 4;
    size_t sb = cpu_matmul_scratch_bytes(t, k, n);
    void *scr = malloc(sb + 1);
    cpu_matmul_rows(t, w, ws, j0, j1, k, x, n, yw, ldy, scr, sb);
    if (ok && (rc1 || rc2)) {
        snprintf(why, 256, "cpu_matmul returned %d / %d", rc1, rc2);
        ok = false;
    }
    for (int64_t i = 0; i < n && ok; i++) {
        for (int64_t j = 0; j < ldy && ok; j++) {
            float r = yr[i * ldy + j], a = ys[i * ldy + j], b = yn[i * ldy + j];
            float c = yw[i * ldy + j];
            if (j >= m) { /* padding must stay untouched */
                if (!isnan(a) || !isnan(b) || !isnan(c)) {
                    snprintf(why, 256, "wrote padding y[%lld][%lld]", (long long)i, (long long)j);
                    ok = false;
                }
                continue;
            }
            double mag = 0;
            for (int64_t kk = 0; kk < k; kk++)
                mag += fabs((double)wd[j * k + kk] * x[i * k + kk]);
            double tol = 2e-5 * mag + 1e-6;
            bool in = j >= j0 && j < j1;
            if (!(fabs(a - r) <= tol) || !(fabs(b - r) <= tol) ||
                (in ? !(fabs(c - r) <= tol) : !isnan(c))) {
                snprintf(why, 256, "y[%lld][%lld]: ref %g, pool %g, nopool %g, rows %g (tol %g)",
                         (long long)i, (long long)j, r, a, b, c, tol);
                ok = false;
            }
        }
    }
    (void)ti;
    free(scr);
    free(xq);
    free(w);
    free(x);
    free(wd);
    free(yr);
    free(ys);
    free(yn);
    free(yw);
    return ok;
}

/* isa names the kernel set in the test names ("" for the best this CPU has) */
static void test_types(cpu_pool *pool, const char *isa) {
    static const int64_t ms[] = {1, 7, 37};
    static const int64_t ns[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 25, 31, 64}; /* >= 24: gemm */
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        uint32_t t = types[ti];
        const quant_type_info *info = quant_type_info_get(t);
        char name[64], why[256] = "";
        snprintf(name, sizeof name, "matmul_%s%s", info->name, isa);
        if (!cpu_matmul_supports(t)) {
            report(false, name, "not supported");
            continue;
        }
        bool ok = true;
        int64_t be = info->block_elems;
        /* 32-element types: 1, 3, 7 and 18 blocks (AVX-512 groups of 4: partial, full+tail) */
        int64_t ks[4] = {be == 1 ? 67 : be, be == 1 ? 256 : be * 3, be == 1 ? 1000 : be * 7,
                         be == 32 ? 576 : be * 2};
        for (size_t a = 0; a < 4 && ok; a++)
            for (size_t b = 0; b < sizeof ns / sizeof ns[0] && ok; b++) {
                int64_t m = ms[(a + b) % 3];
                if (!check_shape(pool, t, m, ks[a], ns[b], why)) {
                    char w2[256];
                    snprintf(w2, sizeof w2, "m=%lld k=%lld n=%lld: %.190s", (long long)m,
                             (long long)ks[a], (long long)ns[b], why);
                    strcpy(why, w2);
                    ok = false;
                }
            }
        /* more x rows than the AVX-512 gemm takes per pass over a weight tile (516) */
        if (ok && be == 32 && !check_shape(pool, t, 40, 96, 521, why)) {
            char w2[256];
            snprintf(w2, sizeof w2, "m=40 k=96 n=521: %.200s", why);
            strcpy(why, w2);
            ok = false;
        }
        report(ok, name, why);
    }
}

/* Integer sums at their extremes (every |x| at 32767, every weight at its largest magnitude
 * times the largest scale), where an int32 accumulator too few would wrap: SIMD against the
 * reference, which sums K-quant super-blocks in int64. */
static void test_extremes(const char *isa, int N, int M) {
    static const uint32_t qt[] = {QT_Q8_0, QT_Q4_0, QT_Q4_1, QT_Q5_0, QT_Q5_1,
                                  QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_Q2_K, QT_Q3_K, QT_IQ4_XS, QT_IQ4_KS};
    enum { K = 512 };
    for (size_t ti = 0; ti < sizeof qt / sizeof qt[0]; ti++) {
        uint32_t t = qt[ti];
        const quant_type_info *info = quant_type_info_get(t);
        size_t rb = quant_row_bytes(t, K);
        uint8_t *w = malloc(rb * M);
        float *x = malloc(sizeof(float) * N * K), *yr = malloc(sizeof(float) * N * M);
        float *ys = malloc(sizeof(float) * N * M);
        char name[64], why[160] = "";
        for (int j = 0; j < M; j++) {
            uint8_t *wr = w + (size_t)j * rb;
            /* Q6_K: q = 0 (q - 32 = -32) with scale -128; Q3_K: q = -4 with scale -32; IQ4_XS:
             * grid value -127 with scale -32; IQ4_KS: -127 with scale -127 (row scale 0.01);
             * others: all bits set (Q8_0: -128) */
            bool zeros = t == QT_Q6_K || t == QT_Q3_K || t == QT_IQ4_XS || t == QT_IQ4_KS;
            memset(wr, zeros ? 0x00 : t == QT_Q8_0 ? 0x80 : 0xff, rb);
            if (t == QT_IQ4_KS) {
                float d = 0.01f;
                memcpy(wr, &d, 4);
                continue;
            }
            for (int64_t b = 0; b < K / info->block_elems; b++) {
                uint8_t *bl = wr + (size_t)b * info->block_bytes;
                if (t == QT_Q6_K) {
                    memset(bl + 192, 0x80, 16);
                    put_f16(bl + 208, 0.01f);
                } else if (t == QT_Q2_K || t == QT_Q3_K) {
                    put_f16(bl + scale_at(t), 0.01f);
                    if (t == QT_Q2_K)
                        put_f16(bl + 82, 0.005f);
                } else {
                    put_f16(bl, 0.01f);
                    if (t == QT_Q4_1 || t == QT_Q5_1 || t == QT_Q4_K || t == QT_Q5_K)
                        put_f16(bl + 2, 0.005f);
                }
            }
        }
        for (int i = 0; i < N * K; i++)
            x[i] = (i / K) % 2 ? -1.0f : 1.0f; /* rows alternate +1 / -1 */
        int xk = cpu_matmul_xkind(t);
        size_t xs = cpu_matmul_xrow_bytes(xk, K);
        char *xq = malloc(xs * N);
        for (int i = 0; i < N; i++)
            (xk == CPU_XQ_Q16 ? cpu_xquant_q16_ref : cpu_xquant_q16k_ref)(x + i * K, xq + i * xs, K);
        for (int j = 0; j < M; j++)
            cpu_dot_ref(t)(K, w + (size_t)j * rb, xq, xs, N, yr + j, M);
        bool ok = cpu_matmul(NULL, t, w, rb, M, K, x, N, ys, M) == 0;
        for (int i = 0; i < N * M && ok; i++)
            if (!(fabsf(ys[i] - yr[i]) <= 1e-5f * fabsf(yr[i]) + 1e-6f)) {
                snprintf(why, sizeof why, "y[%d] = %g, reference %g", i, ys[i], yr[i]);
                ok = false;
            }
        snprintf(name, sizeof name, "extremes_%s%s_n%d", info->name, isa, N);
        report(ok, name, why);
        free(x);
        free(yr);
        free(ys);
        free(xq);
        free(w);
    }
}

static atomic_int hits[16];
static void pool_job(void *arg, int ith, int nth) {
    (void)arg;
    if (ith >= 0 && ith < 16 && nth <= 16)
        atomic_fetch_add(&hits[ith], 1);
}

static void test_pool(void) {
    for (int nt = 1; nt <= 4; nt++) {
        cpu_pool *p = cpu_pool_init(nt);
        char name[64], why[128] = "";
        snprintf(name, sizeof name, "pool_%d_threads", nt);
        bool ok = p && cpu_pool_size(p) == nt;
        for (int i = 0; i < 16; i++)
            atomic_store(&hits[i], 0);
        int runs = 0;
        for (int r = 0; r < 600 && ok; r++, runs++) {
            if (r % 200 == 199)
                usleep(20000); /* let workers fall asleep on the condvar */
            cpu_pool_run(p, pool_job, NULL);
        }
        for (int i = 0; i < 16 && ok; i++) {
            int want = i < nt ? runs : 0;
            if (atomic_load(&hits[i]) != want) {
                snprintf(why, sizeof why, "thread %d ran %d times, want %d", i,
                         atomic_load(&hits[i]), want);
                ok = false;
            }
        }
        if (!p)
            snprintf(why, sizeof why, "cpu_pool_init failed or wrong size");
        cpu_pool_free(p);
        report(ok, name, why);
    }
    cpu_pool *p = cpu_pool_init(0);
    report(p && cpu_pool_size(p) >= 1, "pool_default_size", "cpu_pool_init(0) failed");
    cpu_pool_free(p);
}

static void test_errors(cpu_pool *pool) {
    float x[64] = {0}, y[4];
    uint8_t w[512] = {0};
    report(cpu_matmul(pool, QT_Q8_K, w, 292, 1, 256, x, 1, y, 1) == LATTE_E_UNSUPPORTED &&
               !cpu_matmul_supports(QT_Q8_K) && !cpu_matmul_supports(QT_IQ4_KS_R4),
           "error_unsupported_type", "q8_K accepted");
    report(cpu_matmul(pool, QT_Q8_0, w, 34, 1, 40, x, 1, y, 1) == LATTE_E_ARG,
           "error_partial_block", "k=40 accepted for q8_0");
    report(cpu_matmul(pool, QT_Q8_0, w, 10, 1, 32, x, 1, y, 1) == LATTE_E_ARG,
           "error_short_stride", "wstride 10 accepted for a 34-byte row");
}

/* on an AVX2 machine every type must get a SIMD kernel, not the reference fallback */
static void test_dispatch(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        printf("SKIP dispatch_avx2: no AVX2 here\n");
        return;
    }
    char why[128] = "";
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (cpu_matmul_dot(types[i], 0) == cpu_dot_ref(types[i]))
            snprintf(why, sizeof why, "%s uses the scalar reference",
                     quant_type_info_get(types[i])->name);
    report(!why[0], "dispatch_avx2", why);
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512dq") ||
        !__builtin_cpu_supports("avx512vnni")) {
        printf("SKIP dispatch_avx512: no AVX-512 VNNI here\n");
        return;
    }
    static const uint32_t t512[] = {QT_Q8_0, QT_Q4_0, QT_Q4_1};
    for (size_t i = 0; i < sizeof t512 / sizeof t512[0]; i++)
        if (cpu_matmul_dot(t512[i], 0) != cpu_dot_avx512(t512[i]) ||
            cpu_matmul_dot_xkind(t512[i], 0) != CPU_XQ_Q16X4 ||
            cpu_matmul_gemm(t512[i], 0) != cpu_gemm_avx512(t512[i]) || !cpu_gemm_avx512(t512[i]))
            snprintf(why, sizeof why, "%s does not use its AVX-512 kernel",
                     quant_type_info_get(t512[i])->name);
    report(!why[0], "dispatch_avx512", why);
}

/* the dispatched x quantizers must produce exactly the reference's bytes */
static void test_xquant(void) {
    enum { K = 1024, N = 8 };
    float *x = malloc(sizeof(float) * K);
    char name[64], why[128] = "";
    for (int kind = CPU_XQ_Q16; kind <= CPU_XQ_Q16X4; kind++) {
        size_t xs = cpu_matmul_xrow_bytes(kind, K);
        char *a = malloc(xs), *b = malloc(xs);
        bool ok = true;
        for (int r = 0; r < N && ok; r++) {
            for (int i = 0; i < K; i++) /* row 0 has an all-zero block */
                x[i] = r == 0 && i < 256 ? 0.0f : frnd() * (float)(1 + r * (i % 3));
            memset(a, 0x55, xs);
            memset(b, 0xaa, xs);
            cpu_matmul_xquant(kind, 1)(x, a, K);
            cpu_matmul_xquant(kind, 0)(x, b, K);
            if (memcmp(a, b, xs) != 0) {
                snprintf(why, sizeof why, "row %d differs from the reference", r);
                ok = false;
            }
        }
        snprintf(name, sizeof name, "xquant_%s",
                 kind == CPU_XQ_Q16 ? "q16" : kind == CPU_XQ_Q16K ? "q16k" : "q16x4");
        report(ok, name, why);
        free(a);
        free(b);
    }
    free(x);
}

int main(void) {
    cpu_pool *pool = cpu_pool_init(2);
    test_dispatch();
    test_xquant();
    test_pool();
    test_errors(pool);
    test_types(pool, "");
    test_extremes("", 5, 3);
    test_extremes("", 29, 35); /* many x rows: the gemm kernels, two weight-row tiles */
    /* the AVX2 kernels again where the CPU would pick AVX-512 ones */
    int old = cpu_matmul_cap_isa(CPU_ISA_AVX2);
    test_types(pool, "_avx2");
    test_extremes("_avx2", 5, 3);
    cpu_matmul_cap_isa(old);
    cpu_pool_free(pool);
    return n_fail ? 1 : 0;
}
