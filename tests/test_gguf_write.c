/* test_gguf_write.c: the GGUF writer and the quantizers.
 * - round trip: a file with every key type and tensors of every writable type is written,
 *   read back with latte's reader (gguf_open), and every key and byte compared;
 * - each type's dequant(quant(x)) error on random rows against the format's bound;
 * - writer errors (duplicate key/tensor, too much or too little data).
 * With an argument PATH it also leaves PATH.gguf holding the source rows (f32) and their
 * quantizations, for tests/check_gguf_write.py to compare with the gguf Python package. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "gguf/gguf_write.h"
#include "quant/quant.h"
#include "quant/quantize.h"

static int n_fail;

static void report(const char *name, int ok, const char *why) {
    if (ok) printf("PASS %s\n", name);
    else {
        printf("FAIL %s: %s\n", name, why);
        n_fail++;
    }
}

static uint64_t rng = 88172645463325252ull;
static double urand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float gauss(void) {
    double u = urand() + 1e-12, v = urand();
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

#define ROWS 8
#define COLS 1024
static const uint32_t TYPES[] = {QT_F32, QT_F16, QT_BF16, QT_Q8_0, QT_Q4_0, QT_Q4_1,
                                 QT_Q5_0, QT_Q5_1, QT_Q4_K, QT_Q5_K, QT_Q6_K, QT_Q2_K, QT_Q3_K};
#define NT (sizeof TYPES / sizeof TYPES[0])

/* rows with features that stress the rounding: a gaussian body, outliers, an all-positive
 * row, an all-zero block, a constant block and tiny values */
static void make_rows(float *x) {
    for (int i = 0; i < ROWS * COLS; i++) x[i] = gauss() * 0.02f;
    for (int i = 0; i < 20; i++) x[(int)(urand() * ROWS * COLS)] *= 30;
    for (int i = 0; i < COLS; i++) x[2 * COLS + i] = fabsf(x[2 * COLS + i]) + 0.01f;
    memset(x + 3 * COLS, 0, 256 * sizeof(float));
    for (int i = 0; i < 256; i++) x[3 * COLS + 256 + i] = 0.5f;
    for (int i = 0; i < COLS; i++) x[4 * COLS + i] *= 1e-4f;
}

/* Relative RMS error bound per type on gaussian rows: a round-to-nearest grid of step s has
 * RMS error s/sqrt(12); s is about 2*max|x|/(2^bits - 1) per block, and max|x| of 32
 * gaussians is about 2.5 sigma (K-quants: 16- or 32-element sub-blocks with fitted scales,
 * a little better). The bounds are these estimates with about 25% margin. */
static double rms_bound(uint32_t t) {
    switch (t) {
    case QT_F32: return 1e-7;
    case QT_F16: return 5e-4;
    case QT_BF16: return 4e-3;
    case QT_Q8_0: return 2.5 * 2 / 254.0 / sqrt(12) * 1.25;
    case QT_Q4_0: return 2.5 * 2 / 15.0 / sqrt(12) * 1.25 * 1.15;  /* 16 levels, one wasted at the top */
    case QT_Q4_1: return 2.5 * 2 / 15.0 / sqrt(12) * 1.25;
    case QT_Q5_0: return 2.5 * 2 / 31.0 / sqrt(12) * 1.25 * 1.1;
    case QT_Q5_1: return 2.5 * 2 / 31.0 / sqrt(12) * 1.25;
    case QT_Q4_K: return 2.5 * 2 / 15.0 / sqrt(12) * 1.25;
    case QT_Q5_K: return 2.5 * 2 / 31.0 / sqrt(12) * 1.25;
    case QT_Q6_K: return 2.5 * 2 / 63.0 / sqrt(12) * 1.25;
    case QT_Q3_K: return 2.5 * 2 / 7.0 / sqrt(12) * 1.25;
    case QT_Q2_K: return 2.5 * 2 / 3.0 / sqrt(12) * 1.25;
    default: return 0;
    }
}

