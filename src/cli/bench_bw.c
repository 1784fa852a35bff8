/* bench_bw.c: the memory read bandwidth bench compares generation with, measured in the same
 * run: threads sum disjoint slices of a buffer far larger than any cache. And the cache
 * size, below which a model's weights are read from cache, so no memory bound applies. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

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

double bench_read_bw(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    if (n_threads > 256) n_threads = 256;
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

long bench_cache_bytes(void) {
    const char *env = getenv("LATTE_CACHE_BYTES"); /* for machines that report it wrongly, and tests */
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (!*end && v >= 0) return v;
    }
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return l3 > 0 ? l3 : l2 > 0 ? l2 : 0;
}
