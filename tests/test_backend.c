/* test_backend.c: the CPU backend's engine-v2 ops against plain loops written here:
 * matmul_heads (strided x, strided y, row offsets; f32/f16/q8_0 weights; 1-3 heads and 16;
 * 1, 5, 30 tokens) against per-head cpu_matmul; copy_2d; moe_combine with dropped slots;
 * cache_write to scattered rows, plain and transposed; memory, events and sync; and a pool
 * of 300 threads (more than the old fixed 256-entry scratch arrays held) giving the same
 * matmul_heads result as one thread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/matmul.h"
#include "quant/quant.h"

static int n_fail;

static void check(const char *name, int ok, const char *why) {
    if (ok) printf("PASS backend.%s\n", name);
    else printf("FAIL backend.%s: %s\n", name, why), n_fail++;
}

static float frand(unsigned *s) {
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 65536.0f - 0.5f;
}

/* matmul_heads against one cpu_matmul per head on a gathered copy */
static void heads_case(backend *be, uint32_t type, int H, int64_t head_rows, int64_t row_off, int64_t m, int64_t k, int n) {
    unsigned seed = (unsigned)(type * 131 + H * 17 + n);
    size_t rb = quant_row_bytes(type, k);
    char *w = malloc(rb * (size_t)(H * head_rows));
    float *row = malloc(sizeof(float) * (size_t)k);
    for (int64_t j = 0; j < H * head_rows; j++) {
        for (int64_t i = 0; i < k; i++) row[i] = frand(&seed);
        quant_quant_row(type, row, w + (size_t)j * rb, k);
    }
    lt_tensor t = {.name = "w", .type = type, .ne = {k, H * head_rows, 1, 1}, .row_bytes = rb, .data = w};
    int64_t xs = k + 3, ldx = (int64_t)H * xs + 5, ys = m + 2, ldy = (int64_t)H * ys + 1; /* strides with gaps */
    float *x = malloc(sizeof(float) * (size_t)(n * ldx)), *y = calloc((size_t)(n * ldy), sizeof(float));
    float *g = malloc(sizeof(float) * (size_t)(n * k)), *want = malloc(sizeof(float) * (size_t)(n * m));
    for (int64_t i = 0; i < n * ldx; i++) x[i] = frand(&seed);
    int rc = be->ops->matmul_heads(be, &t, H, head_rows, row_off, m, x, ldx, xs, n, y, ldy, ys);
    double worst = 0;
    for (int h = 0; h < H && !rc; h++) {
        for (int i = 0; i < n; i++) memcpy(g + (size_t)i * k, x + i * ldx + (int64_t)h * xs, sizeof(float) * (size_t)k);
        cpu_matmul(NULL, type, w + (size_t)(h * head_rows + row_off) * rb, rb, m, k, g, n, want, m);
        for (int i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) {
                double d = fabs(y[i * ldy + h * ys + j] - want[i * m + j]) / (1e-3 + fabs(want[i * m + j]));
                worst = d > worst ? d : worst;
            }
    }
    char name[128], why[128];
    snprintf(name, sizeof name, "matmul_heads type%u H%d rows%lld+%lld k%lld n%d", type, H, (long long)m,
             (long long)row_off, (long long)k, n);
    snprintf(why, sizeof why, "rc %d, worst relative difference %.2e", rc, worst);
    check(name, rc == 0 && worst < 1e-4, why);
    free(w), free(row), free(x), free(y), free(g), free(want);
}

