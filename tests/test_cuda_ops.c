/* test_cuda_ops.c: every CUDA op (src/backend/cuda) against the CPU reference on odd shapes:
 * weight dequantization from src/quant/quant.c (iq4_xs from a plain reference here), routing
 * from the CPU's reference routing (cpu_route_ref with the rules graph_route_params takes), and plain double-precision references written here for the rest.
 * Shapes are chosen to miss the tiles: rows not a multiple of the block, 1-3 rows per expert,
 * 1, 2, 4 query tokens per sequence, context lengths not a multiple of 32, several sequences
 * in one batch. Every device buffer is followed by NaN bytes, activation rows have NaN
 * padding past k, cache rows past each sequence's last position are NaN and outputs start
 * as NaN, so an out-of-bounds read or an unwritten output fails. Built only with CUDA=1;
 * prints `SKIP cuda: no GPU` and exits 0 on a machine without one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_ops.h"
#include "graph/graph.h"
#include "quant/quant.h"

enum { PAD = 4096 };

static int n_fail;
static latte_err err;

static void report(const char *name, int ok, const char *why) {
    if (ok) printf("PASS cuda.%s\n", name);
    else {
        printf("FAIL cuda.%s: %s\n", name, why);
        n_fail++;
    }
}

/* ---- host helpers ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd_u32(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float rnd(void) { return (float)((rnd_u32() & 0xffffff) / 8388608.0 - 1.0); } /* [-1, 1) */
static void rnd_fill(float *x, size_t n, float s) {
    for (size_t i = 0; i < n; i++) x[i] = rnd() * s;
}
static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

/* device copy of n bytes followed by PAD bytes of 0xff (NaN as f32, f16 and bf16) */
static void *dev_up(const void *h, size_t n) {
    void *d = NULL;
    if (cudaMalloc(&d, n + PAD) != cudaSuccess) {
        fprintf(stderr, "cudaMalloc %zu failed\n", n + PAD);
        exit(2);
    }
    cudaMemset(d, 0xff, n + PAD);
    if (h && n) cudaMemcpy(d, h, n, cudaMemcpyHostToDevice);
    return d;
}
static void dev_down(void *h, const void *d, size_t n) {
    cudaError_t e = cudaDeviceSynchronize();
    if (e != cudaSuccess) {
        printf("FAIL cuda.sync: %s\n", cudaGetErrorString(e));
        exit(1);
    }
    cudaMemcpy(h, d, n, cudaMemcpyDeviceToHost);
}

/* relative error norm |got - ref| / |ref| under tol and every value finite */
static void check(const char *name, const float *got, const double *ref, size_t n, double tol) {
    double num = 0, den = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) bad++;
        else num += (got[i] - ref[i]) * (got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    double rel = sqrt(num / (den > 0 ? den : 1));
    char why[200];
    snprintf(why, sizeof why, "%zu of %zu values not finite, relative error %.3g (tolerance %.1g)", bad, n, rel, tol);
    report(name, bad == 0 && rel <= tol, why);
}

/* ---- weights: random blocks of each type and their f32 reference values ---- */

static const int8_t IQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* iq4_xs reference, written from ggml's block layout: d, scales_h, scales_l[4], qs[128] */
static void iq4xs_dequant(const uint8_t *b, float *y, int64_t n) {
    for (int64_t s = 0; s < n / 256; s++, b += 136) {
        float d = quant_f16_to_f32((uint16_t)(b[0] | b[1] << 8));
        int sh = b[2] | b[3] << 8;
        for (int ib = 0; ib < 8; ib++) {
            int ls = ((b[4 + ib / 2] >> 4 * (ib % 2)) & 0xf) | (((sh >> 2 * ib) & 3) << 4);
            float dl = d * (ls - 32);
            const uint8_t *qs = b + 8 + 16 * ib;
            for (int j = 0; j < 16; j++) y[j] = dl * IQ4NL[qs[j] & 0xf], y[j + 16] = dl * IQ4NL[qs[j] >> 4];
            y += 32;
        }
    }
}

static size_t row_bytes_of(uint32_t t, int64_t k) { return t == QT_IQ4_XS ? (size_t)(k / 256) * 136 : quant_row_bytes(t, k); }

static void put_f16(uint8_t *p, float f) {
    uint16_t h = quant_f32_to_f16(f);
    p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
}

/* n_rows rows of k: returns the blocks, fills deq [n_rows][k] with their exact values */
static uint8_t *make_weight(uint32_t t, int64_t k, int64_t n_rows, float *deq) {
    size_t rb = row_bytes_of(t, k);
    uint8_t *w = xmalloc(rb * n_rows);
    bool direct = t == QT_F32 || t == QT_F16 || t == QT_BF16 || t == QT_Q8_0 || t == QT_Q4_0 || t == QT_Q4_1;
    float *tmp = xmalloc(sizeof(float) * k);
    for (int64_t j = 0; j < n_rows; j++) {
        uint8_t *row = w + j * rb;
        if (direct) {
            rnd_fill(tmp, k, 1.0f);
            quant_quant_row(t, tmp, row, k);
        } else { /* random bits with sane super-block scales */
            for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)rnd_u32();
            int bb = t == QT_Q4_K ? 144 : t == QT_Q5_K ? 176 : t == QT_Q6_K ? 210 : 136;
            for (int64_t s = 0; s < k / 256; s++) {
                uint8_t *b = row + s * bb;
                if (t == QT_Q6_K) put_f16(b + 208, 0.001f + 0.01f * fabsf(rnd()));
                else put_f16(b, 0.001f + 0.01f * fabsf(rnd()));
                if (t == QT_Q4_K || t == QT_Q5_K) put_f16(b + 2, 0.001f + 0.01f * fabsf(rnd()));
            }
        }
        if (t == QT_IQ4_XS) iq4xs_dequant(row, deq + j * k, k);
        else quant_dequant_row(t, row, deq + j * k, k);
    }
    free(tmp);
    return w;
}

