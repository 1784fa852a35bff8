/* test_batch.c: several sequences in one batch through the public API, on every fixture
 * model, MLA mode, FA on/off, cache type and 1 or 2 threads. Each sequence's logits must
 * equal those of decoding it alone in a context of its own (rel L2 < 1e-5):
 *   1. three sequences of different lengths in one batch (micro-batches of 4 split runs);
 *   2. a mixed batch: one sequence still in its prompt, two decoding one token each;
 *   3. a sequence truncated, then decoded again from there;
 *   4. a sequence's prefix copied to another sequence, then decoded on from the copy.
 * Also: bad batches (wrong position, rows of one sequence apart, unknown sequence, past the
 * context) are refused whole, with the sequences left as they were.
 * Two passes. With the reference kernels (LATTE_CPU_ISA=ref), which sum in the same order
 * whatever the row count, batching must not change a bit, and the bound is 1e-5 as the
 * engine-v2 issue asks. With the SIMD kernels the matmul picks other kernels by row count
 * (1, 2, 3-23, 24+ rows), so the batch composition moves the low bits, and the random
 * fixtures amplify that (measured up to 2.2e-5 on ds3-tiny, 1.8e-3 with a q4_0 cache whose
 * rounding steps the low bits can cross): there the bound is 1e-2, which still catches any
 * mix-up of rows, positions or cache regions (those move logits by >10%).
 * Prints PASS/FAIL per configuration (SKIP where a cache type does not fit the model). */
#include <latte.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_fail;
static double bound = 1e-2;

#define NSEQ 3
#define NTOK 16 /* tokens per sequence, alone */
static const int LEN1[NSEQ] = {10, 7, 3};  /* step 1: prompt lengths */
static const int LEN2[NSEQ] = {3, 1, 1};   /* step 2: A finishes its prompt, B and C decode one */

typedef struct cfg {
    const char *model;
    int mla, fa, threads, type;
    const char *type_name;
} cfg;

static double rel_l2(const float *a, const float *b, int n) {
    double num = 0, den = 0;
    for (int i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

static latte_ctx *make_ctx(latte_model *m, const cfg *c, int n_seq, int n_ctx, int ub, latte_err *err) {
    latte_ctx_params p = latte_ctx_default_params();
    p.n_ctx = n_ctx, p.n_seq = n_seq, p.n_ubatch = ub, p.n_batch = 512, p.n_threads = c->threads;
    p.mla = c->mla, p.flash_attn = c->fa, p.type_k = c->type, p.type_v = c->type;
    latte_ctx *ctx = NULL;
    return latte_ctx_init(&ctx, m, &p, err) ? NULL : ctx;
}

/* worst rel L2 of batch rows [row0, row0+n) against the alone logits of seq s at [pos0, ...) */
static double compare(latte_ctx *ctx, int row0, int n, float *alone, int s, int pos0, int V) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const float *got = latte_ctx_logits_ith(ctx, row0 + i);
        if (!got) return INFINITY;
        double e = rel_l2(got, alone + ((size_t)s * NTOK + pos0 + i) * V, V);
        worst = e > worst ? e : worst;
    }
    return worst;
}

static void add_run(latte_batch *b, const int32_t *toks, int s, int from, int n) {
    for (int i = 0; i < n; i++) latte_batch_add(b, toks[s * NTOK + from + i], from + i, s, true);
}

