/* kld.c: the base file of `latte perplexity --kl-divergence-base` and the KL statistics
 * (llama.cpp's report: mean KLD with its standard error, percentiles, same top token). */
#include "kld.h"

#include <errno.h>
#include <stdbool.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char MAGIC[8] = {'L', 'T', 'K', 'L', 'D', '0', '0', '2'};

/* Rounded log-probabilities no longer sum to 1 in probability: renormalized, KL is >= 0
 * and the rounding error enters only to second order. */
static void renormalize(double *lp, int n) {
    double mx = lp[0], sum = 0;
    for (int i = 1; i < n; i++) mx = lp[i] > mx ? lp[i] : mx;
    for (int i = 0; i < n; i++) sum += exp(lp[i] - mx);
    double lse = mx + log(sum);
    for (int i = 0; i < n; i++) lp[i] -= lse;
}

void kld_round(const double *logp, int n, float *lo, uint16_t *q, double *out) {
    double mn = 0;
    for (int i = 0; i < n; i++) mn = logp[i] < mn ? logp[i] : mn;
    float l = (float)(mn < -40 ? -40 : mn);
    if (l > -1e-6f) l = -1e-6f; /* one certain token: any range works */
    double step = -(double)l / 65535;
    for (int i = 0; i < n; i++) {
        double v = logp[i] < l ? l : logp[i];
        long k = lrint((v - l) / step);
        q[i] = (uint16_t)(k < 0 ? 0 : k > 65535 ? 65535 : k);
        out[i] = l + q[i] * step;
    }
    renormalize(out, n);
    *lo = l;
}

uint64_t kld_rows(const kld_header *h) {
    uint64_t rows = 0;
    for (int64_t k = 0; k < h->n_chunk; k++) {
        int64_t len = h->n_tokens - k * h->n_ctx;
        len = len > h->n_ctx ? h->n_ctx : len;
        if (len - 1 > h->first) rows += (uint64_t)(len - 1 - h->first);
    }
    return rows;
}

static int io_fail(const char *path, const char *what) {
    fprintf(stderr, "error: %s: %s: %s\n", path, what, errno ? strerror(errno) : "unexpected end of file");
    return 1;
}

FILE *kld_create(const char *path, const kld_header *h, const int32_t *tokens) {
    errno = 0;
    FILE *f = fopen(path, "wb");
    if (!f) {
        io_fail(path, "cannot create");
        return NULL;
    }
    size_t nt = (size_t)h->n_tokens;
    if (fwrite(MAGIC, 1, 8, f) != 8 || fwrite(h, sizeof *h, 1, f) != 1 || fwrite(tokens, 4, nt, f) != nt) {
        io_fail(path, "write failed");
        fclose(f);
        return NULL;
    }
    return f;
}

int kld_write_row(FILE *f, const char *path, float lo, const uint16_t *q, int n) {
    errno = 0;
    if (fwrite(&lo, 4, 1, f) != 1 || fwrite(q, 2, (size_t)n, f) != (size_t)n) return io_fail(path, "write failed");
    return 0;
}

FILE *kld_open(const char *path, kld_header *h, int32_t **tokens) {
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        io_fail(path, "cannot open");
        return NULL;
    }
    char magic[8];
    struct stat st;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, MAGIC, 8) || fread(h, sizeof *h, 1, f) != 1) {
        fprintf(stderr, "error: %s is not a latte perplexity base file (--kl-divergence-base)\n", path);
        fclose(f);
        return NULL;
    }
    uint64_t rows = 0, want = 0;
    bool ok = h->n_ctx >= 8 && h->n_vocab > 0 && h->n_chunk > 0 && h->first >= 0 && h->first < h->n_ctx - 1 &&
              h->n_ctx <= (1 << 24) && h->n_vocab <= (1 << 24) && h->n_chunk <= (1 << 24) &&
              h->n_tokens > (int64_t)(h->n_chunk - 1) * h->n_ctx && h->n_tokens <= (int64_t)h->n_chunk * h->n_ctx;
    if (ok) {
        rows = kld_rows(h);
        want = 8 + sizeof *h + 4ull * (uint64_t)h->n_tokens + rows * (4 + 2ull * h->n_vocab);
        ok = fstat(fileno(f), &st) == 0 && (uint64_t)st.st_size == want;
    }
    if (!ok) {
        fprintf(stderr, "error: %s: header (n_ctx %d, n_vocab %d, %d chunks) does not match its size\n", path,
                h->n_ctx, h->n_vocab, h->n_chunk);
        fclose(f);
        return NULL;
    }
    size_t nt = (size_t)h->n_tokens;
    *tokens = malloc(nt * 4);
    if (!*tokens || fread(*tokens, 4, nt, f) != nt) {
        io_fail(path, "read failed");
        free(*tokens);
        *tokens = NULL;
        fclose(f);
        return NULL;
    }
    return f;
}