static const uint32_t WTYPES[] = {QT_F32, QT_F16, QT_BF16, QT_Q8_0, QT_Q4_0, QT_Q4_1, QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_IQ4_XS};
static const char *type_name(uint32_t t) {
    if (t == QT_IQ4_XS) return "iq4_xs";
    const quant_type_info *ti = quant_type_info_get(t);
    return ti ? ti->name : "?";
}

/* ---- matmul ---- */

static void test_matmul_one(uint32_t t, int64_t k, int64_t m, int64_t n) {
    int64_t ldx = k + 4, ldy = m + 3;
    float *wq = xmalloc(sizeof(float) * k * m), *x = xmalloc(sizeof(float) * ldx * n);
    uint8_t *w = make_weight(t, k, m, wq);
    for (int64_t i = 0; i < n; i++) {
        rnd_fill(x + i * ldx, k, 1.0f);
        for (int64_t c = k; c < ldx; c++) x[i * ldx + c] = NAN; /* padding must not be read */
    }
    size_t rb = row_bytes_of(t, k);
    void *dw = dev_up(w, rb * m), *dx = dev_up(x, sizeof(float) * ldx * n), *dy = dev_up(NULL, sizeof(float) * ldy * n);
    cuda_weight cw = {t, k, m, rb, dw, 1, rb * m};
    int rc = cuda_matmul(NULL, &cw, dx, ldx, n, dy, ldy, &err);
    char name[96];
    snprintf(name, sizeof name, "matmul.%s.k%lld.m%lld.n%lld", type_name(t), (long long)k, (long long)m, (long long)n);
    if (rc) {
        report(name, 0, err.msg);
    } else {
        float *y = xmalloc(sizeof(float) * ldy * n), *got = xmalloc(sizeof(float) * m * n);
        double *ref = xmalloc(sizeof(double) * m * n);
        dev_down(y, dy, sizeof(float) * ldy * n);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) {
                double s = 0;
                for (int64_t c = 0; c < k; c++) s += (double)x[i * ldx + c] * wq[j * k + c];
                ref[i * m + j] = s;
                got[i * m + j] = y[i * ldy + j];
            }
        /* mat-vec sums in f32; the tile path rounds operands to tf32 (10-bit mantissa) */
        check(name, got, ref, (size_t)(m * n), n > 8 ? 3e-3 : 1e-5);
        free(y), free(got), free(ref);
    }
    cudaFree(dw), cudaFree(dx), cudaFree(dy);
    free(wq), free(x), free(w);
}

static void test_matmul(void) {
    for (size_t ti = 0; ti < sizeof WTYPES / sizeof WTYPES[0]; ti++) {
        uint32_t t = WTYPES[ti];
        int64_t k = (t == QT_Q4_K || t == QT_Q5_K || t == QT_Q6_K || t == QT_IQ4_XS) ? 768 : 544;
        static const int64_t ns[] = {1, 2, 3, 8, 13, 70};
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) test_matmul_one(t, k, 37, ns[i]);
        test_matmul_one(t, k, 131, 1);
        if (t == QT_Q4_0 || t == QT_Q4_K || t == QT_F16) test_matmul_one(t, 3072, 37, 5); /* x too big for one stage: chunked */
        if (t == QT_Q4_0 || t == QT_Q8_0 || t == QT_Q6_K) { /* several rows per warp, the last group partial */
            test_matmul_one(t, k, 9001, 1);
            test_matmul_one(t, k, 9001, 3);
        }
        if (t == QT_F32 || t == QT_F16 || t == QT_BF16) { /* rows not a multiple of 32 */
            test_matmul_one(t, 100, 29, 1);
            test_matmul_one(t, 100, 29, 11);
        }
    }
}

/* ---- MoE ---- */

