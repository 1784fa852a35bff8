/* logits.c: `latte logits -m MODEL --tokens 0,215,950 [--tokens ...] -o OUT.f32 [--incremental]`:
 * float32 logits of every position, row-major [n_tokens][n_vocab] (the fixture layout).
 * Each --tokens list is its own sequence; all are decoded together in one batch, and the rows
 * are written list after list. --incremental decodes one token per sequence per step. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Parses "1,2,3" into a malloc'ed array; prints the error itself. */
static int parse_tokens(const char *s, int32_t **out, int *n) {
    size_t cap = 16, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return 1;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            fprintf(stderr, "error: --tokens: '%s' is not a comma-separated list of token ids\n", s);
            free(ids);
            return 2;
        }
        if (k == cap) {
            int32_t *nb = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!nb) { free(ids); return 1; }
            ids = nb;
        }
        ids[k++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    if (!k) {
        fprintf(stderr, "error: --tokens is empty\n");
        free(ids);
        return 2;
    }
    *out = ids;
    *n = (int)k;
    return 0;
}

/* Several lists: one sequence each, all decoded together in batches of -b rows (the
 * engine splits them into -ub micro-batches), every row's logits kept. --incremental:
 * one token of every sequence per batch. Rows are written list after list. */
static int decode_lists(latte_ctx *c, int32_t **ids, const int *n, int n_lists, int n_batch, bool incremental,
                        float *all, int V, latte_err *err) {
    latte_batch b;
    if (latte_batch_init(&b, n_batch, err)) return 1;
    int *done = calloc((size_t)n_lists, sizeof *done);
    size_t *row0 = calloc((size_t)n_lists, sizeof *row0);
    int rc = !done || !row0;
    for (int s = 1; s < n_lists && !rc; s++) row0[s] = row0[s - 1] + (size_t)n[s - 1];
    for (bool more = true; more && !rc;) {
        /* fill the batch: from each unfinished sequence as many tokens as fit (one when incremental) */
        b.n_tokens = 0;
        int take[CLI_MAX_LIST] = {0};
        for (int s = 0; s < n_lists && b.n_tokens < n_batch; s++) {
            int k = n[s] - done[s], room = n_batch - b.n_tokens;
            if (incremental && k > 1) k = 1;
            if (k > room) k = room;
            for (int i = 0; i < k; i++) latte_batch_add(&b, ids[s][done[s] + i], done[s] + i, s, true);
            take[s] = k;
        }
        if ((rc = latte_decode_batch(c, &b, err) != 0)) break;
        int row = 0;
        for (int s = 0; s < n_lists; s++)
            for (int i = 0; i < take[s]; i++, row++)
                memcpy(all + (row0[s] + (size_t)done[s] + (size_t)i) * V, latte_ctx_logits_ith(c, row), sizeof(float) * V);
        more = false;
        for (int s = 0; s < n_lists; s++) more |= (done[s] += take[s]) < n[s];
    }
    free(done);
    free(row0);
    latte_batch_free(&b);
    return rc;
}

int cmd_logits(const cli_opts *o) {
    if (!o->token_lists.n || !o->out) {
        fprintf(stderr, "error: logits needs --tokens LIST and -o FILE\n");
        return CLI_USAGE;
    }
    int n_lists = o->token_lists.n, rc = 0, total = 0;
    int32_t *ids[CLI_MAX_LIST] = {0};
    int n[CLI_MAX_LIST] = {0};
    for (int s = 0; s < n_lists && !rc; s++) {
        rc = parse_tokens(o->token_lists.v[s], &ids[s], &n[s]);
        total += n[s];
    }
    latte_model *m = NULL;
    latte_ctx *c = NULL;
    FILE *f = NULL;
    float *all = NULL;
    if (rc || (rc = cli_load_model(o, false, &m)) || (rc = cli_make_ctx(o, m, &c))) goto done;
    int V = latte_model_n_vocab(m);
    all = malloc(sizeof(float) * (size_t)V * (size_t)total);
    if (!all) { fprintf(stderr, "error: out of memory\n"); rc = 1; goto done; }
    latte_err err = {0};
    if (decode_lists(c, ids, n, n_lists, o->n_batch, o->incremental, all, V, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    f = fopen(o->out, "wb");
    if (!f || fwrite(all, sizeof(float) * V, (size_t)total, f) != (size_t)total) {
        fprintf(stderr, "error: cannot write %s: %s\n", o->out, strerror(errno));
        rc = 1;
    }
done:
    if (f && fclose(f) && !rc) { fprintf(stderr, "error: cannot write %s: %s\n", o->out, strerror(errno)); rc = 1; }
    free(all);
    for (int s = 0; s < n_lists; s++) free(ids[s]);
    latte_ctx_free(c);
    latte_model_free(m);
    return rc;
}
