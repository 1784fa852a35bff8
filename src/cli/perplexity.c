/* perplexity.c: `latte perplexity -m MODEL -f TEXT [-c N] [-b N] [--chunks N]
 * [--kl-divergence-base FILE [--kl-divergence]]`, llama.cpp's method: the text is tokenized
 * once (BOS first when the vocabulary adds one), cut into chunks of -c tokens (the first
 * token of each replaced by BOS when the vocabulary adds one), each chunk decoded from an
 * empty cache, and the second half of each scored: the log-probability of token i+1 from
 * the logits at i, for i from c/2 to c-2. b / c chunks go into one batch, each its own
 * sequence. Prints a running estimate per batch and `PPL = x +/- y` (the standard error of
 * the mean log-likelihood, scaled to PPL). --kl-divergence-base saves the tokens and the
 * scored rows' log-probabilities; with --kl-divergence they are read back instead of -f and
 * the KL divergence of this model from them is reported (kld.c). --score-all scores every
 * position of every chunk, the partial last one too, with no BOS put in: the
 * non-overlapping-window perplexity of Hugging Face's guide, which is how the figures in
 * ../shared/models/README.md were measured. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kld.h"

typedef struct ppl_run {
    latte_model *m;
    latte_ctx *c;
    int n_vocab, n_ctx, n_seq, first, n_chunk, n_tokens;
    int32_t *tokens;      /* n_tokens, as evaluated; chunk k starts at k * n_ctx */
    FILE *base_out, *base_in;
    const char *base_path;
    kld_stats kls;
    double nll, nll2;
    long count;
} ppl_run;

static void log_softmax(const float *x, int n, double *out) {
    double mx = x[0], sum = 0;
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    for (int i = 0; i < n; i++) sum += exp(x[i] - mx);
    double lse = mx + log(sum);
    for (int i = 0; i < n; i++) out[i] = x[i] - lse;
}

static int chunk_len(const ppl_run *r, int k) {
    int len = r->n_tokens - k * r->n_ctx;
    return len > r->n_ctx ? r->n_ctx : len;
}