static void test_moe_one(uint32_t t, int64_t E, int n_used, int64_t n, int skew, const char *tag) {
    int64_t k = (t == QT_Q4_K || t == QT_Q6_K) ? 512 : 288, m = strcmp(tag, "wide") ? 45 : 1500, ldx = k + 4, ldy = m;
    int64_t pairs = n * n_used;
    float *wq = xmalloc(sizeof(float) * k * m * E), *x = xmalloc(sizeof(float) * ldx * n);
    uint8_t *w = make_weight(t, k, m * E, wq);
    int32_t *ids = xmalloc(sizeof(int32_t) * pairs);
    for (int64_t i = 0; i < n; i++) {
        rnd_fill(x + i * ldx, k, 1.0f);
        for (int64_t c = k; c < ldx; c++) x[i * ldx + c] = NAN;
        for (int s = 0; s < n_used; s++) { /* distinct experts per token; some slots dropped (-1) */
            int32_t e;
            bool dup;
            do {
                e = skew ? (int32_t)(rnd_u32() % (skew < E ? skew : E)) : (int32_t)(rnd_u32() % E);
                dup = false;
                for (int q = 0; q < s; q++) dup |= ids[i * n_used + q] == e;
            } while (dup && n_used <= (skew ? skew : E));
            ids[i * n_used + s] = (s > 0 && rnd_u32() % 7 == 0) ? -1 : e;
        }
    }
    size_t rb = row_bytes_of(t, k), ws_bytes = cuda_moe_workspace_bytes(E, pairs);
    void *dw = dev_up(w, rb * m * E), *dx = dev_up(x, sizeof(float) * ldx * n), *di = dev_up(ids, sizeof(int32_t) * pairs);
    float *y = xmalloc(sizeof(float) * ldy * pairs);
    for (int64_t i = 0; i < ldy * pairs; i++) y[i] = 12345.0f; /* dropped slots keep this */
    void *dy = dev_up(y, sizeof(float) * ldy * pairs), *dws = dev_up(NULL, ws_bytes);
    cuda_weight cw = {t, k, m, rb, dw, E, rb * m};
    int rc = cuda_moe_matmul(NULL, &cw, di, n_used, dx, ldx, n, dy, ldy, dws, ws_bytes, &err);
    char name[96];
    snprintf(name, sizeof name, "moe.%s.%s.E%lld.used%d.n%lld", tag, type_name(t), (long long)E, n_used, (long long)n);
    if (rc) report(name, 0, err.msg);
    else {
        dev_down(y, dy, sizeof(float) * ldy * pairs);
        double *ref = xmalloc(sizeof(double) * m * pairs);
        float *got = xmalloc(sizeof(float) * m * pairs);
        int untouched_ok = 1;
        size_t nr = 0;
        for (int64_t p = 0; p < pairs; p++) {
            int32_t e = ids[p];
            if (e < 0) {
                for (int64_t j = 0; j < m; j++) untouched_ok &= y[p * ldy + j] == 12345.0f;
                continue;
            }
            for (int64_t j = 0; j < m; j++) {
                double s = 0;
                for (int64_t c = 0; c < k; c++) s += (double)x[(p / n_used) * ldx + c] * wq[(e * m + j) * k + c];
                ref[nr] = s;
                got[nr++] = y[p * ldy + j];
            }
        }
        check(name, got, ref, nr, pairs > 32 ? 3e-3 : 1e-5);
        char nm2[120];
        snprintf(nm2, sizeof nm2, "%s.dropped_rows_untouched", name);
        report(nm2, untouched_ok, "a row of a dropped (-1) slot was written");
        free(ref), free(got);
    }
    cudaFree(dw), cudaFree(dx), cudaFree(di), cudaFree(dy), cudaFree(dws);
    free(wq), free(x), free(w), free(ids), free(y);
}

static void test_moe(void) {
    test_moe_one(QT_Q4_0, 8, 3, 1, 0, "decode");          /* mat-vec per pair */
    test_moe_one(QT_Q6_K, 16, 4, 2, 0, "decode");
    test_moe_one(QT_Q4_0, 64, 3, 40, 0, "sparse");        /* ~1-3 rows per expert, grouped */
    test_moe_one(QT_Q4_K, 64, 6, 13, 0, "sparse");
    test_moe_one(QT_F16, 20, 2, 70, 0, "sparse");
    test_moe_one(QT_Q8_0, 6, 2, 1500, 4, "dense");        /* hundreds of rows per expert, two idle */
    test_moe_one(QT_Q4_0, 64, 1, 90, 0, "down");          /* n_used 1: one x row per pair */
    test_moe_one(QT_Q8_0, 8, 6, 1, 0, "wide");            /* several rows per warp */
    test_moe_one(QT_Q4_0, 8, 6, 1, 0, "wide");
}

/* ---- get_rows ---- */

static void test_get_rows(void) {
    static const uint32_t ts[] = {QT_F16, QT_BF16, QT_F32, QT_Q8_0, QT_Q4_K, QT_Q6_K, QT_IQ4_XS};
    for (size_t ti = 0; ti < sizeof ts / sizeof ts[0]; ti++) {
        uint32_t t = ts[ti];
        int64_t k = (t == QT_Q4_K || t == QT_Q6_K || t == QT_IQ4_XS) ? 512 : 96, m = 50;
        float *wq = xmalloc(sizeof(float) * k * m);
        uint8_t *w = make_weight(t, k, m, wq);
        int32_t ids[5] = {49, 0, 17, 17, 3};
        size_t rb = row_bytes_of(t, k);
        void *dw = dev_up(w, rb * m), *di = dev_up(ids, sizeof ids), *dout = dev_up(NULL, sizeof(float) * 5 * k);
        cuda_weight cw = {t, k, m, rb, dw, 1, rb * m};
        char name[64];
        snprintf(name, sizeof name, "get_rows.%s", type_name(t));
        if (cuda_get_rows(NULL, &cw, di, 5, dout, &err)) report(name, 0, err.msg);
        else {
            float *out = xmalloc(sizeof(float) * 5 * k);
            double *ref = xmalloc(sizeof(double) * 5 * k);
            dev_down(out, dout, sizeof(float) * 5 * k);
            for (int i = 0; i < 5; i++)
                for (int64_t c = 0; c < k; c++) ref[i * k + c] = wq[ids[i] * k + c];
            check(name, out, ref, (size_t)(5 * k), 1e-6);
            free(out), free(ref);
        }
        cudaFree(dw), cudaFree(di), cudaFree(dout);
        free(wq), free(w);
    }
}

/* ---- norm, rope, elementwise ---- */

