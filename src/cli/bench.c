/* bench.c: `latte bench`, as llama-bench: every combination of the list flags is one engine
 * instance; for each, the tests ppN (N seeded random tokens in -b batches), tgN (N single-token
 * decodes), ppP+tgT, each after D tokens already decoded (" @ dD", untimed). One short warm-up
 * run per row (unless --no-warmup), then -r timed runs on a fresh timeline. Generation is set
 * beside the memory read bandwidth measured in the same run, but only where the weights one
 * token reads outgrow the last-level cache (else no memory bound applies). --plot draws the
 * rows against depth (bench_plot.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* The rows of one instance, in llama-bench's order: per depth, the pp, tg, then pp+tg tests. */
static int make_tests(const cli_opts *o, bench_test **out, int *n_out, int *n_ctx) {
    int cap = o->depth.n * (o->n_prompt.n + o->n_gen.n + o->pg.n / 2), n = 0;
    bench_test *t = malloc(sizeof *t * (size_t)(cap ? cap : 1));
    if (!t) return -1;
    *n_ctx = 1;
    for (int d = 0; d < o->depth.n; d++) {
        int dd = o->depth.v[d];
        for (int i = 0; i < o->n_prompt.n; i++)
            if (o->n_prompt.v[i] > 0) t[n++] = (bench_test){o->n_prompt.v[i], 0, dd};
        for (int i = 0; i < o->n_gen.n; i++)
            if (o->n_gen.v[i] > 0) t[n++] = (bench_test){0, o->n_gen.v[i], dd};
        for (int i = 0; i + 1 < o->pg.n; i += 2)
            if (o->pg.v[i] + o->pg.v[i + 1] > 0) t[n++] = (bench_test){o->pg.v[i], o->pg.v[i + 1], dd};
    }
    for (int i = 0; i < n; i++) {
        long need = (long)t[i].n_depth + t[i].n_prompt + t[i].n_gen;
        if (need > (1 << 30)) { free(t); return -2; }
        if (need > *n_ctx) *n_ctx = (int)need;
    }
    *out = t;
    *n_out = n;
    return 0;
}

static int decode_chunks(latte_ctx *c, const int32_t *toks, int n, int n_batch, latte_err *err) {
    for (int i = 0; i < n; i += n_batch) {
        int rc = latte_decode(c, toks + i, n - i < n_batch ? n - i : n_batch, false, err);
        if (rc) return rc;
    }
    return 0;
}

/* One run of test t on a fresh timeline; *ns: the timed part (depth excluded). */
static int run_once(latte_ctx *c, const bench_test *t, int n_batch, const int32_t *toks, double *ns, latte_err *err) {
    latte_ctx_reset(c);
    int rc = t->n_depth ? decode_chunks(c, toks, t->n_depth, n_batch, err) : 0;
    double t0 = cli_now();
    if (!rc && t->n_prompt) rc = decode_chunks(c, toks + t->n_depth, t->n_prompt, n_batch, err);
    for (int i = 0; i < t->n_gen && !rc; i++) rc = latte_decode(c, toks + t->n_depth + t->n_prompt + i, 1, false, err);
    *ns = (cli_now() - t0) * 1e9;
    return rc;
}

static void row_stats(bench_row *r) {
    double n_tok = r->test.n_prompt + r->test.n_gen, s_ns = 0, s_ts = 0;
    for (int i = 0; i < r->n_samples; i++) s_ns += r->samples_ns[i], s_ts += n_tok * 1e9 / r->samples_ns[i];
    r->avg_ns = s_ns / r->n_samples;
    r->avg_ts = s_ts / r->n_samples;
    double v_ns = 0, v_ts = 0;
    for (int i = 0; i < r->n_samples && r->n_samples > 1; i++) {
        double ts = n_tok * 1e9 / r->samples_ns[i];
        v_ns += (r->samples_ns[i] - r->avg_ns) * (r->samples_ns[i] - r->avg_ns);
        v_ts += (ts - r->avg_ts) * (ts - r->avg_ts);
    }
    r->stddev_ns = r->n_samples > 1 ? __builtin_sqrt(v_ns / (r->n_samples - 1)) : 0;
    r->stddev_ts = r->n_samples > 1 ? __builtin_sqrt(v_ts / (r->n_samples - 1)) : 0;
}