/* returns a description of the first failure, or NULL */
static const char *run_cfg(latte_model *m, const cfg *c, const int32_t *toks, float *alone, int V, double *worst,
                           char *why, size_t why_n) {
    latte_err err = {0};
    latte_ctx *ctx;
    /* references: every sequence alone, in one batch */
    for (int s = 0; s < NSEQ; s++) {
        if (!(ctx = make_ctx(m, c, 1, 64, 512, &err))) return snprintf(why, why_n, "alone: %s", err.msg), why;
        int rc = latte_decode(ctx, toks + s * NTOK, NTOK, true, &err);
        for (int i = 0; !rc && i < NTOK; i++) memcpy(alone + ((size_t)s * NTOK + i) * V, latte_ctx_logits(ctx, i), sizeof(float) * V);
        latte_ctx_free(ctx);
        if (rc) return snprintf(why, why_n, "alone: %s", err.msg), why;
    }
    /* four sequences of 32 positions each, micro-batches of 4 tokens */
    if (!(ctx = make_ctx(m, c, NSEQ + 1, 4 * 32, 4, &err))) return snprintf(why, why_n, "batched: %s", err.msg), why;
    latte_batch b;
    latte_batch_init(&b, 64, &err);
    double e = 0;
    const char *fail = NULL;
    /* 1: three prompts in one batch */
    b.n_tokens = 0;
    for (int s = 0; s < NSEQ; s++) add_run(&b, toks, s, 0, LEN1[s]);
    if (latte_decode_batch(ctx, &b, &err)) { fail = "step 1"; goto out; }
    for (int s = 0, row = 0; s < NSEQ; row += LEN1[s], s++) e = fmax(e, compare(ctx, row, LEN1[s], alone, s, 0, V));
    if (e >= bound) { fail = "step 1 logits"; goto out; }
    /* 2: mixed: A's prompt goes on, B and C decode one token each */
    b.n_tokens = 0;
    for (int s = 0; s < NSEQ; s++) add_run(&b, toks, s, LEN1[s], LEN2[s]);
    if (latte_decode_batch(ctx, &b, &err)) { fail = "step 2"; goto out; }
    for (int s = 0, row = 0; s < NSEQ; row += LEN2[s], s++) e = fmax(e, compare(ctx, row, LEN2[s], alone, s, LEN1[s], V));
    if (e >= bound) { fail = "step 2 logits"; goto out; }
    /* bad batches change nothing */
    int len_a = latte_seq_len(ctx, 0);
    b.n_tokens = 0;
    latte_batch_add(&b, toks[13], len_a + 1, 0, true); /* skips a position */
    int r1 = latte_decode_batch(ctx, &b, &err);
    b.n_tokens = 0;
    add_run(&b, toks, 1, 8, 1), add_run(&b, toks, 2, 4, 1), latte_batch_add(&b, toks[1 * NTOK + 9], 9, 1, true);
    int r2 = latte_decode_batch(ctx, &b, &err); /* B's rows apart */
    b.n_tokens = 0;
    latte_batch_add(&b, toks[0], 0, NSEQ + 1, true);
    int r3 = latte_decode_batch(ctx, &b, &err); /* no such sequence */
    b.n_tokens = 0;
    for (int i = 0; i < 32; i++) latte_batch_add(&b, toks[i % NTOK], LEN1[2] + LEN2[2] + i, 2, false);
    int r4 = latte_decode_batch(ctx, &b, &err); /* C past its 32 positions */
    if (r1 != LATTE_E_ARG || r2 != LATTE_E_ARG || r3 != LATTE_E_ARG || r4 != LATTE_E_CTX || latte_seq_len(ctx, 0) != len_a ||
        latte_seq_len(ctx, 1) != LEN1[1] + LEN2[1] || latte_seq_len(ctx, 2) != LEN1[2] + LEN2[2]) {
        snprintf(why, why_n, "bad batches: codes %d %d %d %d, lengths %d %d %d", r1, r2, r3, r4, latte_seq_len(ctx, 0),
                 latte_seq_len(ctx, 1), latte_seq_len(ctx, 2));
        fail = why;
        goto out;
    }
    /* 3: truncate A to 5 and decode its tokens 5.. again */
    if (latte_seq_truncate(ctx, 0, 5, &err)) { fail = "truncate"; goto out; }
    b.n_tokens = 0;
    add_run(&b, toks, 0, 5, NTOK - 5);
    if (latte_decode_batch(ctx, &b, &err)) { fail = "step 3"; goto out; }
    e = fmax(e, compare(ctx, 0, NTOK - 5, alone, 0, 5, V));
    if (e >= bound) { fail = "step 3 logits"; goto out; }
    /* 4: A's first 8 positions copied to the spare sequence, decoded on from there */
    if (latte_seq_copy(ctx, 0, NSEQ, 8, &err) || latte_seq_len(ctx, NSEQ) != 8) { fail = "copy"; goto out; }
    b.n_tokens = 0;
    for (int i = 8; i < NTOK; i++) latte_batch_add(&b, toks[i], i, NSEQ, true);
    if (latte_decode_batch(ctx, &b, &err)) { fail = "step 4"; goto out; }
    e = fmax(e, compare(ctx, 0, NTOK - 8, alone, 0, 8, V));
    if (e >= bound) fail = "step 4 logits";
out:
    *worst = e;
    if (fail && fail != why) snprintf(why, why_n, "%s: %s (rel L2 %.2e)", fail, err.msg, e);
    latte_batch_free(&b);
    latte_ctx_free(ctx);
    return fail ? why : NULL;
}