static void test_norm(void) {
    int n = 3, d = 1000, ldx = 1003, ldy = 1001;
    float *x = xmalloc(sizeof(float) * ldx * n), *w = xmalloc(sizeof(float) * d), *y = xmalloc(sizeof(float) * ldy * n);
    for (int i = 0; i < ldx * n; i++) x[i] = (i % ldx) < d ? rnd() * 3 : NAN;
    rnd_fill(w, d, 2.0f);
    void *dx = dev_up(x, sizeof(float) * ldx * n), *dw = dev_up(w, sizeof(float) * d), *dy = dev_up(NULL, sizeof(float) * ldy * n);
    for (int withw = 0; withw < 2; withw++) {
        const char *name = withw ? "rms_norm.weight" : "rms_norm.plain";
        if (cuda_rms_norm(NULL, dx, ldx, withw ? dw : NULL, n, d, 1e-6f, dy, ldy, &err)) {
            report(name, 0, err.msg);
            continue;
        }
        dev_down(y, dy, sizeof(float) * ldy * n);
        double ref[3000];
        float got[3000];
        for (int i = 0; i < n; i++) {
            double ss = 0;
            for (int j = 0; j < d; j++) ss += (double)x[i * ldx + j] * x[i * ldx + j];
            double s = 1.0 / sqrt(ss / d + 1e-6);
            for (int j = 0; j < d; j++) {
                ref[i * d + j] = x[i * ldx + j] * s * (withw ? w[j] : 1.0);
                got[i * d + j] = y[i * ldy + j];
            }
        }
        check(name, got, ref, (size_t)(n * d), 1e-6);
    }
    cudaFree(dx), cudaFree(dw), cudaFree(dy);
    free(x), free(w), free(y);
}

static void test_rope(void) {
    int n_tok = 3, n_head = 5, hd = 96, n_rot = 64, ld_tok = n_head * hd + 8;
    int32_t pos[3] = {7, 1000, 4095};
    float theta[32];
    for (int p = 0; p < n_rot / 2; p++) theta[p] = powf(10000.0f, -2.0f * p / n_rot);
    float *x = xmalloc(sizeof(float) * ld_tok * n_tok), *y = xmalloc(sizeof(float) * ld_tok * n_tok);
    rnd_fill(x, (size_t)ld_tok * n_tok, 1.0f);
    void *dp = dev_up(pos, sizeof pos), *dt = dev_up(theta, sizeof theta);
    for (int neox = 0; neox < 2; neox++) {
        const char *name = neox ? "rope.neox" : "rope.normal";
        void *dx = dev_up(x, sizeof(float) * ld_tok * n_tok);
        if (cuda_rope(NULL, dx, n_tok, n_head, ld_tok, hd, dp, n_rot, neox, 0.9f, dt, &err)) {
            report(name, 0, err.msg);
            cudaFree(dx);
            continue;
        }
        dev_down(y, dx, sizeof(float) * ld_tok * n_tok);
        double *ref = xmalloc(sizeof(double) * ld_tok * n_tok);
        for (int i = 0; i < ld_tok * n_tok; i++) ref[i] = x[i];
        for (int i = 0; i < n_tok; i++)
            for (int h = 0; h < n_head; h++)
                for (int p = 0; p < n_rot / 2; p++) {
                    float ang = (float)pos[i] * theta[p]; /* the angle in f32, as graph/ and the CPU form it */
                    double c = cos(ang) * 0.9, s = sin(ang) * 0.9;
                    int i0 = neox ? p : 2 * p, i1 = neox ? p + n_rot / 2 : 2 * p + 1;
                    double *v = ref + i * ld_tok + h * hd;
                    double a = v[i0], b = v[i1];
                    v[i0] = a * c - b * s, v[i1] = a * s + b * c;
                }
        check(name, y, ref, (size_t)ld_tok * n_tok, 1e-5);
        free(ref);
        cudaFree(dx);
    }
    cudaFree(dp), cudaFree(dt);
    free(x), free(y);
}

static void test_elementwise(void) {
    int64_t n = 100003;
    int d = 1001, rows = 7;
    float *a = xmalloc(sizeof(float) * n), *b = xmalloc(sizeof(float) * n), *y = xmalloc(sizeof(float) * n);
    double *ref = xmalloc(sizeof(double) * n);
    rnd_fill(a, n, 8.0f), rnd_fill(b, n, 2.0f);
    void *da = dev_up(a, sizeof(float) * n), *db = dev_up(b, sizeof(float) * n), *dy = dev_up(NULL, sizeof(float) * n);
    if (cuda_add(NULL, da, db, dy, n, &err)) report("add", 0, err.msg);
    else {
        dev_down(y, dy, sizeof(float) * n);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)a[i] + b[i];
        check("add", y, ref, n, 1e-7);
    }
    if (cuda_silu_mul(NULL, da, db, dy, n, &err)) report("silu_mul", 0, err.msg);
    else {
        dev_down(y, dy, sizeof(float) * n);
        for (int64_t i = 0; i < n; i++) ref[i] = a[i] / (1.0 + exp(-(double)a[i])) * b[i];
        check("silu_mul", y, ref, n, 1e-6);
    }
    if (cuda_add_bias(NULL, da, db, rows, d, &err)) report("add_bias", 0, err.msg);
    else {
        dev_down(y, da, sizeof(float) * rows * d);
        for (int64_t i = 0; i < (int64_t)rows * d; i++) ref[i] = (double)a[i] + b[i % d];
        check("add_bias", y, ref, (size_t)rows * d, 1e-7);
    }
    /* copy: aligned (16-byte path plus a tail) and misaligned by one byte */
    for (int mis = 0; mis < 2; mis++) {
        size_t nb = 100003 * 4 - 3 - mis;
        const char *name = mis ? "copy.misaligned" : "copy.aligned";
        uint8_t *h = xmalloc(nb + 1), *back = xmalloc(nb + 1);
        for (size_t i = 0; i < nb + 1; i++) h[i] = (uint8_t)rnd_u32();
        uint8_t *ds = dev_up(h, nb + 1), *dd = dev_up(NULL, nb + 1);
        if (cuda_copy(NULL, dd + mis, ds + mis, nb, &err)) report(name, 0, err.msg);
        else {
            dev_down(back, dd, nb + 1);
            int ok = memcmp(back + mis, h + mis, nb) == 0 && (mis == 0 || back[0] == 0xff) &&
                     (mis == 1 || back[nb] == 0xff);
            report(name, ok, "bytes differ, or a byte outside [dst, dst + n) was written");
        }
        cudaFree(ds), cudaFree(dd);
        free(h), free(back);
    }
    cudaFree(da), cudaFree(db), cudaFree(dy);
    free(a), free(b), free(y), free(ref);
}

