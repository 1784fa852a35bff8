/* bench.c: `latte bench -m MODEL [-pp 512] [-tg 128] [-r 1] [engine flags]`: prompt
 * processing (n_pp seeded random tokens in -b batches) and generation (n_tg single-token
 * decodes) on a fresh context, plus the machine's memory read bandwidth measured in the
 * same run, so generation speed reads as a share of the bound it lives under. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define BW_BYTES ((size_t)1 << 30)

typedef struct bw_job {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} bw_job;

static void *bw_sum(void *arg) {
    bw_job *j = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0; /* four chains keep the loads in flight */
    size_t i = 0;
    for (; i + 4 <= j->n; i += 4) s0 += j->p[i], s1 += j->p[i + 1], s2 += j->p[i + 2], s3 += j->p[i + 3];
    for (; i < j->n; i++) s0 += j->p[i];
    j->sum = s0 + s1 + s2 + s3;
    return NULL;
}

/* Read bandwidth in bytes/s: n_threads sum disjoint slices of a 1 GiB buffer, best of 3.
 * Returns 0 when the buffer or threads cannot be had. */
static double measure_read_bw(int n_threads) {
    uint64_t *buf = malloc(BW_BYTES);
    if (!buf) return 0;
    memset(buf, 1, BW_BYTES); /* touch every page so the timing sees no faults */
    size_t n = BW_BYTES / sizeof *buf, per = (n + n_threads - 1) / n_threads;
    bw_job jobs[256];
    pthread_t th[256];
    double best = 0;
    uint64_t check = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cli_now();
        int started = 0;
        for (int i = 0; i < n_threads; i++) {
            size_t lo = (size_t)i * per < n ? (size_t)i * per : n;
            jobs[i] = (bw_job){buf + lo, n - lo < per ? n - lo : per, 0};
            if (pthread_create(&th[i], NULL, bw_sum, &jobs[i])) break;
            started++;
        }
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL), check += jobs[i].sum;
        double dt = cli_now() - t0;
        if (started < n_threads) { best = 0; break; }
        if (BW_BYTES / dt > best) best = BW_BYTES / dt;
    }
    free(buf);
    /* the sum is 0x0101..01 per word: a wrong total means the loop was not what we timed */
    return check == 3 * (uint64_t)n * 0x0101010101010101ull ? best : 0;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

typedef struct bench_stat {
    double sum, sum2, n;
} bench_stat;

static void stat_add(bench_stat *s, double tps) { s->sum += tps, s->sum2 += tps * tps, s->n++; }

static void stat_print(const char *name, int tokens, double secs, const bench_stat *s) {
    double mean = s->sum / s->n, var = s->n > 1 ? (s->sum2 - s->n * mean * mean) / (s->n - 1) : 0;
    printf("%-6s | %7d | %8.3f | %9.2f", name, tokens, secs / s->n, mean);
    if (s->n > 1) printf(" ± %.2f", sqrt(var > 0 ? var : 0));
    printf("\n");
}

int cmd_bench(const cli_opts *o) {
    if (o->n_pp == 0 && o->n_tg == 0) {
        fprintf(stderr, "error: nothing to measure (-pp and -tg are both 0)\n");
        return 2;
    }
    cli_opts co = *o;
    int need = o->n_pp > o->n_tg + 1 ? o->n_pp : o->n_tg + 1;
    if (co.n_ctx == 0) co.n_ctx = need;
    if (co.n_ctx < need) {
        fprintf(stderr, "error: -c %d is smaller than the %d tokens the test needs\n", co.n_ctx, need);
        return 2;
    }
    latte_model *m = NULL;
    latte_ctx *c = NULL;
    int32_t *toks = NULL;
    int rc = cli_load_model(&co, false, &m);
    if (!rc) rc = cli_make_ctx(&co, m, &c);
    if (rc) goto done;
    int V = latte_model_n_vocab(m), n_tok = need;
    if (!(toks = malloc(sizeof *toks * (size_t)n_tok))) { fprintf(stderr, "error: out of memory\n"); rc = 1; goto done; }
    uint64_t seed = o->seed;
    for (int i = 0; i < n_tok; i++) toks[i] = (int32_t)(rng_next(&seed) % (uint64_t)V);
    int32_t bos = latte_token_bos(m);

    latte_err err = {0};
    bench_stat pp = {0}, tg = {0};
    double pp_secs = 0, tg_secs = 0;
    for (int rep = 0; rep < o->reps && !rc; rep++) {
        if (o->n_pp > 0) {
            latte_ctx_reset(c);
            double t0 = cli_now();
            for (int i = 0; i < o->n_pp && !rc; i += o->n_batch) {
                int nb = o->n_pp - i < o->n_batch ? o->n_pp - i : o->n_batch;
                rc = latte_decode(c, toks + i, nb, false, &err);
            }
            double dt = cli_now() - t0;
            pp_secs += dt;
            stat_add(&pp, o->n_pp / dt);
        }
        if (o->n_tg > 0 && !rc) {
            latte_ctx_reset(c);
            toks[0] = bos >= 0 ? bos : 0;
            double t0 = cli_now();
            for (int i = 0; i < o->n_tg && !rc; i++) rc = latte_decode(c, toks + i, 1, false, &err);
            double dt = cli_now() - t0;
            tg_secs += dt;
            stat_add(&tg, o->n_tg / dt);
        }
    }
    if (rc) { fprintf(stderr, "error: %s\n", err.msg); rc = 1; goto done; }

    int n_threads = o->n_threads > 0 ? o->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 256) n_threads = 256;
    double bw = measure_read_bw(n_threads);

    printf("model: %s (%s), %d threads, batch %d, micro-batch %d, %d repetition%s\n", latte_model_arch(m),
           latte_ctx_attention_desc(c), n_threads, o->n_batch, o->n_ubatch, o->reps, o->reps > 1 ? "s" : "");
    printf("test   |  tokens |  seconds |  tokens/s\n");
    if (pp.n) stat_print("pp", o->n_pp, pp_secs, &pp);
    if (tg.n) stat_print("tg", o->n_tg, tg_secs, &tg);
    double wmb = latte_model_weight_bytes(m) / 1e6;
    if (tg.n) {
        double gbs = wmb * 1e6 * (tg.sum / tg.n) / 1e9;
        printf("weights: %.1f MB; tg reads ~%.1f MB/token -> %.2f GB/s", wmb, wmb, gbs);
        if (bw > 0) printf(" = %.0f%% of the measured read bandwidth %.2f GB/s\n", 100 * gbs / (bw / 1e9), bw / 1e9);
        else printf(" (read bandwidth could not be measured)\n");
    } else if (bw > 0) {
        printf("weights: %.1f MB; measured read bandwidth %.2f GB/s\n", wmb, bw / 1e9);
    }
    printf("(all weights counted as read per token: right for dense models; a MoE model reads only its\n"
           " active experts, so for MoE this overstates the bytes and the bandwidth share)\n");
done:
    free(toks);
    latte_ctx_free(c);
    latte_model_free(m);
    return rc;
}