int kld_read_row(FILE *f, const char *path, double *logp, int n, uint16_t *q) {
    float lo;
    errno = 0;
    if (fread(&lo, 4, 1, f) != 1 || fread(q, 2, (size_t)n, f) != (size_t)n) return io_fail(path, "read failed");
    if (!(lo < 0 && lo >= -40)) {
        fprintf(stderr, "error: %s: a row's range %g is not in [-40, 0)\n", path, lo);
        return 1;
    }
    double step = -(double)lo / 65535;
    for (int i = 0; i < n; i++) logp[i] = lo + q[i] * step;
    renormalize(logp, n);
    return 0;
}

int kld_add_row(kld_stats *s, const double *base, const double *cur, int n_vocab, int32_t next) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 1024;
        double *nk = realloc(s->kl, (size_t)cap * sizeof *nk);
        if (!nk) return 1;
        s->kl = nk;
        s->cap = cap;
    }
    double kl = 0;
    int ab = 0, ac = 0;
    for (int i = 0; i < n_vocab; i++) {
        if (base[i] > base[ab]) ab = i;
        if (cur[i] > cur[ac]) ac = i;
        kl += exp(base[i]) * (base[i] - cur[i]);
    }
    s->kl[s->n++] = kl;
    s->sum_kl += kl;
    s->sum_kl2 += kl * kl;
    s->same_top += ab == ac;
    s->nll -= cur[next];
    s->nll_base -= base[next];
    s->nll_diff2 += (cur[next] - base[next]) * (cur[next] - base[next]);
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void kld_print(kld_stats *s, FILE *out) {
    int n = s->n;
    if (n < 2) return;
    qsort(s->kl, (size_t)n, sizeof *s->kl, cmp_double);
    double mean = s->sum_kl / n, var = (s->sum_kl2 / n - mean * mean) * n / (n - 1);
    double p = (double)s->same_top / n;
    fprintf(out, "Mean PPL(Q)      : %10.4f\n", exp(s->nll / n));
    fprintf(out, "Mean PPL(base)   : %10.4f\n", exp(s->nll_base / n));
    fprintf(out, "Mean ln(PPL(Q)/PPL(base)): %10.6f\n", (s->nll - s->nll_base) / n);
    fprintf(out, "Mean KLD: %12.6f +/- %10.6f\n", mean, sqrt(var > 0 ? var / n : 0));
    static const struct { const char *name; double q; } P[] = {
        {"Maximum KLD", 1.0}, {"99.9%   KLD", 0.999}, {"99.0%   KLD", 0.99}, {"95.0%   KLD", 0.95},
        {"90.0%   KLD", 0.90}, {"Median  KLD", 0.5}, {"10.0%   KLD", 0.10}, {" 5.0%   KLD", 0.05},
        {" 1.0%   KLD", 0.01}, {"Minimum KLD", 0.0}};
    for (size_t i = 0; i < sizeof P / sizeof P[0]; i++) {
        double pos = P[i].q * (n - 1);
        int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
        fprintf(out, "%s: %12.6f\n", P[i].name, s->kl[lo] + (pos - lo) * (s->kl[hi] - s->kl[lo]));
    }
    fprintf(out, "Same top p: %7.3f +/- %6.3f %%\n", 100 * p, 100 * sqrt(p * (1 - p) / (n - 1)));
}

void kld_free(kld_stats *s) {
    free(s->kl);
    memset(s, 0, sizeof *s);
}