/* ---- routing: against the CPU's reference routing ---- */

static void test_route_one(const char *name, int E, int K, int G, int Gu, bool sigmoid, bool bias, bool norm,
                           float scale, int ser_kmin, float ser_thresh) {
    int n = 5;
    model_hparams hp;
    memset(&hp, 0, sizeof hp);
    hp.arch = ARCH_DEEPSEEK2, hp.n_expert = E, hp.n_expert_used = K, hp.n_expert_group = G;
    hp.n_expert_group_used = Gu, hp.gating = sigmoid ? GATING_SIGMOID : GATING_SOFTMAX;
    hp.expert_weights_norm = norm, hp.expert_weights_scale = scale;
    float *l = xmalloc(sizeof(float) * n * E), *b = xmalloc(sizeof(float) * E), *w = xmalloc(sizeof(float) * n * K);
    float *wr = xmalloc(sizeof(float) * n * K);
    int32_t *ids = xmalloc(sizeof(int32_t) * n * K), *idr = xmalloc(sizeof(int32_t) * n * K);
    rnd_fill(l, (size_t)n * E, 4.0f), rnd_fill(b, E, 0.1f);
    route_params rp = graph_route_params(&hp, ser_kmin, ser_thresh);
    cpu_route_ref(&rp, l, bias ? b : NULL, n, idr, wr);
    cuda_route_params p = {E, K, G, Gu, sigmoid, norm, scale, ser_kmin, ser_thresh};
    void *dl = dev_up(l, sizeof(float) * n * E), *db = dev_up(b, sizeof(float) * E);
    void *di = dev_up(NULL, sizeof(int32_t) * n * K), *dw = dev_up(NULL, sizeof(float) * n * K);
    char nm[80];
    snprintf(nm, sizeof nm, "route.%s", name);
    if (cuda_route(NULL, &p, dl, bias ? db : NULL, n, di, dw, &err)) report(nm, 0, err.msg);
    else {
        dev_down(ids, di, sizeof(int32_t) * n * K);
        dev_down(w, dw, sizeof(float) * n * K);
        int same = 1, dropped = 0;
        double maxd = 0;
        for (int i = 0; i < n * K; i++) {
            same &= ids[i] == idr[i];
            dropped += idr[i] < 0;
            double dd = fabs((double)w[i] - wr[i]) / fmax(1.0, fabs(wr[i])); /* expf may differ by an ulp */
            if (!(dd <= maxd)) maxd = dd;
        }
        char why[120];
        snprintf(why, sizeof why, "ids %s the CPU's, weights differ by up to %.3g", same ? "equal" : "differ from",
                 maxd);
        report(nm, same && maxd <= 1e-5, why);
        if (ser_kmin > 0) {
            snprintf(nm, sizeof nm, "route.%s.drops_some", name);
            report(nm, dropped > 0 && dropped < n * (K - ser_kmin) + 1, "the SER case drops no slot: make it stricter");
        }
    }
    cudaFree(dl), cudaFree(db), cudaFree(di), cudaFree(dw);
    free(l), free(b), free(w), free(wr), free(ids), free(idr);
}

static void test_route(void) {
    test_route_one("softmax", 64, 6, 1, 1, false, false, false, 1.0f, 0, 0);
    test_route_one("softmax_groups", 160, 6, 8, 3, false, false, false, 16.0f, 0, 0);
    test_route_one("sigmoid_bias_groups", 256, 8, 8, 4, true, true, true, 2.5f, 0, 0);
    test_route_one("sigmoid_nobias", 64, 4, 1, 1, true, false, true, 1.0f, 0, 0);
    test_route_one("ser", 64, 6, 1, 1, false, false, true, 1.0f, 2, 0.6f);
}

/* ---- attention: caches with NaN past each sequence's last position ---- */

typedef struct run_case {
    int n_tok, pos0;
} run_case;

/* cache of n_seq * n_ctx_seq rows of width D (type t) holding random values where a run has
 * written them (rows < pos0 + n_tok of its sequence) and 0xff (NaN) bytes elsewhere; deq gets
 * the values the kernels should read */
static uint8_t *make_cache(uint32_t t, int D, int n_ctx_seq, const run_case *rc, int n_runs, float *deq) {
    size_t rb = quant_row_bytes(t, D);
    uint8_t *c = xmalloc(rb * n_ctx_seq * n_runs);
    memset(c, 0xff, rb * n_ctx_seq * n_runs);
    float *tmp = xmalloc(sizeof(float) * D);
    for (int s = 0; s < n_runs; s++)
        for (int p = 0; p < rc[s].pos0 + rc[s].n_tok; p++) {
            size_t row = (size_t)s * n_ctx_seq + p;
            rnd_fill(tmp, D, 1.0f);
            quant_quant_row(t, tmp, c + row * rb, D);
            quant_dequant_row(t, c + row * rb, deq + row * D, D);
        }
    free(tmp);
    return c;
}

