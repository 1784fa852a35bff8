/* tokenize.c: `latte tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--no-bos]
 * [--no-parse-special]`. As llama-tokenize: control tokens written in the text are parsed
 * unless --no-parse-special; user-defined ones always. The listing marks each token that is
 * not plain text with its kind ([control], [user-defined], ...). Needs only the metadata,
 * so it works on files whose tensor data is missing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Reads a whole file; prints the error itself. */
/* The listing's mark for a token kind; "" for normal and byte tokens. */
static const char *kind_mark(int kind) {
    switch (kind) {
    case LATTE_TOKEN_CONTROL: return " [control]";
    case LATTE_TOKEN_USER_DEFINED: return " [user-defined]";
    case LATTE_TOKEN_UNKNOWN: return " [unknown]";
    case LATTE_TOKEN_UNUSED: return " [unused]";
    default: return "";
    }
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "error: cannot open %s\n", path); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = realloc(buf, cap *= 2);
        if (!nb) { free(buf); buf = NULL; }
        else buf = nb;
    }
    if (!buf || ferror(f)) { fprintf(stderr, "error: cannot read %s\n", path); free(buf); buf = NULL; }
    fclose(f);
    *len = n;
    return buf;
}

int cmd_tokenize(const cli_opts *o) {
    if (!!o->prompt == !!o->file) {
        fprintf(stderr, "error: tokenize needs exactly one of -p TEXT or -f FILE\n");
        return 2;
    }
    size_t len = 0;
    char *text = o->file ? read_file(o->file, &len) : NULL;
    if (o->file && !text) return 1;
    if (o->prompt) len = strlen(o->prompt);
    latte_model *m = NULL;
    int rc = cli_load_model(o, true, &m);
    if (rc) { free(text); return rc; }
    int32_t *ids = NULL;
    size_t n = 0;
    latte_err err = {0};
    if (latte_tokenize(m, text ? text : o->prompt, len, !o->no_bos, !o->no_special, &ids, &n, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        rc = 1;
    } else if (o->ids) {
        putchar('[');
        for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        printf("]\n");
    } else {
        for (size_t i = 0; i < n; i++) {
            const char *t = latte_token_text(m, ids[i]);
            printf("%6d '%s'%s\n", ids[i], t ? t : "", kind_mark(latte_token_kind_of(m, ids[i])));
        }
    }
    free(ids);
    free(text);
    latte_model_free(m);
    return rc;
}