static void run_all(const char *fix, const char *pass, int types_n, int th_lo) {
    static const char *models[] = {"ds2lite-tiny", "ds2lite-tiny-mainline", "ds3-tiny", "ds3-tiny-kvb", "ds3-nogroup",
                                   "qwen2-tiny"};
    static const struct { const char *name; int id; } types[] = {{"f16", 1}, {"f32", 0}, {"bf16", 30}, {"q8_0", 8}, {"q4_0", 2}};
    for (size_t mi = 0; mi < sizeof models / sizeof models[0]; mi++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.gguf", fix, models[mi]);
        latte_model_params mp = {.path = path, .mla = -1};
        latte_model *m = NULL;
        latte_err err = {0};
        if (latte_model_load(&m, &mp, &err)) {
            printf("SKIP batch.%s: %s\n", models[mi], err.msg);
            continue;
        }
        int V = latte_model_n_vocab(m);
        int32_t toks[NSEQ * NTOK];
        uint32_t x = 12345u + (uint32_t)mi;
        for (int i = 0; i < NSEQ * NTOK; i++) x = x * 1664525u + 1013904223u, toks[i] = (int32_t)((x >> 8) % (uint32_t)V);
        float *alone = malloc(sizeof(float) * (size_t)NSEQ * NTOK * V);
        int n_modes = latte_model_has_mla(m) ? 4 : 1;
        for (int mla = 0; mla < n_modes; mla++)
            for (int fa = 0; fa < 2; fa++)
                for (size_t ti = 0; ti < (size_t)types_n; ti++)
                    for (int th = th_lo; th <= 2; th++) {
                        cfg c = {models[mi], latte_model_has_mla(m) ? mla : -1, fa, th, types[ti].id, types[ti].name};
                        char name[160], why[700];
                        snprintf(name, sizeof name, "batch.%s %s mla%d fa%s %s t%d", pass, c.model, mla,
                                 fa ? "on" : "off", c.type_name, th);
                        /* a cache type whose blocks do not divide the model's rows is refused at init */
                        latte_ctx *probe = make_ctx(m, &c, 1, 64, 64, &err);
                        if (!probe) {
                            if (err.code == LATTE_E_ARG && types[ti].id == 2) printf("SKIP %s: %s\n", name, err.msg);
                            else printf("FAIL %s: context: %s\n", name, err.msg), n_fail++;
                            continue;
                        }
                        latte_ctx_free(probe);
                        double worst = 0;
                        const char *f = run_cfg(m, &c, toks, alone, V, &worst, why, sizeof why);
                        if (f) printf("FAIL %s: %s\n", name, f), n_fail++;
                        else printf("PASS %s (worst rel L2 %.1e)\n", name, worst);
                    }
        free(alone);
        latte_model_free(m);
    }
}

int main(void) {
    const char *fix = getenv("LATTE_FIXTURES");
    char dir[1024];
    if (!fix) {
        const char *root = getenv("LATTE_ROOT");
        snprintf(dir, sizeof dir, "%s/../shared/fixtures", root ? root : ".");
        fix = dir;
    }
    run_all(fix, "simd", 5, 1);          /* every cache type, 1 and 2 threads */
    setenv("LATTE_CPU_ISA", "ref", 1);   /* read by every CPU backend created from here on */
    bound = 1e-5;
    run_all(fix, "ref", 3, 2);           /* f16, f32, bf16 caches, 2 threads */
    return n_fail ? 1 : 0;
}