static void test_error_bounds(void) {
    int n = 64 * 256;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    uint8_t *q = malloc((size_t)n * 4);
    double rms_by_type[NT];
    for (size_t k = 0; k < NT; k++) {
        uint32_t t = TYPES[k];
        const quant_type_info *ti = quant_type_info_get(t);
        rms_by_type[k] = 0;
        if (!ti->can_dequant) { /* check_gguf_write.py reads them back through the gguf package */
            printf("SKIP roundtrip_%s: quant_dequant_row cannot read it yet\n", ti->name);
            continue;
        }
        for (int i = 0; i < n; i++) x[i] = gauss();
        int rc = quant_quantize_row(t, x, q, n);
        quant_dequant_row(t, q, y, n);
        double se = 0, sx = 0, maxerr = 0;
        int finite = 1;
        for (int i = 0; i < n; i++) {
            se += (double)(x[i] - y[i]) * (x[i] - y[i]);
            sx += (double)x[i] * x[i];
            finite &= isfinite(y[i]);
            maxerr = fmax(maxerr, fabs(x[i] - y[i]));
        }
        double rel = sqrt(se / sx), bound = rms_bound(t);
        rms_by_type[k] = rel;
        char name[64], why[160];
        snprintf(name, sizeof name, "roundtrip_%s", ti->name);
        snprintf(why, sizeof why, "relative RMS error %.5f above the bound %.5f (rc %d)", rel, bound, rc);
        report(name, rc == 0 && finite && rel <= bound, why);
        printf("  %s: relative RMS error %.5f (bound %.5f), max abs error %.4f\n", ti->name, rel, bound, maxerr);
    }
    /* per element: the round-to-nearest types are never off by more than half a step */
    int ok = 1;
    char why[160] = "";
    for (int b = 0; b < 64 && ok; b++) {
        float *xb = x + 32 * b, amax = 0;
        uint8_t blk[34];
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
        quant_quantize_row(QT_Q8_0, xb, blk, 32);
        quant_dequant_row(QT_Q8_0, blk, y, 32);
        float d = quant_f16_to_f32((uint16_t)(blk[0] | blk[1] << 8));
        for (int i = 0; i < 32; i++)
            if (fabsf(xb[i] - y[i]) > 0.5f * d + amax * 1e-3f) {
                snprintf(why, sizeof why, "q8_0 block %d element %d off by %g, step %g", b, i, fabsf(xb[i] - y[i]), d);
                ok = 0;
            }
    }
    report("q8_0_half_step", ok, why);
    /* more bits, less error; a K-quant beats the plain type of its bits */
    report("kquant_order", rms_by_type[10] < rms_by_type[9] && rms_by_type[9] < rms_by_type[8] &&
                               rms_by_type[8] < rms_by_type[5] && rms_by_type[9] < rms_by_type[7],
           "q6_K < q5_K < q4_K < q4_1 and q5_K < q5_1 do not hold");
    free(x);
    free(y);
    free(q);
}

/* zero, constant and tiny blocks come back (near) exactly, never NaN */
static void test_special_blocks(void) {
    float x[256], y[256];
    uint8_t q[1024];
    int ok = 1;
    char why[160] = "";
    for (size_t k = 0; k < NT && ok; k++) {
        const quant_type_info *ti = quant_type_info_get(TYPES[k]);
        for (int c = 0; c < 3 && ti->can_dequant; c++) {
            float v = c == 0 ? 0.0f : c == 1 ? 0.75f : -3e-3f; /* tiny, but its scale still a normal f16 */
            for (int i = 0; i < 256; i++) x[i] = v;
            quant_quantize_row(TYPES[k], x, q, 256);
            quant_dequant_row(TYPES[k], q, y, 256);
            for (int i = 0; i < 256; i++)
                if (!isfinite(y[i]) || fabsf(y[i] - v) > fabsf(v) * 0.05f + 1e-7f) {
                    snprintf(why, sizeof why, "%s: constant %g comes back as %g", ti->name, v, y[i]);
                    ok = 0;
                    break;
                }
        }
    }
    report("constant_blocks", ok, why);
    report("unsupported_type", quant_quantize_row(QT_Q8_K, x, q, 256) == -1 && quant_quantize_row(QT_Q4_0, x, q, 33) == -1,
           "an unwritable type or a partial block was accepted");
}