static void row_name(bench_row *r) {
    const bench_test *t = &r->test;
    int k = t->n_gen == 0 ? snprintf(r->name, sizeof r->name, "pp%d", t->n_prompt)
            : t->n_prompt == 0 ? snprintf(r->name, sizeof r->name, "tg%d", t->n_gen)
                               : snprintf(r->name, sizeof r->name, "pp%d+tg%d", t->n_prompt, t->n_gen);
    if (t->n_depth && k > 0 && (size_t)k < sizeof r->name)
        snprintf(r->name + k, sizeof r->name - (size_t)k, " @ d%d", t->n_depth);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->time, sizeof r->time, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

typedef struct bench_run {
    const cli_opts *o;
    bench_out *out;
    bench_plot *plot;         /* --plot, or NULL */
    latte_model *m;
    latte_model_info mi;
    const bench_test *tests;
    int n_tests, n_ctx;
    int32_t *toks;            /* [n_ctx] seeded random ids */
    double read_bw;           /* bytes/s; 0 when not measured */
    bool fits_cache;          /* the weights one token reads fit in the last-level cache */
    char notes[4096];         /* lines printed after the table */
} bench_run;

static void note(bench_run *br, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(bench_run *br, const char *fmt, ...) {
    size_t len = strlen(br->notes);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(br->notes + len, sizeof br->notes - len, fmt, ap);
    va_end(ap);
}

/* Runs every test on one instance, printing each row. Returns an exit code. */
static int run_instance(bench_run *br, const bench_instance *inst) {
    cli_opts co = *br->o;
    co.n_ctx = br->n_ctx, co.n_batch = inst->n_batch, co.n_ubatch = inst->n_ubatch, co.n_threads = inst->n_threads;
    co.mla = inst->mla, co.fa = inst->fa, co.type_k = inst->type_k, co.type_v = inst->type_v;
    co.quiet_ctx = true; /* the table says what the line would */
    latte_ctx *c = NULL;
    int rc = cli_make_ctx(&co, br->m, &c);
    if (rc) return rc;
    latte_err err = {0};
    for (int i = 0; i < br->n_tests && !rc; i++) {
        bench_row r = {.inst = *inst, .test = br->tests[i], .model = &br->mi, .mla_mode = latte_ctx_mla_mode(c)};
        row_name(&r);
        double ns;
        bench_test warm = {r.test.n_prompt < 32 ? r.test.n_prompt : 32, r.test.n_gen ? 1 : 0, 0};
        if (!br->o->no_warmup && run_once(c, &warm, inst->n_batch, br->toks, &ns, &err)) rc = CLI_ERR;
        for (int k = 0; k < br->o->reps && !rc; k++)
            if (run_once(c, &r.test, inst->n_batch, br->toks, &r.samples_ns[r.n_samples++], &err)) rc = CLI_ERR;
        if (rc) { fprintf(stderr, "error: %s: %s\n", r.name, err.msg); break; }
        row_stats(&r);
        if (r.test.n_prompt == 0 && br->read_bw > 0 && !br->fits_cache) {
            r.bw_gbs = br->mi.bytes_per_token * r.avg_ts / 1e9;
            r.bw_share = r.bw_gbs / (br->read_bw / 1e9);
            note(br, "  %s, %d threads: %.2f GB/s of weights = %.0f%% of the measured read bandwidth\n", r.name,
                 inst->n_threads, r.bw_gbs, 100 * r.bw_share);
        }
        if (br->plot) bench_plot_add(br->plot, &r);
        if (bench_out_row(br->out, &r)) { fprintf(stderr, "error: cannot write the output\n"); rc = CLI_ERR; }
    }
    latte_ctx_free(c);
    return rc;
}

static int n_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Every combination of the engine lists, for one model. */
static int run_model(bench_run *br, const char *path) {
    const cli_opts *o = br->o;
    bench_instance in = {.model = path};
    int rc = 0;
    for (int a = 0; a < o->threads.n && !rc; a++)
        for (int b = 0; b < o->mlas.n && !rc; b++)
            for (int f = 0; f < o->fas.n && !rc; f++)
                for (int k = 0; k < o->ctks.n && !rc; k++)
                    for (int v = 0; v < o->ctvs.n && !rc; v++)
                        for (int u = 0; u < o->ubatches.n && !rc; u++)
                            for (int s = 0; s < o->batches.n && !rc; s++) {
                                in.n_threads = o->threads.v[a] ? o->threads.v[a] : n_cores();
                                in.mla = o->mlas.v[b], in.fa = o->fas.v[f];
                                in.type_k = o->ctks.v[k], in.type_v = o->ctvs.v[v];
                                in.n_ubatch = o->ubatches.v[u], in.n_batch = o->batches.v[s];
                                rc = run_instance(br, &in);
                            }
    return rc;
}

/* Loads one model, measures the bandwidth when first needed, runs its instances, says what
 * the bandwidth means for it. */
static int bench_model(bench_run *br, const char *path) {
    const cli_opts *o = br->o;
    cli_opts mo = *o;
    mo.model = path;
    mo.mla = -1;
    for (int i = 0; i < o->mlas.n; i++) mo.mla = o->mlas.v[i] > mo.mla ? o->mlas.v[i] : mo.mla;
    int rc = cli_load_model(&mo, false, &br->m);
    if (rc) return rc;
    latte_model_get_info(br->m, &br->mi);
    uint64_t seed = (uint64_t)(o->seed >= 0 ? o->seed : (long long)time(NULL));
    uint64_t V = (uint64_t)latte_model_n_vocab(br->m);
    for (int k = 0; k < br->n_ctx; k++) br->toks[k] = (int32_t)(rng_next(&seed) % (V ? V : 1));
    long cache = bench_cache_bytes();
    br->fits_cache = cache > 0 && br->mi.bytes_per_token <= (uint64_t)cache;
    bool has_tg = false;
    for (int i = 0; i < br->n_tests; i++) has_tg |= br->tests[i].n_prompt == 0;
    if (has_tg && br->fits_cache)
        note(br, "%s: the %.1f MB of weights a token reads fit in the %.0f MB last-level cache: no memory bound applies\n",
                 br->mi.name, br->mi.bytes_per_token / 1e6, cache / 1e6);
    else if (has_tg) {
        if (br->read_bw == 0) { /* with the most threads any instance uses */
            int t = 1;
            for (int i = 0; i < o->threads.n; i++) {
                int ti = o->threads.v[i] ? o->threads.v[i] : n_cores();
                t = ti > t ? ti : t;
            }
            br->read_bw = bench_read_bw(t);
        }
        note(br, "%s: a token reads %.1f MB of weights%s; measured read bandwidth %.2f GB/s\n",
                 br->mi.name, br->mi.bytes_per_token / 1e6,
                 br->mi.n_expert ? " (the routed experts' used share only)" : "", br->read_bw / 1e9);
    }
    rc = run_model(br, path);
    latte_model_free(br->m);
    br->m = NULL;
    return rc;
}

int cmd_bench(const cli_opts *o) {
    bench_run br = {.o = o};
    bench_test *tests = NULL;
    int rc = make_tests(o, &tests, &br.n_tests, &br.n_ctx);
    if (rc) {
        fprintf(stderr, rc == -1 ? "error: out of memory\n" : "error: a test needs more than 2^30 tokens of context\n");
        return rc == -1 ? CLI_ERR : CLI_USAGE;
    }
    if (br.n_tests == 0) {
        free(tests);
        fprintf(stderr, "error: nothing to measure: -p, -n and -pg give no test (all 0)\n");
        return CLI_USAGE;
    }
    br.tests = tests;
    br.toks = malloc(sizeof *br.toks * (size_t)br.n_ctx);
    br.out = br.toks ? bench_out_begin(o->output, o) : NULL;
    if (!br.out) { fprintf(stderr, "error: out of memory\n"); rc = CLI_ERR; }
    if (!rc && o->plot && !(br.plot = bench_plot_begin(o->plot))) { fprintf(stderr, "error: out of memory\n"); rc = CLI_ERR; }
    int n_models = o->models.n ? o->models.n : 1;
    for (int i = 0; i < n_models && !rc; i++) {
        rc = bench_model(&br, o->models.n ? o->models.v[i] : NULL);
    }
    if (br.out && bench_out_end(br.out, br.notes) && !rc) {
        fprintf(stderr, "error: cannot write the output\n");
        rc = CLI_ERR;
    }
    if (br.plot && bench_plot_end(br.plot) && !rc) rc = CLI_ERR;
    free(br.toks);
    free(tests);
    return rc;
}
