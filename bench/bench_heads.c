/* bench_heads.c: the MLA absorption products on a 128-head layer (DeepSeek-V3: W_kb per head
 * 512 x 128, W_vb per head 128 x 512) through the CPU backend's matmul_heads (one pool job
 * over all heads) against the loop it replaced (gather each head's x rows, one cpu_matmul per
 * head: 128 fork-joins), at n = 1 (decode), 16 and 512 tokens, f16 and q8_0 weights (the
 * derived matrices are f16 for quantized models; ik's k_b/v_b files carry q8_0). Best of
 * several passes, as other processes may load the machine.
 * Build: make && cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc bench/bench_heads.c build/liblatte.a -lpcre2-8 -lutf8proc -ljansson -lm -lpthread -o build/bench_heads
 * Run:   build/bench_heads [threads] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/backend.h"
#include "backend/cpu/cpu.h"
#include "backend/cpu/matmul.h"
#include "quant/quant.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 0;
    backend *be;
    latte_err err;
    if (backend_cpu_init(&be, threads, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    cpu_backend *cb = (cpu_backend *)be;
    enum { H = 128, R = 512, DN = 128 };
    uint32_t types[] = {QT_F16, QT_Q8_0};
    const char *tnames[] = {"f16", "q8_0"};
    int ns[] = {1, 16, 512};
    printf("threads %d; time per call (best of passes), one call over heads vs a call per head\n", cb->n_threads);
    for (int ti = 0; ti < 2; ti++)
        for (int which = 0; which < 2; which++) { /* 0: W_kb (512 rows of 128), 1: W_vb (128 rows of 512) */
            int64_t rows = which ? DN : R, k = which ? R : DN;
            size_t rb = quant_row_bytes(types[ti], k);
            char *w = malloc(rb * (size_t)(H * rows));
            float *row = malloc(sizeof(float) * (size_t)k);
            for (int64_t j = 0; j < H * rows; j++) {
                for (int64_t i = 0; i < k; i++) row[i] = (float)((j * 31 + i * 7) % 97) / 97.0f - 0.5f;
                quant_quant_row(types[ti], row, w + (size_t)j * rb, k);
            }
            lt_tensor t = {.name = "w", .type = types[ti], .ne = {k, H * rows, 1, 1}, .row_bytes = rb, .data = w};
            for (int ni = 0; ni < 3; ni++) {
                int n = ns[ni];
                float *x = malloc(sizeof(float) * (size_t)n * H * k), *y = malloc(sizeof(float) * (size_t)n * H * rows);
                float *g = malloc(sizeof(float) * (size_t)n * k);
                for (size_t i = 0; i < (size_t)n * H * k; i++) x[i] = (float)(i % 13) / 13.0f - 0.5f;
                int reps = n == 512 ? 3 : n == 16 ? 20 : 200;
                double best_one = 1e9, best_loop = 1e9;
                for (int pass = 0; pass < 5; pass++) {
                    double t0 = now();
                    for (int r = 0; r < reps; r++)
                        be->ops->matmul_heads(be, &t, H, rows, 0, rows, x, (int64_t)H * k, k, n, y, (int64_t)H * rows, rows);
                    double t1 = now();
                    for (int r = 0; r < reps; r++)
                        for (int h = 0; h < H; h++) {
                            for (int i = 0; i < n; i++) memcpy(g + (size_t)i * k, x + ((size_t)i * H + h) * k, sizeof(float) * k);
                            cpu_matmul(cb->pool, t.type, w + (size_t)h * rows * rb, rb, rows, k, g, n, y + (size_t)h * rows,
                                       (int64_t)H * rows);
                        }
                    double t2 = now();
                    best_one = (t1 - t0) / reps < best_one ? (t1 - t0) / reps : best_one;
                    best_loop = (t2 - t1) / reps < best_loop ? (t2 - t1) / reps : best_loop;
                }
                printf("%-5s %s n=%-4d one call %8.3f ms   per-head loop %8.3f ms   speed-up %.2fx\n", tnames[ti],
                       which ? "W_vb 128x512" : "W_kb 512x128", n, best_one * 1e3, best_loop * 1e3, best_loop / best_one);
                free(x), free(y), free(g);
            }
            free(w), free(row);
        }
    backend_free(be);
    return 0;
}
