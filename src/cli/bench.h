/* bench.h: `latte bench`, llama-bench's flags and output. An instance is one engine
 * configuration (model, threads, MLA mode, FA, cache types, batch sizes: every combination of
 * the lists given); a test is one row (ppN, tgN, ppN+tgM, each " @ dD" when D tokens are in
 * the context first). bench.c runs them, bench_out.c prints them, bench_bw.c measures the
 * memory bandwidth the tg rows are compared with. */
#ifndef LATTE_CLI_BENCH_H
#define LATTE_CLI_BENCH_H

#include "cli.h"

typedef struct bench_instance {
    const char *model;
    int n_threads, mla, fa, type_k, type_v, n_ubatch, n_batch;
} bench_instance;

typedef struct bench_test {
    int n_prompt, n_gen, n_depth;
} bench_test;

typedef struct bench_row {
    bench_instance inst;
    bench_test test;
    const latte_model_info *model;
    int mla_mode;             /* in use: -1 without MLA */
    char name[64];            /* "pp512", "tg128 @ d4096" */
    char time[32];            /* ISO 8601 UTC start of the row */
    double samples_ns[1000];  /* one per repetition */
    int n_samples;
    double avg_ns, stddev_ns, avg_ts, stddev_ts;
    double bw_gbs, bw_share;  /* tg rows where the weights outgrow the cache: GB/s read, share of the measured */
} bench_row;

typedef struct bench_out bench_out;

/* Starts output in format fmt (0 md, 1 json, 2 csv, 3 jsonl) on stdout; o says which optional
 * columns the table shows (the lists the user gave). NULL when out of memory. */
bench_out *bench_out_begin(int fmt, const cli_opts *o);
/* Prints one finished row. Returns 0, or -1 when stdout refuses the write. */
int bench_out_row(bench_out *b, const bench_row *r);
/* Ends the output (a closing bracket) and prints the notes (one line each: the bandwidth each
 * model is compared with): after an md table on stdout, else on stderr, so stdout stays
 * machine-readable. Frees b. Returns 0 or -1 as above. */
int bench_out_end(bench_out *b, const char *notes);

/* --plot FILE.svg (bench_plot.c): rows are collected as they finish, the SVG is written at
 * the end (pp and tg speed against depth). begin: NULL when out of memory; end: 0, or -1
 * after one error line; frees p. */
typedef struct bench_plot bench_plot;
bench_plot *bench_plot_begin(const char *path);
void bench_plot_add(bench_plot *p, const bench_row *r);
int bench_plot_end(bench_plot *p);

/* Memory read bandwidth in bytes/s with n_threads readers (best of 3 over 1 GiB); 0 when
 * it cannot be measured. */
double bench_read_bw(int n_threads);
/* The last-level cache size in bytes (0 when unknown); LATTE_CACHE_BYTES overrides it. */
long bench_cache_bytes(void);

#endif