static void test_mla_one(const char *tag, uint32_t t, int H, const run_case *rc, int n_runs, int n_ctx_seq, bool f32_math) {
    const int r = 512, dr = 64, D = r + dr;
    int n_tok = 0, max_tok = 0, max_kv = 0;
    cuda_run runs[8];
    for (int s = 0; s < n_runs; s++) {
        runs[s] = (cuda_run){n_tok, rc[s].n_tok, s, rc[s].pos0};
        n_tok += rc[s].n_tok;
        max_tok = rc[s].n_tok > max_tok ? rc[s].n_tok : max_tok;
        max_kv = rc[s].pos0 + rc[s].n_tok > max_kv ? rc[s].pos0 + rc[s].n_tok : max_kv;
    }
    float *deq = xmalloc(sizeof(float) * n_ctx_seq * n_runs * D);
    uint8_t *cache = make_cache(t, D, n_ctx_seq, rc, n_runs, deq);
    float *ql = xmalloc(sizeof(float) * n_tok * H * r), *qp = xmalloc(sizeof(float) * n_tok * H * dr);
    rnd_fill(ql, (size_t)n_tok * H * r, 1.0f), rnd_fill(qp, (size_t)n_tok * H * dr, 1.0f);
    float scale = 0.3f / sqrtf(192.0f);
    size_t cb = quant_row_bytes(t, D) * n_ctx_seq * n_runs;
    void *dc = dev_up(cache, cb), *dql = dev_up(ql, sizeof(float) * n_tok * H * r);
    void *dqp = dev_up(qp, sizeof(float) * n_tok * H * dr), *druns = dev_up(runs, sizeof(cuda_run) * n_runs);
    void *dout = dev_up(NULL, sizeof(float) * n_tok * H * r);
    cuda_mla_args a = {n_tok, H, r, dr, scale, dql, dqp, dc, t, n_ctx_seq, druns, n_runs, max_tok, max_kv, dout, f32_math};
    size_t wsb = cuda_mla_workspace_bytes(&a);
    void *dws = dev_up(NULL, wsb);
    char name[96];
    bool mma = !f32_math && t != QT_F32; /* tensor cores: 16-bit queries and probabilities */
    snprintf(name, sizeof name, "mla.%s.%s.h%d%s", tag, type_name(t), H, mma ? "" : ".f32");
    if (cuda_mla_attn(NULL, &a, dws, wsb, &err)) report(name, 0, err.msg);
    else {
        float *out = xmalloc(sizeof(float) * n_tok * H * r);
        double *ref = xmalloc(sizeof(double) * n_tok * H * r);
        dev_down(out, dout, sizeof(float) * n_tok * H * r);
        double *sc = xmalloc(sizeof(double) * max_kv);
        for (int s = 0; s < n_runs; s++)
            for (int i = 0; i < rc[s].n_tok; i++)
                for (int h = 0; h < H; h++) {
                    int64_t gq = (int64_t)(runs[s].tok0 + i) * H + h;
                    int len = rc[s].pos0 + i + 1;
                    double mx = -INFINITY, sum = 0;
                    for (int p = 0; p < len; p++) {
                        const float *row = deq + ((size_t)s * n_ctx_seq + p) * D;
                        double d = 0;
                        for (int c = 0; c < r; c++) d += (double)ql[gq * r + c] * row[c];
                        for (int c = 0; c < dr; c++) d += (double)qp[gq * dr + c] * row[r + c];
                        sc[p] = d * scale;
                        mx = sc[p] > mx ? sc[p] : mx;
                    }
                    for (int p = 0; p < len; p++) sum += (sc[p] = exp(sc[p] - mx));
                    for (int c = 0; c < r; c++) {
                        double o = 0;
                        for (int p = 0; p < len; p++) o += sc[p] * deq[((size_t)s * n_ctx_seq + p) * D + c];
                        ref[gq * r + c] = o / sum;
                    }
                }
        check(name, out, ref, (size_t)n_tok * H * r, !mma ? 1e-5 : t == QT_BF16 ? 6e-3 : 1.5e-3);
        free(out), free(ref), free(sc);
    }
    cudaFree(dc), cudaFree(dql), cudaFree(dqp), cudaFree(druns), cudaFree(dout), cudaFree(dws);
    free(deq), free(cache), free(ql), free(qp);
}

static void test_mla(void) {
    static const run_case one[] = {{1, 0}}, two[] = {{2, 100}}, four_long[] = {{4, 1000}}, decode_long[] = {{1, 5000}};
    static const run_case batch[] = {{1, 5}, {2, 300}, {4, 77}}, prefill[] = {{50, 0}}, mixed[] = {{1, 2100}, {37, 0}};
    static const uint32_t ts[] = {QT_F16, QT_BF16, QT_Q8_0, QT_F32};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        for (int f32 = 0; f32 < (ts[i] == QT_F32 ? 1 : 2); f32++) {
            test_mla_one("depth1", ts[i], 16, one, 1, 64, f32);
            test_mla_one("tok2", ts[i], 16, two, 1, 128, f32);
            test_mla_one("batch3", ts[i], 16, batch, 3, 512, f32);
        }
    for (int f32 = 0; f32 < 2; f32++) {
        test_mla_one("tok4_split", QT_F16, 128, four_long, 1, 1024, f32);
        test_mla_one("heads5", QT_BF16, 5, batch, 3, 512, f32);
        test_mla_one("decode_split", QT_Q8_0, 16, decode_long, 1, 5003, f32);
        test_mla_one("prefill", QT_F16, 16, prefill, 1, 64, f32);
        test_mla_one("prefill_and_decode", QT_BF16, 16, mixed, 2, 2200, f32);
    }
}

