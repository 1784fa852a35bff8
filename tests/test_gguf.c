/* test_gguf.c: the GGUF reader on the shared fixtures (counts and values read beforehand
 * with the python gguf package) and on malformed files built in memory by a small writer
 * below: truncations, hostile counts and lengths, bad types, shapes, offsets, alignment,
 * duplicates, overlaps, versions. Every bad file must give a nonzero code and a message;
 * the sanitizer build shows that none reads out of bounds. Prints PASS/FAIL per case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "quant/quant.h"

static int n_fail;

static void report(const char *name, int ok, const char *why) {
    if (ok) printf("PASS %s\n", name);
    else {
        printf("FAIL %s: %s\n", name, why);
        n_fail++;
    }
}

/* ---- a tiny GGUF writer ---- */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void u32(buf *b, uint32_t v) { uint8_t x[4]; for (int i = 0; i < 4; i++) x[i] = (uint8_t)(v >> 8 * i); put(b, x, 4); }
static void u64(buf *b, uint64_t v) { uint8_t x[8]; for (int i = 0; i < 8; i++) x[i] = (uint8_t)(v >> 8 * i); put(b, x, 8); }
static void str(buf *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void kv_u32(buf *b, const char *k, uint32_t v) { str(b, k); u32(b, GGUF_TYPE_UINT32); u32(b, v); }
static void kv_str(buf *b, const char *k, const char *v) { str(b, k); u32(b, GGUF_TYPE_STRING); str(b, v); }
static void header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, n_tensors);
    u64(b, n_kv);
}
static void tinfo(buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    str(b, name);
    u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) u64(b, ne[i]);
    u32(b, type);
    u64(b, off);
}
/* pads to align and appends n data bytes */
static void data(buf *b, size_t align, size_t n) {
    while (b->n % align) put(b, "", 1);
    for (size_t i = 0; i < n; i++) put(b, "\x5a", 1);
}

/* a valid file: 3 keys (one of them an array of strings), tensors "a" f32 {8,2} at 0 and
 * "b" q8_0 {32} at 64; the caller may append more before finishing with data() */
static void base(buf *b, uint32_t version) {
    header(b, version, 2, 3);
    kv_str(b, "general.architecture", "test");
    kv_u32(b, "general.alignment", 32);
    str(b, "tok.list");
    u32(b, GGUF_TYPE_ARRAY);
    u32(b, GGUF_TYPE_STRING);
    u64(b, 2);
    str(b, "x");
    str(b, "yz");
    tinfo(b, "a", 2, (uint64_t[]){8, 2}, QT_F32, 0);
    tinfo(b, "b", 1, (uint64_t[]){32}, QT_Q8_0, 64);
    data(b, 32, 64 + 34);
}

/* opens b; returns the code (and closes); *msg gets the message */
static int try_open(const buf *b, latte_err *e) {
    gguf_file *gf = NULL;
    memset(e, 0, sizeof *e);
    /* an exact-size copy so that the sanitizer sees any read past the end */
    uint8_t *copy = malloc(b->n ? b->n : 1);
    memcpy(copy, b->p, b->n);
    int rc = gguf_open_memory(&gf, copy, b->n, e);
    if (rc == 0) {
        rc = gguf_check_data(gf, e);
        gguf_free(gf);
    } else if (gf) {
        rc = 1000; /* out must stay NULL on failure */
    }
    free(copy);
    return rc;
}