static int write_file(const char *path, const float *x, latte_err *err) {
    gguf_writer *w = gguf_writer_init();
    int rc = w ? 0 : -1;
    const int32_t ints[3] = {-1, 0, 7};
    const float fl[2] = {0.5f, -2.0f};
    const char *strs[3] = {"a", "", "ĠHello"};
    if (!rc) rc = gguf_writer_add_str(w, "general.architecture", "test", err);
    if (!rc) rc = gguf_writer_add_u32(w, "test.u32", 4000000000u, err);
    if (!rc) rc = gguf_writer_add_i32(w, "test.i32", -5, err);
    if (!rc) rc = gguf_writer_add_u64(w, "test.u64", 1ull << 40, err);
    if (!rc) rc = gguf_writer_add_f32(w, "test.f32", 0.1f, err);
    if (!rc) rc = gguf_writer_add_bool(w, "test.bool", true, err);
    if (!rc) rc = gguf_writer_add_arr(w, "test.arr_i32", GGUF_TYPE_INT32, ints, 3, err);
    if (!rc) rc = gguf_writer_add_arr(w, "test.arr_f32", GGUF_TYPE_FLOAT32, fl, 2, err);
    if (!rc) rc = gguf_writer_add_arr_str(w, "test.arr_str", strs, 3, err);
    if (!rc) rc = gguf_writer_add_arr(w, "test.arr_empty", GGUF_TYPE_UINT8, NULL, 0, err);
    for (size_t k = 0; !rc && k < NT; k++) {
        int64_t ne[2] = {COLS, ROWS};
        rc = gguf_writer_add_tensor(w, quant_type_info_get(TYPES[k])->name, 2, ne, TYPES[k], err);
        rc = rc < 0 ? rc : 0;
    }
    int64_t ne1[1] = {3};
    if (!rc) rc = gguf_writer_add_tensor(w, "odd", 1, ne1, QT_F32, err) < 0 ? -1 : 0;
    if (!rc) rc = gguf_writer_begin(w, path, err);
    uint8_t *q = malloc((size_t)ROWS * COLS * 4);
    for (size_t k = 0; !rc && k < NT; k++) {
        size_t rb = quant_row_bytes(TYPES[k], COLS);
        for (int r = 0; r < ROWS; r++) quant_quantize_row(TYPES[k], x + (size_t)r * COLS, q + r * rb, COLS);
        /* the first tensor in pieces, the rest whole */
        if (k == 0) {
            for (int r = 0; !rc && r < ROWS; r++) rc = gguf_writer_write_data(w, q + r * rb, rb, err);
        } else {
            rc = gguf_writer_write_tensor(w, q, err);
        }
    }
    float odd[3] = {1, 2, 3};
    if (!rc) rc = gguf_writer_write_tensor(w, odd, err);
    if (!rc) rc = gguf_writer_finish(w, err);
    free(q);
    gguf_writer_free(w);
    return rc;
}