static void test_attn_one(const char *tag, uint32_t kt, uint32_t vt, int H, int Hkv, int dk, int dv, const run_case *rc,
                          int n_runs, int n_ctx_seq) {
    int n_tok = 0, max_kv = 0;
    cuda_run runs[8];
    for (int s = 0; s < n_runs; s++) {
        runs[s] = (cuda_run){n_tok, rc[s].n_tok, s, rc[s].pos0};
        n_tok += rc[s].n_tok;
        max_kv = rc[s].pos0 + rc[s].n_tok > max_kv ? rc[s].pos0 + rc[s].n_tok : max_kv;
    }
    float *kd = xmalloc(sizeof(float) * n_ctx_seq * n_runs * Hkv * dk), *vd = xmalloc(sizeof(float) * n_ctx_seq * n_runs * Hkv * dv);
    uint8_t *kc = make_cache(kt, Hkv * dk, n_ctx_seq, rc, n_runs, kd), *vc = make_cache(vt, Hkv * dv, n_ctx_seq, rc, n_runs, vd);
    float *q = xmalloc(sizeof(float) * n_tok * H * dk);
    rnd_fill(q, (size_t)n_tok * H * dk, 1.0f);
    float scale = 1.0f / sqrtf((float)dk);
    void *dk_ = dev_up(kc, quant_row_bytes(kt, Hkv * dk) * n_ctx_seq * n_runs);
    void *dv_ = dev_up(vc, quant_row_bytes(vt, Hkv * dv) * n_ctx_seq * n_runs);
    void *dq = dev_up(q, sizeof(float) * n_tok * H * dk), *druns = dev_up(runs, sizeof(cuda_run) * n_runs);
    void *dout = dev_up(NULL, sizeof(float) * n_tok * H * dv);
    cuda_attn_args a = {n_tok, H, Hkv, dk, dv, scale, dq, dk_, dv_, kt, vt, n_ctx_seq, druns, n_runs, dout};
    char name[96];
    snprintf(name, sizeof name, "attn.%s.%s_%s.h%d_%d", tag, type_name(kt), type_name(vt), H, Hkv);
    if (cuda_attn(NULL, &a, &err)) report(name, 0, err.msg);
    else {
        float *out = xmalloc(sizeof(float) * n_tok * H * dv);
        double *ref = xmalloc(sizeof(double) * n_tok * H * dv), *sc = xmalloc(sizeof(double) * max_kv);
        dev_down(out, dout, sizeof(float) * n_tok * H * dv);
        for (int s = 0; s < n_runs; s++)
            for (int i = 0; i < rc[s].n_tok; i++)
                for (int h = 0; h < H; h++) {
                    int64_t gq = (int64_t)(runs[s].tok0 + i) * H + h;
                    int hk = h / (H / Hkv), len = rc[s].pos0 + i + 1;
                    double mx = -INFINITY, sum = 0;
                    for (int p = 0; p < len; p++) {
                        const float *kr = kd + (((size_t)s * n_ctx_seq + p) * Hkv + hk) * dk;
                        double d = 0;
                        for (int c = 0; c < dk; c++) d += (double)q[gq * dk + c] * kr[c];
                        sc[p] = d * scale;
                        mx = sc[p] > mx ? sc[p] : mx;
                    }
                    for (int p = 0; p < len; p++) sum += (sc[p] = exp(sc[p] - mx));
                    for (int c = 0; c < dv; c++) {
                        double o = 0;
                        for (int p = 0; p < len; p++) o += sc[p] * vd[(((size_t)s * n_ctx_seq + p) * Hkv + hk) * dv + c];
                        ref[gq * dv + c] = o / sum;
                    }
                }
        check(name, out, ref, (size_t)n_tok * H * dv, 1e-5);
        free(out), free(ref), free(sc);
    }
    cudaFree(dk_), cudaFree(dv_), cudaFree(dq), cudaFree(druns), cudaFree(dout);
    free(kd), free(vd), free(kc), free(vc), free(q);
}

static void test_attn(void) {
    static const run_case batch[] = {{1, 5}, {2, 300}, {4, 77}}, one[] = {{1, 0}}, prefill[] = {{40, 3}};
    test_attn_one("batch3", QT_F16, QT_F16, 8, 2, 64, 64, batch, 3, 400);
    test_attn_one("batch3", QT_BF16, QT_BF16, 6, 6, 128, 128, batch, 3, 400);
    test_attn_one("batch3", QT_Q8_0, QT_Q8_0, 9, 3, 64, 96, batch, 3, 400);
    test_attn_one("batch3", QT_F32, QT_F16, 4, 1, 256, 256, batch, 3, 400);
    test_attn_one("depth1", QT_Q8_0, QT_F16, 8, 2, 128, 128, one, 1, 16);
    test_attn_one("prefill", QT_F16, QT_Q8_0, 4, 2, 64, 64, prefill, 1, 64);
}

/* ---- cache writes and the expert combine: bytes equal to the CPU's quant_quant_row ---- */

