/* kld.h: the KL-divergence side of `latte perplexity`: a base file of tokens and
 * per-position log-probabilities (written by one model), and the statistics of another
 * model's log-probabilities against it.
 * File: "LTKLD002", int32 n_ctx, n_vocab, n_chunk, first (the first scored position of a
 * chunk), n_tokens; int32 tokens[n_tokens] (chunk k: tokens k*n_ctx .. min((k+1)*n_ctx,
 * n_tokens)); then for each chunk of length len and each scored position (first .. len-2)
 * one row: float lo, uint16 q[n_vocab], log p = lo - lo * q / 65535
 * (log-probabilities below lo = max(min log p, -40) are clipped: p < 5e-18). Both sides are
 * rounded the same way and renormalized before they are compared, so a model against its
 * own base file gives exactly 0 and any KL is >= 0; the rounding step (at most 40 / 65535
 * in log p) enters the KL only to second order (below 1e-7). */
#ifndef LATTE_CLI_KLD_H
#define LATTE_CLI_KLD_H

#include <stdint.h>
#include <stdio.h>

typedef struct kld_header {
    int32_t n_ctx, n_vocab, n_chunk, first, n_tokens;
} kld_header;

/* Rows the file holds: the scored positions of every chunk. */
uint64_t kld_rows(const kld_header *h);

/* Rounds one row of log-probabilities (double, n) to the stored form: *lo and q[n]; and
 * back into out (may be logp itself). */
void kld_round(const double *logp, int n, float *lo, uint16_t *q, double *out);

/* Writing: header and tokens, then kld_write_row per scored row. Errors print one line. */
FILE *kld_create(const char *path, const kld_header *h, const int32_t *tokens);
int kld_write_row(FILE *f, const char *path, float lo, const uint16_t *q, int n);
/* Reading: checks the magic and that the file holds the rows its header says. *tokens is
 * malloc'ed (n_tokens). */
FILE *kld_open(const char *path, kld_header *h, int32_t **tokens);
int kld_read_row(FILE *f, const char *path, double *logp, int n, uint16_t *scratch);

/* Accumulates per-row KL(base || this), same arg-max, and both log-likelihoods. */
typedef struct kld_stats {
    double *kl;        /* per row */
    int n, cap;
    double sum_kl, sum_kl2;
    int same_top;
    double nll, nll_base, nll_diff2; /* sums of -log p(next token) and of the squared difference */
} kld_stats;

int kld_add_row(kld_stats *s, const double *base, const double *cur, int n_vocab, int32_t next);
void kld_print(kld_stats *s, FILE *out);
void kld_free(kld_stats *s);

#endif