int main(void) {
    backend *be, *big;
    latte_err err;
    if (backend_cpu_init(&be, 2, &err)) return printf("FAIL backend.init: %s\n", err.msg), 1;
    uint32_t types[] = {QT_F32, QT_F16, QT_Q8_0};
    for (int ti = 0; ti < 3; ti++) {
        heads_case(be, types[ti], 1, 96, 0, 96, 64, 1);
        heads_case(be, types[ti], 3, 160, 32, 128, 64, 5);
        heads_case(be, types[ti], 16, 64, 0, 64, 128, 30);
        heads_case(be, types[ti], 2, 40, 8, 32, 32, 3); /* rows not a multiple of the 32-row tile */
    }
    /* copy_2d: 3 rows of 5 floats between strides 7 and 9 */
    float src[27], dst[27];
    for (int i = 0; i < 27; i++) src[i] = (float)i, dst[i] = -1;
    int rc = be->ops->copy_2d(be, dst, 9 * sizeof(float), src, 7 * sizeof(float), 5 * sizeof(float), 3);
    int ok = rc == 0;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 9; c++) ok &= dst[r * 9 + c] == (c < 5 ? src[r * 7 + c] : -1);
    check("copy_2d", ok, "rows or gaps wrong");
    /* moe_combine: 2 tokens x 3 slots, slot 1 of token 0 dropped (id -1) */
    float d[6 * 4], wts[6] = {0.5f, 9.0f, 0.25f, 1.0f, 2.0f, 3.0f}, out[8];
    int32_t ids[6] = {4, -1, 7, 0, 1, 2};
    for (int i = 0; i < 24; i++) d[i] = (float)(i + 1);
    for (int i = 0; i < 8; i++) out[i] = 100;
    rc = be->ops->moe_combine(be, d, ids, wts, 2, 3, 4, out, false);
    ok = rc == 0;
    for (int j = 0; j < 4; j++) {
        ok &= out[j] == 0.5f * d[j] + 0.25f * d[8 + j];
        ok &= out[4 + j] == 1.0f * d[12 + j] + 2.0f * d[16 + j] + 3.0f * d[20 + j];
    }
    rc = be->ops->moe_combine(be, d, ids, wts, 2, 3, 4, out, true); /* accumulate: doubles */
    for (int j = 0; j < 4; j++) ok &= out[j] == 2 * (0.5f * d[j] + 0.25f * d[8 + j]);
    check("moe_combine", ok && rc == 0, "weighted sums wrong");
    /* cache_write to scattered rows: f32 plain and f16 transposed */
    float rows[3 * 4] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, cache[10 * 4] = {0};
    int64_t at[3] = {7, 2, 9};
    rc = be->ops->cache_write(be, cache, QT_F32, 0, false, at, rows, 3, 4);
    ok = rc == 0 && cache[7 * 4] == 1 && cache[2 * 4 + 3] == 8 && cache[9 * 4 + 1] == 10 && cache[0] == 0;
    uint16_t tc[4 * 10] = {0};
    rc = be->ops->cache_write(be, tc, QT_F16, 10, true, at, rows, 3, 4);
    float back[10];
    quant_dequant_row(QT_F16, tc + 3 * 10, back, 10); /* dimension 3 across the rows */
    ok &= rc == 0 && back[7] == 4 && back[2] == 8 && back[9] == 12 && back[0] == 0;
    check("cache_write rows", ok, "values not at their rows");
    /* memory, events, sync */
    void *buf = be->ops->buf_alloc(be, 1000), *host = be->ops->host_alloc(be, 1000);
    backend_event *ev = be->ops->event_new(be);
    ok = buf && host && ev && ((char *)buf)[999] == 0;
    memset(host, 7, 1000);
    ok &= be->ops->copy_in(be, buf, host, 1000) == 0 && be->ops->event_record(be, ev) == 0 &&
          be->ops->event_sync(be, ev) == 0 && be->ops->sync(be) == 0 && ((char *)buf)[500] == 7;
    ok &= be->ops->supports(be, BOP_MATMUL, QT_Q8_0) && be->ops->supports(be, BOP_CACHE, QT_Q4_0) &&
          !be->ops->supports(be, BOP_CACHE, QT_Q4_1);
    be->ops->event_free(be, ev), be->ops->buf_free(be, buf), be->ops->host_free(be, host);
    check("memory events sync supports", ok, "a buffer, copy or event failed");
    /* 300 threads: per-thread scratch sized by the pool (ASan would see an overflow) */
    if (backend_cpu_init(&big, 300, &err)) {
        check("300 threads", 0, err.msg);
    } else {
        check("300 threads started", backend_cpu_threads(big) == 300, "fewer threads");
        heads_case(big, QT_F16, 16, 64, 0, 64, 128, 30);
        backend_free(big);
    }
    int pc = backend_cpu_physical_cores(), lc = backend_cpu_logical_cpus();
    char why[64];
    snprintf(why, sizeof why, "%d physical, %d logical", pc, lc);
    check("core counts", pc >= 1 && pc <= lc, why);
    backend_free(be);
    return n_fail ? 1 : 0;
}