static void test_cache_write_one(uint32_t t, bool transposed, int d, int n, int64_t n_rows) {
    char name[64];
    snprintf(name, sizeof name, "cache_write.%s%s.d%d.n%d", type_name(t), transposed ? ".T" : "", d, n);
    float *src = xmalloc(sizeof(float) * (size_t)n * d);
    rnd_fill(src, (size_t)n * d, 3.0f);
    int64_t *rows = xmalloc(sizeof(int64_t) * (size_t)n);
    for (int i = 0; i < n; i++) rows[i] = (int64_t)((i * 7 + 3) % n_rows); /* distinct: n <= n_rows, 7 coprime */
    size_t es = quant_row_bytes(t, 1), rb = quant_row_bytes(t, d);
    size_t bytes = transposed ? (size_t)d * (size_t)n_rows * es : (size_t)n_rows * rb;
    uint8_t *want = xmalloc(bytes), *got = xmalloc(bytes);
    memset(want, 0xff, bytes);
    for (int i = 0; i < n; i++) {
        if (!transposed) quant_quant_row(t, src + (size_t)i * d, want + (size_t)rows[i] * rb, d);
        else
            for (int j = 0; j < d; j++)
                quant_quant_row(t, src + (size_t)i * d + j, want + ((size_t)j * n_rows + (size_t)rows[i]) * es, 1);
    }
    void *dsrc = dev_up(src, sizeof(float) * (size_t)n * d), *drows = dev_up(rows, sizeof(int64_t) * (size_t)n);
    void *dst = dev_up(NULL, bytes);
    if (cuda_cache_write(NULL, dst, t, n_rows, transposed, drows, dsrc, n, d, &err)) report(name, 0, err.msg);
    else {
        dev_down(got, dst, bytes);
        size_t bad = 0;
        char why[256], at[160] = "";
        for (size_t i = 0; i < bytes; i++)
            if (got[i] != want[i] && bad++ < 4) {
                size_t l = strlen(at);
                snprintf(at + l, sizeof at - l, " %zu:%02x/%02x", i, got[i], want[i]);
            }
        snprintf(why, sizeof why, "%zu of %zu bytes differ from the CPU's (offset:got/want%s; row bytes %zu)", bad, bytes,
                 at, rb);
        report(name, bad == 0, why);
    }
    cudaFree(dsrc), cudaFree(drows), cudaFree(dst);
    free(src), free(rows), free(want), free(got);
}

static void test_moe_combine(void) {
    int n = 5, K = 3, dim = 257;
    float *d = xmalloc(sizeof(float) * (size_t)n * K * dim), *w = xmalloc(sizeof(float) * (size_t)n * K);
    float *out0 = xmalloc(sizeof(float) * (size_t)n * dim), *got = xmalloc(sizeof(float) * (size_t)n * dim);
    int32_t *ids = xmalloc(sizeof(int32_t) * (size_t)n * K);
    double *ref = xmalloc(sizeof(double) * (size_t)n * dim);
    rnd_fill(d, (size_t)n * K * dim, 2.0f), rnd_fill(w, (size_t)n * K, 1.0f), rnd_fill(out0, (size_t)n * dim, 1.0f);
    for (int p = 0; p < n * K; p++) ids[p] = p % 4 == 1 ? -1 : p % 7; /* some slots dropped (SER) */
    for (int s = 0; s < n * K; s++)
        if (ids[s] < 0) /* a dropped slot's row is never written: NaN must not leak */
            for (int j = 0; j < dim; j++) d[(size_t)s * dim + j] = NAN;
    void *dd = dev_up(d, sizeof(float) * (size_t)n * K * dim), *dw = dev_up(w, sizeof(float) * (size_t)n * K);
    void *di = dev_up(ids, sizeof(int32_t) * (size_t)n * K);
    for (int acc = 0; acc < 2; acc++) {
        void *dout = dev_up(out0, sizeof(float) * (size_t)n * dim);
        const char *name = acc ? "moe_combine.accumulate" : "moe_combine";
        if (cuda_moe_combine(NULL, dd, di, dw, n, K, dim, dout, acc, &err)) report(name, 0, err.msg);
        else {
            dev_down(got, dout, sizeof(float) * (size_t)n * dim);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < dim; j++) {
                    double a = acc ? out0[i * dim + j] : 0.0;
                    for (int s = 0; s < K; s++)
                        if (ids[i * K + s] >= 0) a += (double)w[i * K + s] * d[((size_t)i * K + s) * dim + j];
                    ref[(size_t)i * dim + j] = a;
                }
            check(name, got, ref, (size_t)n * dim, 1e-6);
        }
        cudaFree(dout);
    }
    cudaFree(dd), cudaFree(dw), cudaFree(di);
    free(d), free(w), free(out0), free(got), free(ids), free(ref);
}

static void test_cache_write(void) {
    const uint32_t ts[] = {QT_F32, QT_F16, QT_BF16, QT_Q8_0};
    for (int i = 0; i < 4; i++) {
        test_cache_write_one(ts[i], false, 576, 5, 37);
        test_cache_write_one(ts[i], false, 64, 1, 3);
        if (ts[i] != QT_Q8_0) test_cache_write_one(ts[i], true, 512, 5, 37);
    }
    test_moe_combine();
}

int main(void) {
    if (cuda_ops_device_count() == 0) {
        printf("SKIP cuda: no GPU\n");
        return 0;
    }
    cuda_device_info info;
    if (cuda_ops_init(0, &info, &err)) {
        printf("SKIP cuda: %s\n", err.msg);
        return 0;
    }
    printf("# %s, sm_%d%d, %d SMs, %zu KB shared memory per block\n", info.name, info.cc_major, info.cc_minor,
           info.n_sm, info.smem_optin / 1024);
    test_matmul();
    test_moe();
    test_get_rows();
    test_norm();
    test_rope();
    test_elementwise();
    test_route();
    test_mla();
    test_attn();
    test_cache_write();
    cudaError_t e = cudaDeviceSynchronize();
    report("no_sticky_error", e == cudaSuccess, cudaGetErrorString(e));
    return n_fail ? 1 : 0;
}