/* Decodes chunks [k0, k0 + n) as sequences 0..n-1 and scores their second halves. */
static int score_chunks(ppl_run *r, int k0, int n, latte_batch *b, double *lp, double *lb, uint16_t *q) {
    latte_err err = {0};
    latte_ctx_reset(r->c);
    b->n_tokens = 0;
    for (int s = 0; s < n; s++)
        for (int i = 0; i < chunk_len(r, k0 + s); i++)
            latte_batch_add(b, r->tokens[(size_t)(k0 + s) * r->n_ctx + i], i, s, i >= r->first && i < chunk_len(r, k0 + s) - 1);
    if (latte_decode_batch(r->c, b, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return CLI_ERR;
    }
    for (int s = 0, row0 = 0; s < n; row0 += chunk_len(r, k0 + s), s++) {
        const int32_t *tok = r->tokens + (size_t)(k0 + s) * r->n_ctx;
        for (int i = r->first; i < chunk_len(r, k0 + s) - 1; i++) {
            log_softmax(latte_ctx_logits_ith(r->c, row0 + i), r->n_vocab, lp);
            double v = -lp[tok[i + 1]];
            r->nll += v;
            r->nll2 += v * v;
            r->count++;
            if (!r->base_out && !r->base_in) continue;
            float lo;
            kld_round(lp, r->n_vocab, &lo, q, lp);
            if (r->base_out && kld_write_row(r->base_out, r->base_path, lo, q, r->n_vocab)) return CLI_ERR;
            if (r->base_in) {
                if (kld_read_row(r->base_in, r->base_path, lb, r->n_vocab, q)) return CLI_ERR;
                if (kld_add_row(&r->kls, lb, lp, r->n_vocab, tok[i + 1])) {
                    fprintf(stderr, "error: out of memory\n");
                    return CLI_ERR;
                }
            }
        }
    }
    return 0;
}

/* Tokens from the text: the whole text, cut into chunks (BOS first in each where the
 * vocabulary adds it). */
static int tokens_from_text(const cli_opts *o, ppl_run *r) {
    size_t len, n_ids = 0;
    char *text = cli_read_file(o->file, &len);
    if (!text) return CLI_ERR;
    int32_t *ids = NULL, *probe = NULL;
    size_t n_probe = 0;
    latte_err err = {0};
    int rc = latte_tokenize(r->m, text, len, true, false, &ids, &n_ids, &err) ||
             latte_tokenize(r->m, "", 0, true, false, &probe, &n_probe, &err);
    free(text);
    if (rc) {
        fprintf(stderr, "error: %s\n", err.msg);
        free(ids);
        free(probe);
        return CLI_ERR;
    }
    bool add_bos = n_probe == 1 && probe[0] == latte_token_bos(r->m);
    free(probe);
    long need = o->score_all ? 2 : 2L * r->n_ctx;
    if ((long)n_ids < need || n_ids > (size_t)1 << 30) {
        fprintf(stderr, "error: %s has %zu tokens: perplexity with -c %d%s needs at least %ld\n", o->file, n_ids,
                r->n_ctx, o->score_all ? " --score-all" : "", need);
        free(ids);
        return CLI_ERR;
    }
    /* all whole chunks; with --score-all the tail too when it has a token to predict */
    r->n_chunk = (int)(n_ids / (size_t)r->n_ctx);
    if (o->score_all && n_ids % (size_t)r->n_ctx >= 2) r->n_chunk++;
    if (o->n_chunks >= 0 && o->n_chunks < r->n_chunk) r->n_chunk = o->n_chunks;
    r->n_tokens = (long)r->n_chunk * r->n_ctx < (long)n_ids ? r->n_chunk * r->n_ctx : (int)n_ids;
    r->tokens = ids;
    add_bos = add_bos && !o->score_all;
    for (int k = 0; add_bos && k < r->n_chunk; k++) ids[(size_t)k * r->n_ctx] = latte_token_bos(r->m);
    fprintf(stderr, "perplexity: %zu tokens%s, %d chunks of %d\n", n_ids, add_bos ? " (BOS first in each chunk)" : "",
            r->n_chunk, r->n_ctx);
    return 0;
}

static int setup(const cli_opts *o, ppl_run *r) {
    if (o->kl && !o->kl_base) {
        fprintf(stderr, "error: --kl-divergence needs --kl-divergence-base FILE (written by an earlier run)\n");
        return CLI_USAGE;
    }
    if (!o->kl && !o->file) {
        fprintf(stderr, "error: perplexity needs -f TEXT\n");
        return CLI_USAGE;
    }
    r->n_ctx = o->n_ctx;
    r->base_path = o->kl_base;
    int rc = cli_load_model(o, false, &r->m);
    if (rc) return rc;
    r->n_vocab = latte_model_n_vocab(r->m);
    if (o->kl) {
        kld_header h;
        if (o->file) fprintf(stderr, "note: -f is not read with --kl-divergence: the tokens come from %s\n", o->kl_base);
        if (!(r->base_in = kld_open(o->kl_base, &h, &r->tokens))) return CLI_ERR;
        if (h.n_vocab != r->n_vocab || (cli_given(o, "-c") && h.n_ctx != o->n_ctx)) {
            fprintf(stderr, "error: %s was written with n_vocab %d and -c %d; this run has n_vocab %d and -c %d\n",
                    o->kl_base, h.n_vocab, h.n_ctx, r->n_vocab, cli_given(o, "-c") ? o->n_ctx : h.n_ctx);
            return CLI_ERR;
        }
        if (cli_given(o, "--score-all") && h.first != 0)
            fprintf(stderr, "note: --score-all is taken from %s, which scores the second half of each chunk\n", o->kl_base);
        r->n_ctx = h.n_ctx;
        r->n_chunk = o->n_chunks >= 0 && o->n_chunks < h.n_chunk ? o->n_chunks : h.n_chunk;
        r->n_tokens = r->n_chunk * r->n_ctx < h.n_tokens ? r->n_chunk * r->n_ctx : h.n_tokens;
        r->first = h.first;
        for (size_t i = 0; i < (size_t)h.n_tokens; i++)
            if (r->tokens[i] < 0 || r->tokens[i] >= r->n_vocab) {
                fprintf(stderr, "error: %s: token %d is not in the vocabulary\n", o->kl_base, r->tokens[i]);
                return CLI_ERR;
            }
    } else if ((rc = tokens_from_text(o, r))) {
        return rc;
    }
    if (!o->kl) r->first = o->score_all ? 0 : r->n_ctx / 2;
    r->n_seq = o->n_batch / r->n_ctx;
    r->n_seq = r->n_seq < 1 ? 1 : r->n_seq > r->n_chunk ? r->n_chunk : r->n_seq;
    cli_opts co = *o;
    co.n_ctx = r->n_ctx;
    co.n_seq = r->n_seq;
    co.n_batch = r->n_ctx * r->n_seq;
    if ((rc = cli_make_ctx(&co, r->m, &r->c))) return rc;
    if (o->kl_base && !o->kl) {
        kld_header h = {r->n_ctx, r->n_vocab, r->n_chunk, r->first, r->n_tokens};
        if (!(r->base_out = kld_create(o->kl_base, &h, r->tokens))) return CLI_ERR;
    }
    fprintf(stderr, "perplexity: %d chunks of %d tokens, %d per batch (one sequence each), scoring positions %d..%d%s\n",
            r->n_chunk, r->n_ctx, r->n_seq, r->first, r->n_ctx - 2,
            r->n_tokens % r->n_ctx ? " (the last chunk shorter)" : "");
    return 0;
}

int cmd_perplexity(const cli_opts *o) {
    ppl_run r = {0};
    latte_batch b = {0};
    latte_err err = {0};
    int rc = setup(o, &r);
    double *lp = NULL, *lb = NULL;
    uint16_t *q = NULL;
    if (!rc) {
        lp = malloc(sizeof(double) * (size_t)r.n_vocab);
        lb = malloc(sizeof(double) * (size_t)r.n_vocab);
        q = malloc(sizeof(uint16_t) * (size_t)r.n_vocab);
        if (!lp || !lb || !q || latte_batch_init(&b, r.n_ctx * r.n_seq, &err)) {
            fprintf(stderr, "error: out of memory\n");
            rc = CLI_ERR;
        }
    }
    double t0 = cli_now();
    for (int k = 0; !rc && k < r.n_chunk; k += r.n_seq) {
        int n = r.n_chunk - k < r.n_seq ? r.n_chunk - k : r.n_seq;
        rc = score_chunks(&r, k, n, &b, lp, lb, q);
        if (rc) break;
        double el = cli_now() - t0;
        fprintf(stderr, "[%d]%.4f%s", k + n, r.count ? exp(r.nll / r.count) : 0.0, k + n < r.n_chunk ? "," : "\n");
        if (k == 0 && r.n_chunk > n)
            fprintf(stderr, "(%.2f s per batch of %d chunks, about %.0f s to go) ", el, n, el * (r.n_chunk - n) / n);
    }
    if (!rc && r.count > 0) {
        double mean = r.nll / r.count, var = r.nll2 / r.count - mean * mean;
        double ppl = exp(mean), se = var > 0 && r.count > 1 ? sqrt(var / (r.count - 1)) : 0;
        printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, se * ppl);
        fprintf(stderr, "perplexity: %ld tokens scored in %.2f s (%.1f tokens/s evaluated)\n", r.count,
                cli_now() - t0, (double)r.n_tokens / (cli_now() - t0));
        if (r.base_in) kld_print(&r.kls, stdout);
        if (r.base_out) fprintf(stderr, "perplexity: saved the base log-probabilities to %s\n", r.base_path);
    }
    if (r.base_out && fclose(r.base_out) && !rc) {
        fprintf(stderr, "error: %s: write failed\n", r.base_path);
        rc = CLI_ERR;
    }
    if (r.base_in) fclose(r.base_in);
    if (!rc && fflush(stdout)) {
        fprintf(stderr, "error: cannot write the output\n");
        rc = CLI_ERR;
    }
    kld_free(&r.kls);
    latte_batch_free(&b);
    free(lp);
    free(lb);
    free(q);
    free(r.tokens);
    if (r.c) latte_ctx_free(r.c);
    if (r.m) latte_model_free(r.m);
    return rc;
}
