/* logits.c: `latte logits -m MODEL --tokens 0,215,950 -o OUT.f32 [--incremental]`:
 * float32 logits of every position, row-major [n_tokens][n_vocab] (the fixture layout).
 * --incremental decodes one token per step through the cache instead of one batch. */
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

int cmd_logits(const cli_opts *o) {
    if (!o->tokens || !o->out) {
        fprintf(stderr, "error: logits needs --tokens LIST and -o FILE\n");
        return 2;
    }
    int32_t *ids = NULL;
    int n = 0, rc = parse_tokens(o->tokens, &ids, &n);
    if (rc) return rc;
    latte_model *m = NULL;
    latte_ctx *c = NULL;
    FILE *f = NULL;
    float *all = NULL;
    if ((rc = cli_load_model(o, false, &m)) || (rc = cli_make_ctx(o, m, &c))) goto done;
    int V = latte_model_n_vocab(m);
    all = malloc(sizeof(float) * (size_t)V * (size_t)n);
    if (!all) { fprintf(stderr, "error: out of memory\n"); rc = 1; goto done; }
    latte_err err = {0};
    if (o->incremental) {
        for (int i = 0; i < n && !rc; i++) {
            if (latte_decode(c, ids + i, 1, false, &err)) rc = 1;
            else memcpy(all + (size_t)i * V, latte_ctx_logits(c, 0), sizeof(float) * V);
        }
    } else {
        /* the logical batch (-b) bounds one call; micro-batches (-ub) split it further */
        for (int i = 0; i < n && !rc; i += o->n_batch) {
            int nb = n - i < o->n_batch ? n - i : o->n_batch;
            if (latte_decode(c, ids + i, nb, true, &err)) rc = 1;
            else memcpy(all + (size_t)i * V, latte_ctx_logits(c, 0), sizeof(float) * V * (size_t)nb);
        }
    }
    if (rc) { fprintf(stderr, "error: %s\n", err.msg); goto done; }
    f = fopen(o->out, "wb");
    if (!f || fwrite(all, sizeof(float) * V, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "error: cannot write %s: %s\n", o->out, strerror(errno));
        rc = 1;
    }
done:
    if (f && fclose(f) && !rc) { fprintf(stderr, "error: cannot write %s: %s\n", o->out, strerror(errno)); rc = 1; }
    free(all);
    free(ids);
    latte_ctx_free(c);
    latte_model_free(m);
    return rc;
}
