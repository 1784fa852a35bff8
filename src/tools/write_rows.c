/* write_rows.c: one tensor from f32 rows to the file. Rows are taken in chunks of about
 * 4 MiB of output; within a chunk each thread fills and converts a contiguous range of
 * rows, then the chunk is written in order. The result is the same for any thread count. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "../quant/quant.h"
#include "../quant/quantize.h"
#include "tools.h"

typedef struct job {
    tools_row_fn src;
    void *ctx;
    uint32_t type;
    int64_t ne0, r0, r1;
    size_t row_bytes;
    uint8_t *out;
    float *buf;
    int rc;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    for (int64_t r = j->r0; r < j->r1 && !j->rc; r++) {
        j->src(j->ctx, r, j->buf);
        j->rc = quant_quantize_row(j->type, j->buf, j->out + (size_t)(r - j->r0) * j->row_bytes, j->ne0);
    }
    return NULL;
}

uint32_t tools_fit_type(uint32_t type, int64_t ne0) {
    if (ne0 % quant_type_info_get(type)->block_elems == 0) return type;
    uint32_t fb = type == QT_Q4_K ? QT_Q5_0 : type == QT_Q5_K ? QT_Q5_1 : QT_Q8_0;
    return ne0 % 32 == 0 ? fb : QT_F16;
}

int tools_threads(int n_threads) {
    if (n_threads > 0) return n_threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

int tools_write_rows(gguf_writer *w, uint32_t type, int64_t ne0, int64_t n_rows, tools_row_fn src, void *ctx,
                     int n_threads, tools_progress *pr, const char *name, latte_err *err) {
    size_t rb = quant_row_bytes(type, ne0);
    if (!rb || !quant_can_quantize(type))
        return err_set(err, LATTE_E_UNSUPPORTED, "tensor '%s': cannot write type %s with rows of %lld", name,
                       quant_type_info_get(type) ? quant_type_info_get(type)->name : "?", (long long)ne0);
    int nt = tools_threads(n_threads);
    int64_t chunk = (int64_t)((4u << 20) / rb);
    if (chunk < nt) chunk = nt;
    if (chunk > n_rows) chunk = n_rows;
    uint8_t *out = malloc(rb * (size_t)chunk);
    float *bufs = malloc(sizeof(float) * (size_t)ne0 * (size_t)nt);
    job *jobs = calloc((size_t)nt, sizeof *jobs);
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    bool *created = calloc((size_t)nt, sizeof *created);
    int rc = out && bufs && jobs && th && created ? 0 : err_set(err, LATTE_E_NOMEM, "out of memory writing '%s'", name);
    for (int64_t c0 = 0; !rc && c0 < n_rows; c0 += chunk) {
        int64_t c1 = c0 + chunk < n_rows ? c0 + chunk : n_rows, per = (c1 - c0 + nt - 1) / nt;
        int n_jobs = 0;
        for (int t = 0; t < nt; t++) {
            int64_t r0 = c0 + t * per, r1 = r0 + per < c1 ? r0 + per : c1;
            if (r0 >= r1) break;
            jobs[t] = (job){src, ctx, type, ne0, r0, r1, rb, out + (size_t)(r0 - c0) * rb, bufs + (size_t)t * ne0, 0};
            n_jobs++;
        }
        /* the calling thread takes the first range, and any whose thread did not start */
        for (int t = 1; t < n_jobs; t++) created[t] = pthread_create(&th[t], NULL, run_job, &jobs[t]) == 0;
        run_job(&jobs[0]);
        for (int t = 1; t < n_jobs; t++) {
            if (created[t]) pthread_join(th[t], NULL);
            else run_job(&jobs[t]);
        }
        for (int t = 0; t < n_jobs; t++)
            if (jobs[t].rc) rc = err_set(err, LATTE_E_UNSUPPORTED, "tensor '%s': conversion failed", name);
        if (!rc) rc = gguf_writer_write_data(w, out, rb * (size_t)(c1 - c0), err);
        if (!rc && pr) {
            pr->done += rb * (uint64_t)(c1 - c0);
            if (pr->fn) pr->fn(pr->done, pr->total, name, pr->user);
        }
    }
    free(out);
    free(bufs);
    free(jobs);
    free(th);
    free(created);
    return rc;
}