static void test_roundtrip(const char *path, const float *x) {
    latte_err err = {0};
    int rc = write_file(path, x, &err);
    report("write", rc == 0, err.msg);
    if (rc) return;
    gguf_file *gf = NULL;
    rc = gguf_open(&gf, path, &err);
    report("read_back", rc == 0 && gguf_check_data(gf, &err) == 0, err.msg);
    if (rc) return;
    uint32_t u32 = 0;
    int32_t i32 = 0;
    uint64_t u64 = 0;
    float f = 0;
    bool b = false;
    gguf_str s = {0};
    const gguf_kv *ai = NULL, *af = NULL, *as = NULL, *ae = NULL;
    int ok = !gguf_get_u32(gf, "test.u32", &u32, &err) && u32 == 4000000000u && !gguf_get_i32(gf, "test.i32", &i32, &err) &&
             i32 == -5 && !gguf_get_u64(gf, "test.u64", &u64, &err) && u64 == 1ull << 40 &&
             !gguf_get_f32(gf, "test.f32", &f, &err) && f == 0.1f && !gguf_get_bool(gf, "test.bool", &b, &err) && b &&
             !gguf_get_str(gf, "general.architecture", &s, &err) && gguf_str_eq(s, "test") &&
             !gguf_get_arr(gf, "test.arr_i32", GGUF_TYPE_INT32, &ai, &err) && ai->arr_n == 3 &&
             gguf_arr_i32(ai, 0) == -1 && gguf_arr_i32(ai, 2) == 7 &&
             !gguf_get_arr(gf, "test.arr_f32", GGUF_TYPE_FLOAT32, &af, &err) && gguf_arr_f32(af, 1) == -2.0f &&
             !gguf_get_arr(gf, "test.arr_str", GGUF_TYPE_STRING, &as, &err) && as->arr_n == 3 &&
             gguf_str_eq(as->arr_strs[1], "") && gguf_str_eq(as->arr_strs[2], "ĠHello") &&
             !gguf_get_arr(gf, "test.arr_empty", GGUF_TYPE_UINT8, &ae, &err) && ae->arr_n == 0 && gf->n_kv == 10;
    report("keys", ok, err.msg[0] ? err.msg : "a key came back different");
    ok = gf->n_tensors == NT + 1;
    char why[160] = "wrong tensor count";
    uint8_t *q = malloc((size_t)COLS * 4);
    for (size_t k = 0; ok && k < NT; k++) {
        const char *name = quant_type_info_get(TYPES[k])->name;
        const gguf_tensor *t = gguf_find_tensor(gf, name);
        size_t rb = quant_row_bytes(TYPES[k], COLS);
        if (!t || t->type != TYPES[k] || t->ne[0] != COLS || t->ne[1] != ROWS || t->n_bytes != rb * ROWS ||
            t->offset % 32) {
            snprintf(why, sizeof why, "tensor %s: wrong directory entry", name);
            ok = 0;
            break;
        }
        for (int r = 0; r < ROWS && ok; r++) {
            quant_quantize_row(TYPES[k], x + (size_t)r * COLS, q, COLS);
            if (memcmp(q, (const uint8_t *)t->data + r * rb, rb)) {
                snprintf(why, sizeof why, "tensor %s row %d: data differs", name, r);
                ok = 0;
            }
        }
    }
    const gguf_tensor *odd = gguf_find_tensor(gf, "odd");
    ok = ok && odd && odd->n_dims == 1 && ((const float *)odd->data)[2] == 3.0f;
    report("tensors", ok, why);
    free(q);
    gguf_free(gf);
}

static void test_errors(const char *dir) {
    latte_err err = {0};
    gguf_writer *w = gguf_writer_init();
    int64_t ne[2] = {32, 2}, bad[2] = {33, 1};
    report("dup_key", !gguf_writer_add_u32(w, "k", 1, &err) && gguf_writer_add_str(w, "k", "x", &err) == LATTE_E_ARG,
           "a duplicate key was accepted");
    report("dup_tensor", gguf_writer_add_tensor(w, "t", 2, ne, QT_Q8_0, &err) == 0 &&
                             gguf_writer_add_tensor(w, "t", 2, ne, QT_Q8_0, &err) == LATTE_E_ARG,
           "a duplicate tensor was accepted");
    report("partial_block", gguf_writer_add_tensor(w, "u", 2, bad, QT_Q8_0, &err) == LATTE_E_ARG,
           "a row that is not whole blocks was accepted");
    char path[512];
    snprintf(path, sizeof path, "%s/test_gguf_write_err.gguf", dir);
    uint8_t data[68 * 2] = {0};
    int rc = gguf_writer_begin(w, path, &err);
    int over = gguf_writer_write_data(w, data, 69, &err);
    int fin = gguf_writer_finish(w, &err);
    report("too_much_data", rc == 0 && over == LATTE_E_ARG, "writing past a tensor was accepted");
    report("unfinished", fin == LATTE_E_ARG, "finish accepted a tensor never written");
    gguf_writer_free(w);
    report("unfinished_removed", access(path, F_OK) != 0, "an unfinished file was left behind");
    gguf_writer *w2 = gguf_writer_init();
    report("bad_dir", gguf_writer_begin(w2, "/nonexistent-dir/x.gguf", &err) == LATTE_E_IO && strstr(err.msg, "nonexistent"),
           "an unwritable path was not a one-line I/O error");
    gguf_writer_free(w2);
}

int main(int argc, char **argv) {
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[512];
    if (argc > 1) snprintf(path, sizeof path, "%s", argv[1]);
    else snprintf(path, sizeof path, "%s/test_gguf_write_%d.gguf", tmp, (int)getpid());
    float *x = malloc(sizeof(float) * ROWS * COLS);
    make_rows(x);
    test_roundtrip(path, x);
    if (argc <= 1) unlink(path);
    test_error_bounds();
    test_special_blocks();
    test_errors(tmp);
    free(x);
    return n_fail ? 1 : 0;
}