/* expects a failure with a message (containing want, when given) */
static void expect_fail(const char *name, buf *b, int code, const char *want) {
    latte_err e;
    int rc = try_open(b, &e);
    char why[700];
    snprintf(why, sizeof why, "rc %d (want %d), message '%s' (want '%s')", rc, code, e.msg, want ? want : "");
    int ok = rc < 0 && e.code == rc && e.msg[0] && !strchr(e.msg, '\n') && (code == 0 || rc == code) &&
             (!want || strstr(e.msg, want));
    report(name, ok, why);
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- fixtures ---- */
static char shared_dir[1024];

static void find_shared(void) {
    const char *s = getenv("LATTE_SHARED"), *root = getenv("LATTE_ROOT");
    if (s) snprintf(shared_dir, sizeof shared_dir, "%s", s);
    else snprintf(shared_dir, sizeof shared_dir, "%s/../shared", root ? root : ".");
}

typedef struct fixture {
    const char *file, *arch;
    uint64_t n_kv, n_tensors, data_offset;
    uint32_t block_count, n_tokens;
    float freq_base;
    const char *tok0;
} fixture;

static const fixture fixtures[] = {
    {"ds2lite-tiny-mainline.gguf", "deepseek2", 43, 44, 32800, 3, 1024, 10000.0f, "<｜begin▁of▁sentence｜>"},
    {"ds2lite-tiny.gguf", "deepseek2", 41, 47, 32832, 3, 1024, 10000.0f, "<｜begin▁of▁sentence｜>"},
    {"ds3-nogroup.gguf", "deepseek2", 42, 55, 33344, 3, 1024, 10000.0f, "<｜begin▁of▁sentence｜>"},
    {"ds3-tiny-kvb.gguf", "deepseek2", 44, 49, 33088, 3, 1024, 10000.0f, "<｜begin▁of▁sentence｜>"},
    {"ds3-tiny.gguf", "deepseek2", 44, 55, 33440, 3, 1024, 10000.0f, "<｜begin▁of▁sentence｜>"},
    {"qwen2-tiny.gguf", "qwen2", 23, 27, 32224, 2, 1024, 1000000.0f, "!"},
    {"vocab-deepseek_v3.gguf", "deepseek2", 37, 0, 5235936, 1, 129280, 10000.0f, "<｜begin▁of▁sentence｜>"},
    {"vocab-qwen3.gguf", "qwen2", 23, 0, 5932672, 1, 151936, 10000.0f, "!"},
};

static void test_fixture(const fixture *f) {
    char path[1200], key[128], why[700] = "", name[160];
    snprintf(path, sizeof path, "%s/fixtures/%s", shared_dir, f->file);
    snprintf(name, sizeof name, "fixture_%s", f->file);
    gguf_file *gf;
    latte_err e = {0};
    if (access(path, R_OK) != 0) {
        printf("SKIP %s: %s not found (set LATTE_SHARED)\n", name, path);
        return;
    }
    int rc = gguf_open(&gf, path, &e);
    if (rc) {
        report(name, 0, e.msg);
        return;
    }
    gguf_str arch = {0};
    uint32_t blocks = 0;
    float fb = 0;
    const gguf_kv *toks = NULL;
    int ok = 1;
    ok &= gf->version == 3 && gf->n_kv == f->n_kv && gf->n_tensors == f->n_tensors && gf->alignment == 32 &&
          gf->data_offset == f->data_offset && gguf_check_data(gf, &e) == 0;
    if (!ok) snprintf(why, sizeof why, "counts: kv %llu tensors %llu data at %llu", (unsigned long long)gf->n_kv,
                      (unsigned long long)gf->n_tensors, (unsigned long long)gf->data_offset);
    ok &= gguf_get_str(gf, "general.architecture", &arch, &e) == 0 && gguf_str_eq(arch, f->arch);
    snprintf(key, sizeof key, "%s.block_count", f->arch);
    ok &= gguf_get_u32(gf, key, &blocks, &e) == 0 && blocks == f->block_count;
    snprintf(key, sizeof key, "%s.rope.freq_base", f->arch);
    ok &= gguf_get_f32(gf, key, &fb, &e) == 0 && fb == f->freq_base;
    ok &= gguf_get_arr(gf, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &toks, &e) == 0 &&
          toks->arr_n == f->n_tokens && gguf_str_eq(toks->arr_strs[0], f->tok0);
    if (!ok && !why[0]) snprintf(why, sizeof why, "a known key has the wrong value: %s", e.msg);
    report(name, ok, why);
    gguf_free(gf);
}

/* deeper checks on ds3-tiny: tensor directory, data, arrays and getter errors */
static void test_ds3_details(void) {
    char path[1200];
    snprintf(path, sizeof path, "%s/fixtures/ds3-tiny.gguf", shared_dir);
    gguf_file *gf;
    latte_err e = {0};
    if (gguf_open(&gf, path, &e)) {
        printf("SKIP ds3_details: %s\n", e.msg);
        return;
    }
    const gguf_tensor *out = gguf_find_tensor(gf, "output.weight");
    const gguf_tensor *norm = gguf_find_tensor(gf, "output_norm.weight");
    const gguf_tensor *exps = gguf_find_tensor(gf, "blk.1.ffn_gate_exps.weight");
    report("ds3_tensors", out && norm && exps && out->type == QT_BF16 && out->ne[0] == 256 && out->ne[1] == 1024 &&
                              out->n_dims == 2 && out->offset == 33440 && out->n_bytes == 524288 &&
                              norm->type == QT_F32 && norm->n_dims == 1 && norm->ne[1] == 1 &&
                              norm->offset == 14006560 && norm->n_bytes == 1024 && exps->n_dims == 3 &&
                              exps->ne[0] == 256 && exps->ne[1] == 64 && exps->ne[2] == 16 && exps->n_elems == 262144 &&
                              !gguf_find_tensor(gf, "output.weigh") && !gguf_find_tensor(gf, "output.weightx"),
           "tensor directory values differ from gguf-py's");
    float v[3] = {0};
    if (norm && norm->data) memcpy(v, norm->data, sizeof v);
    report("ds3_data", norm && norm->data == (const uint8_t *)gf->map + norm->offset && v[0] == 0.98046875f &&
                           v[1] == 1.1328125f && v[2] == 1.0625f,
           "output_norm.weight data differs from gguf-py's");
    const gguf_kv *tt = NULL;
    uint32_t u = 0, bos = 99;
    int32_t i = 0;
    float f = 0;
    bool bl;
    gguf_str s;
    uint64_t u6;
    int ok = gguf_get_arr(gf, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, &tt, &e) == 0 && tt->arr_n == 1024 &&
             gguf_arr_i32(tt, 0) == 3 && gguf_arr_i32(tt, 2) == 3 &&
             gguf_get_u32(gf, "deepseek2.expert_gating_func", &u, &e) == 0 && u == 2 &&
             gguf_get_u32(gf, "tokenizer.ggml.bos_token_id", &bos, &e) == 0 && bos == 0 &&
             gguf_get_i32(gf, "deepseek2.expert_group_count", &i, &e) == 0 && i == 4 &&
             gguf_get_u64(gf, "deepseek2.expert_group_count", &u6, &e) == 0 && u6 == 4 &&
             gguf_get_f32(gf, "deepseek2.rope.scaling.yarn_log_multiplier", &f, &e) == 0 && f == 0.1f &&
             gguf_get_f32(gf, "deepseek2.expert_group_count", &f, &e) == 0 && f == 4.0f;
    report("ds3_getters", ok, e.msg);
    ok = gguf_get_u32(gf, "no.such.key", &u, &e) == LATTE_E_MISSING && strstr(e.msg, "no.such.key") &&
         gguf_get_str(gf, "deepseek2.block_count", &s, &e) == LATTE_E_FORMAT && strstr(e.msg, "block_count") &&
         gguf_get_u32(gf, "general.architecture", &u, &e) == LATTE_E_FORMAT &&
         gguf_get_bool(gf, "deepseek2.block_count", &bl, &e) == LATTE_E_FORMAT &&
         gguf_get_f32(gf, "general.architecture", &f, &e) == LATTE_E_FORMAT &&
         gguf_get_arr(gf, "tokenizer.ggml.token_type", GGUF_TYPE_UINT32, &tt, &e) == LATTE_E_FORMAT &&
         gguf_get_arr(gf, "deepseek2.block_count", GGUF_TYPE_UINT32, &tt, &e) == LATTE_E_FORMAT;
    report("ds3_getter_errors", ok, "a wrong-type or missing key was accepted");
    gguf_free(gf);
}

/* every truncation of qwen2-tiny's header and directory must fail cleanly; truncating
 * only data must still open and gguf_check_data must say LATTE_E_DATA */
static void test_truncation(void) {
    char path[1200];
    snprintf(path, sizeof path, "%s/fixtures/qwen2-tiny.gguf", shared_dir);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("SKIP truncation: %s not found\n", path);
        return;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *all = malloc((size_t)size);
    size_t got = fread(all, 1, (size_t)size, f);
    fclose(f);
    const size_t data_off = 32224; /* gguf-py's data_offset */
    char why[800] = "";
    int ok = got == (size_t)size;
    for (size_t len = 0; len < data_off && ok; len++) {
        buf b = {all, len, len};
        latte_err e;
        int rc = try_open(&b, &e);
        /* the directory ends somewhere in the last alignment unit before the data */
        bool in_dir = len + 32 <= data_off;
        if (!(rc < 0 && e.msg[0]) || (in_dir && rc == LATTE_E_DATA)) {
            snprintf(why, sizeof why, "truncated to %zu bytes: rc %d '%s'", len, rc, e.msg);
            ok = 0;
        }
    }
    report("truncate_directory_every_byte", ok, why);
    const size_t lens[] = {data_off, data_off + 1, data_off + 5000, (size_t)size / 2, (size_t)size - 1};
    ok = 1;
    for (size_t i = 0; i < sizeof lens / sizeof lens[0] && ok; i++) {
        gguf_file *gf = NULL;
        latte_err e = {0};
        uint8_t *copy = malloc(lens[i]);
        memcpy(copy, all, lens[i]);
        int rc = gguf_open_memory(&gf, copy, lens[i], &e);
        int rc2 = rc ? 0 : gguf_check_data(gf, &e);
        char want[200];
        snprintf(want, sizeof want, "but the file has %zu bytes (the directory needs %ld)", lens[i], size);
        if (rc || rc2 != LATTE_E_DATA || !strstr(e.msg, want) || !strstr(e.msg, "data ends at byte")) {
            snprintf(why, sizeof why, "truncated to %zu bytes: open %d, check %d '%s'", lens[i], rc, rc2, e.msg);
            ok = 0;
        }
        if (!rc && gf->data_needed != (uint64_t)size) ok = 0;
        gguf_free(gf);
        free(copy);
    }
    report("truncate_data", ok, why);
    free(all);
}

static void test_files(void) {
    gguf_file *gf = NULL;
    latte_err e = {0};
    char tmpl[] = "/tmp/latte_gguf_XXXXXX";
    int fd = mkstemp(tmpl);
    report("open_empty", fd >= 0 && gguf_open(&gf, tmpl, &e) < 0 && !gf && strstr(e.msg, "empty"), e.msg);
    if (fd >= 0) {
        close(fd);
        unlink(tmpl);
    }
    report("open_missing", gguf_open(&gf, "/nonexistent/x.gguf", &e) == LATTE_E_IO && strstr(e.msg, "x.gguf"), e.msg);
    report("open_directory", gguf_open(&gf, "/tmp", &e) < 0 && strstr(e.msg, "directory"), e.msg);
}

static void test_valid_builds(void) {
    buf b = {0};
    latte_err e;
    base(&b, 3);
    int rc = try_open(&b, &e);
    gguf_file *gf = NULL;
    int ok = rc == 0 && gguf_open_memory(&gf, b.p, b.n, &e) == 0 && gf->n_kv == 3 && gf->n_tensors == 2 &&
             gf->data_offset % 32 == 0 && gguf_find_tensor(gf, "b")->offset == gf->data_offset + 64 &&
             gguf_find_tensor(gf, "b")->n_bytes == 34 && gguf_find_kv(gf, "tok.list")->arr_n == 2 &&
             gguf_str_eq(gguf_find_kv(gf, "tok.list")->arr_strs[1], "yz");
    report("built_v3_opens", ok, e.msg);
    gguf_free(gf);
    free(b.p);
    memset(&b, 0, sizeof b);
    base(&b, 2);
    report("built_v2_opens", try_open(&b, &e) == 0, e.msg);
    free(b.p);
    memset(&b, 0, sizeof b);
    /* signed/unsigned getters */
    header(&b, 3, 0, 3);
    str(&b, "neg");
    u32(&b, GGUF_TYPE_INT32);
    u32(&b, (uint32_t)-5);
    str(&b, "big");
    u32(&b, GGUF_TYPE_UINT64);
    u64(&b, 1ULL << 40);
    str(&b, "flag");
    u32(&b, GGUF_TYPE_BOOL);
    put(&b, "\x01", 1);
    gf = NULL;
    int32_t i = 0;
    uint32_t u;
    uint64_t u6 = 0;
    bool fl = false;
    ok = gguf_open_memory(&gf, b.p, b.n, &e) == 0 && gguf_get_i32(gf, "neg", &i, &e) == 0 && i == -5 &&
         gguf_get_u32(gf, "neg", &u, &e) == LATTE_E_FORMAT && gguf_get_u32(gf, "big", &u, &e) == LATTE_E_FORMAT &&
         gguf_get_i32(gf, "big", &i, &e) == LATTE_E_FORMAT && gguf_get_u64(gf, "big", &u6, &e) == 0 &&
         u6 == 1ULL << 40 && gguf_get_bool(gf, "flag", &fl, &e) == 0 && fl && gguf_check_data(gf, &e) == 0;
    report("built_getter_ranges", ok, e.msg);
    gguf_free(gf);
    free(b.p);
}

static void test_malformed(void) {
    buf b = {0};
    const uint64_t H63 = 1ULL << 63, MAX = UINT64_MAX;
    /* header */
    put(&b, "GGUX", 4); u32(&b, 3); u64(&b, 0); u64(&b, 0);
    expect_fail("bad_magic", &b, LATTE_E_FORMAT, "magic");
    base(&b, 1);
    expect_fail("version_1", &b, 0, "version 1");
    base(&b, 4);
    expect_fail("version_4", &b, 0, "version 4");
    base(&b, 0x03000000);
    expect_fail("big_endian", &b, 0, "big-endian");
    put(&b, "GGUF", 4); u32(&b, 3); u32(&b, 0);
    expect_fail("header_short", &b, LATTE_E_FORMAT, "offset 8");
    /* counts */
    header(&b, 3, 0, H63); kv_u32(&b, "a", 1);
    expect_fail("n_kv_2^63", &b, LATTE_E_FORMAT, "metadata count");
    header(&b, 3, 0, MAX); kv_u32(&b, "a", 1);
    expect_fail("n_kv_2^64-1", &b, LATTE_E_FORMAT, "metadata count");
    header(&b, 3, H63, 0); tinfo(&b, "a", 1, (uint64_t[]){4}, 0, 0);
    expect_fail("n_tensors_2^63", &b, LATTE_E_FORMAT, "tensor count");
    header(&b, 3, MAX, 0); tinfo(&b, "a", 1, (uint64_t[]){4}, 0, 0);
    expect_fail("n_tensors_2^64-1", &b, LATTE_E_FORMAT, "tensor count");
    header(&b, 3, 0, 2); kv_u32(&b, "a", 1);
    expect_fail("n_kv_one_more", &b, LATTE_E_FORMAT, NULL);
    /* string lengths */
    header(&b, 3, 0, 1); u64(&b, H63); put(&b, "key", 3); u32(&b, 4); u32(&b, 1);
    expect_fail("key_len_2^63", &b, LATTE_E_FORMAT, "length 9223372036854775808");
    header(&b, 3, 0, 1); u64(&b, MAX); put(&b, "key", 3); u32(&b, 4); u32(&b, 1);
    expect_fail("key_len_2^64-1", &b, LATTE_E_FORMAT, "length");
    header(&b, 3, 0, 1); str(&b, "k"); u32(&b, GGUF_TYPE_STRING); u64(&b, MAX - 7); put(&b, "abc", 3);
    expect_fail("value_len_2^64-8", &b, LATTE_E_FORMAT, "'k'");
    header(&b, 3, 1, 0); u64(&b, H63); put(&b, "t", 1); u32(&b, 1); u64(&b, 4); u32(&b, 0); u64(&b, 0);
    expect_fail("tensor_name_len_2^63", &b, LATTE_E_FORMAT, "tensor name");
    /* arrays */
    const uint32_t arr_types[] = {GGUF_TYPE_UINT8, GGUF_TYPE_UINT64, GGUF_TYPE_STRING};
    const uint64_t arr_counts[] = {H63, MAX, (1ULL << 61) + 1};
    for (int t = 0; t < 3; t++)
        for (int c = 0; c < 3; c++) {
            char name[64];
            snprintf(name, sizeof name, "array_%s_count_%d", gguf_type_name((gguf_type)arr_types[t]), c);
            header(&b, 3, 0, 1); str(&b, "arr"); u32(&b, GGUF_TYPE_ARRAY); u32(&b, arr_types[t]);
            u64(&b, arr_counts[c]); u64(&b, 1); u64(&b, 1);
            expect_fail(name, &b, LATTE_E_FORMAT, "'arr'");
        }
    header(&b, 3, 0, 1); str(&b, "arr"); u32(&b, GGUF_TYPE_ARRAY); u32(&b, GGUF_TYPE_STRING); u64(&b, 2);
    str(&b, "ok"); u64(&b, 100); put(&b, "short", 5);
    expect_fail("array_string_truncated", &b, LATTE_E_FORMAT, "'arr'");
    header(&b, 3, 0, 1); str(&b, "nest"); u32(&b, GGUF_TYPE_ARRAY); u32(&b, GGUF_TYPE_ARRAY); u64(&b, 1);
    u32(&b, GGUF_TYPE_UINT8); u64(&b, 1); put(&b, "x", 1);
    expect_fail("nested_array", &b, LATTE_E_FORMAT, "nested");
    header(&b, 3, 0, 1); str(&b, "arr"); u32(&b, GGUF_TYPE_ARRAY); u32(&b, 13); u64(&b, 1); u64(&b, 0);
    expect_fail("array_unknown_type", &b, LATTE_E_FORMAT, "unknown array element type 13");
    /* value types */
    header(&b, 3, 0, 1); str(&b, "weird"); u32(&b, 13); u64(&b, 0);
    expect_fail("value_type_13", &b, LATTE_E_FORMAT, "unknown value type 13");
    header(&b, 3, 0, 1); str(&b, "weird"); u32(&b, 0xffffffffu); u64(&b, 0);
    expect_fail("value_type_ffffffff", &b, LATTE_E_FORMAT, "'weird'");
    /* alignment */
    header(&b, 3, 0, 1); kv_u32(&b, "general.alignment", 0);
    expect_fail("alignment_0", &b, LATTE_E_FORMAT, "power of two");
    header(&b, 3, 0, 1); kv_u32(&b, "general.alignment", 3);
    expect_fail("alignment_3", &b, LATTE_E_FORMAT, "power of two");
    header(&b, 3, 0, 1); kv_str(&b, "general.alignment", "32");
    expect_fail("alignment_string", &b, LATTE_E_FORMAT, "general.alignment");
    header(&b, 3, 0, 1); str(&b, "general.alignment"); u32(&b, GGUF_TYPE_UINT64); u64(&b, 32);
    expect_fail("alignment_u64", &b, LATTE_E_FORMAT, "general.alignment");
    /* duplicates */
    header(&b, 3, 0, 2); kv_u32(&b, "k.x", 1); kv_u32(&b, "k.x", 2);
    expect_fail("duplicate_key", &b, LATTE_E_FORMAT, "'k.x'");
    header(&b, 3, 2, 0); tinfo(&b, "t", 1, (uint64_t[]){8}, 0, 0); tinfo(&b, "t", 1, (uint64_t[]){8}, 0, 32);
    data(&b, 32, 64);
    expect_fail("duplicate_tensor", &b, LATTE_E_FORMAT, "'t'");
    /* shapes and types */
    header(&b, 3, 1, 0); tinfo(&b, "t0", 0, NULL, 0, 0); data(&b, 32, 64);
    expect_fail("n_dims_0", &b, LATTE_E_FORMAT, "'t0'");
    header(&b, 3, 1, 0); tinfo(&b, "t5", 5, (uint64_t[]){1, 1, 1, 1, 1}, 0, 0); data(&b, 32, 64);
    expect_fail("n_dims_5", &b, LATTE_E_FORMAT, "5 dimensions");
    header(&b, 3, 1, 0); tinfo(&b, "z", 2, (uint64_t[]){4, 0}, 0, 0); data(&b, 32, 64);
    expect_fail("dim_0", &b, LATTE_E_FORMAT, "'z'");
    header(&b, 3, 1, 0); tinfo(&b, "ov", 3, (uint64_t[]){1ULL << 32, 1ULL << 32, 1ULL << 32}, 0, 0); data(&b, 32, 64);
    expect_fail("dims_product_overflow", &b, LATTE_E_FORMAT, "'ov'");
    header(&b, 3, 1, 0); tinfo(&b, "ov", 2, (uint64_t[]){1ULL << 31, 1ULL << 31}, 0, 0); data(&b, 32, 64);
    expect_fail("dims_product_2^62", &b, LATTE_E_FORMAT, "'ov'");
    header(&b, 3, 1, 0); tinfo(&b, "big", 1, (uint64_t[]){MAX}, 0, 0); data(&b, 32, 64);
    expect_fail("dim_2^64-1", &b, LATTE_E_FORMAT, "'big'");
    header(&b, 3, 1, 0); tinfo(&b, "blk.0.q", 1, (uint64_t[]){32}, 4, 0); data(&b, 32, 64);
    expect_fail("tensor_type_4", &b, LATTE_E_UNSUPPORTED, "'blk.0.q' has unknown type id 4");
    header(&b, 3, 1, 0); tinfo(&b, "blk.0.q", 1, (uint64_t[]){32}, 0xdeadbeef, 0); data(&b, 32, 64);
    expect_fail("tensor_type_huge", &b, LATTE_E_UNSUPPORTED, "3735928559");
    header(&b, 3, 1, 0); tinfo(&b, "q", 1, (uint64_t[]){33}, QT_Q8_0, 0); data(&b, 32, 64);
    expect_fail("ne0_not_block_multiple", &b, LATTE_E_FORMAT, "block size");
    /* offsets */
    header(&b, 3, 1, 0); tinfo(&b, "m", 1, (uint64_t[]){8}, 0, 4); data(&b, 32, 64);
    expect_fail("offset_misaligned", &b, LATTE_E_FORMAT, "alignment");
    header(&b, 3, 1, 0); tinfo(&b, "w", 1, (uint64_t[]){8}, 0, MAX - 31); data(&b, 32, 64);
    expect_fail("offset_size_wraps", &b, LATTE_E_FORMAT, "'w'");
    header(&b, 3, 1, 0); tinfo(&b, "w", 1, (uint64_t[]){1ULL << 40}, 0, 1ULL << 62); data(&b, 32, 64);
    expect_fail("offset_end_2^62", &b, LATTE_E_FORMAT, "'w'");
    header(&b, 3, 1, 0); tinfo(&b, "far", 1, (uint64_t[]){8}, 0, 1ULL << 40); data(&b, 32, 64);
    expect_fail("offset_past_end", &b, LATTE_E_DATA, "'far' data ends at byte");
    header(&b, 3, 2, 0); tinfo(&b, "x", 1, (uint64_t[]){16}, 0, 0); tinfo(&b, "y", 1, (uint64_t[]){8}, 0, 32);
    data(&b, 32, 128);
    expect_fail("overlap", &b, LATTE_E_FORMAT, "overlap");
    header(&b, 3, 2, 0); tinfo(&b, "x", 1, (uint64_t[]){8}, 0, 0); tinfo(&b, "y", 1, (uint64_t[]){8}, 0, 0);
    data(&b, 32, 128);
    expect_fail("overlap_same_offset", &b, LATTE_E_FORMAT, "overlap");
    /* memory API edge */
    latte_err e = {0};
    gguf_file *gf = (gguf_file *)&e;
    report("memory_empty", gguf_open_memory(&gf, NULL, 0, &e) < 0 && gf == NULL && e.msg[0], e.msg);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    find_shared();
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) test_fixture(&fixtures[i]);
    test_ds3_details();
    test_files();
    test_valid_builds();
    test_malformed();
    test_truncation();
    return n_fail ? 1 : 0;
}
