/* bench_matmul.c: times cpu_matmul for Q4_1, Q8_0 and F16 weights at n = 1 (token
 * generation: should stream weights at DRAM speed) and n = 512 (prompt: should be compute
 * bound), next to a read bandwidth measured in the same run with the same threads.
 * Weights are several copies cycled so that n = 1 reads from DRAM, not cache. Times are the
 * best of several passes, as other processes may load the machine.
 * Build: make && cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc bench/bench_matmul.c build/liblatte.a -lpcre2-8 -lutf8proc -ljansson -lm -lpthread -o build/bench_matmul
 * Run:   build/bench_matmul [threads] [avx2]   (default: all online cores; avx2 caps the
 *        kernels at AVX2 on an AVX-512 machine, to compare the two on one machine; pp runs
 *        only the n = 512 shapes of the quantized types, skipping the bandwidth runs; a
 *        third argument sets n) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/matmul.h"
#include "backend/cpu/pool.h"
#include "quant/quant.h"

#define BENCH_SPAN ((size_t)512 << 20) /* bytes of weight copies, well past any L3 */

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct read_job {
    const uint64_t *buf;
    size_t n;
    uint64_t sink[64];
} read_job;

__attribute__((target("avx2"))) static void read_part(void *arg, int ith, int nth) {
    read_job *j = arg;
    size_t a = j->n * ith / nth, b = j->n * (ith + 1) / nth;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = a; i + 4 <= b; i += 4) {
        s0 ^= j->buf[i];
        s1 ^= j->buf[i + 1];
        s2 ^= j->buf[i + 2];
        s3 ^= j->buf[i + 3];
    }
    j->sink[ith % 64] = s0 ^ s1 ^ s2 ^ s3;
}

/* GB/s of a threaded read over BENCH_SPAN bytes (best of 5) */
static double read_bw(cpu_pool *p) {
    read_job j = {.n = BENCH_SPAN / 8};
    uint64_t *buf = malloc(BENCH_SPAN);
    for (size_t i = 0; i < j.n; i++)
        buf[i] = i * 0x9e3779b97f4a7c15ull;
    j.buf = buf;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t = now();
        cpu_pool_run(p, read_part, &j);
        t = now() - t;
        best = t < best ? t : best;
    }
    free(buf);
    return BENCH_SPAN / best * 1e-9;
}

/* one memcpy over half the span, GB/s of bytes read (best of 3) */
static double memcpy_bw(void) {
    size_t n = BENCH_SPAN / 2;
    char *a = malloc(n), *b = malloc(n);
    memset(a, 1, n);
    memset(b, 2, n);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t = now();
        memcpy(b, a, n);
        t = now() - t;
        best = t < best ? t : best;
    }
    volatile char sink = b[n / 3];
    (void)sink;
    free(a);
    free(b);
    return n / best * 1e-9;
}

static void bench(cpu_pool *p, uint32_t t, int64_t m, int64_t k, int64_t n, double bw) {
    size_t rb = quant_row_bytes(t, k), mat = rb * (size_t)m;
    int copies = n <= 4 ? (int)(BENCH_SPAN / mat) + 1 : 1;
    uint8_t *w = malloc(mat * (size_t)copies);
    float *row = malloc(sizeof(float) * (size_t)k);
    for (int64_t j = 0; j < m; j++) {
        for (int64_t i = 0; i < k; i++)
            row[i] = (float)((j * 31 + i * 17) % 101) / 50.0f - 1.0f;
        quant_quant_row(t, row, w + (size_t)j * rb, k);
    }
    for (int c = 1; c < copies; c++)
        memcpy(w + mat * (size_t)c, w, mat);
    float *x = malloc(sizeof(float) * (size_t)(k * n)), *y = malloc(sizeof(float) * (size_t)(m * n));
    for (int64_t i = 0; i < k * n; i++)
        x[i] = (float)(i % 13) / 6.0f - 1.0f;
    /* best of several passes (other processes may share the machine): n <= 4 passes over all
     * copies (time per call averaged within a pass, DRAM-bound), else single calls */
    int reps = n <= 4 ? copies : 1, passes = n <= 4 ? 5 : 12;
    cpu_matmul(p, t, w, rb, m, k, x, n, y, m); /* warm-up: scratch, page faults */
    double tt = 1e30;
    for (int ps = 0; ps < passes; ps++) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            cpu_matmul(p, t, w + mat * (size_t)(r % copies), rb, m, k, x, n, y, m);
        t0 = (now() - t0) / reps;
        tt = t0 < tt ? t0 : tt;
    }
    double gbs = mat / tt * 1e-9, gflops = 2.0 * m * k * n / tt * 1e-9;
    printf("%-5s %6lldx%-6lld n=%-4lld %9.3f ms  %7.2f GB/s weights (%5.1f%% of read bw)  %8.1f GFLOP/s\n",
           quant_type_info_get(t)->name, (long long)m, (long long)k, (long long)n, tt * 1e3, gbs,
           100 * gbs / bw, gflops);
    free(w);
    free(row);
    free(x);
    free(y);
}

int main(int argc, char **argv) {
    cpu_pool *p = cpu_pool_init(argc > 1 ? atoi(argv[1]) : 0);
    if (!p)
        return 1;
    if (argc > 2 && strcmp(argv[2], "avx2") == 0)
        cpu_matmul_cap_isa(CPU_ISA_AVX2);
    if (argc > 2 && strcmp(argv[2], "pp") == 0) {
        static const uint32_t qt[] = {QT_Q4_1, QT_Q8_0, QT_Q4_0};
        int64_t n = argc > 3 ? atoi(argv[3]) : 512;
        for (int i = 0; i < 3; i++) {
            bench(p, qt[i], 2048, 1536, n, 1);
            bench(p, qt[i], 1536, 576, n, 1);
            bench(p, qt[i], 576, 1536, n, 1);
            bench(p, qt[i], 192, 576, n, 1);
        }
        cpu_pool_free(p);
        return 0;
    }
    double bw = read_bw(p), mc = memcpy_bw();
    printf("threads %d: read bandwidth %.2f GB/s (all threads), memcpy %.2f GB/s (1 thread)\n",
           cpu_pool_size(p), bw, mc);
    static const uint32_t types[] = {QT_Q4_1, QT_Q8_0, QT_Q4_0, QT_F16};
    for (int i = 0; i < 4; i++) {
        bench(p, types[i], 576, 1536, 1, bw);
        bench(p, types[i], 1536, 576, 1, bw);
        bench(p, types[i], 49152, 576, 1, bw);
        bench(p, types[i], 49152, 576, 4, bw);
        bench(p, types[i], 2048, 1536, 512, bw);
    }
    cpu_pool_free(p);
    return 0;
}
