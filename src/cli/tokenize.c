/* tokenize.c: `latte tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--raw] [--no-bos]
 * [--no-parse-special]`. As llama-tokenize: control tokens written in the text are parsed
 * unless --no-parse-special; user-defined ones always. Needs only the metadata, so it works
 * on files whose tensor data is missing. Pieces print as the text they stand for, escaped
 * C-style where that text is not printable (a newline, a byte that is only part of a UTF-8
 * character); --raw prints the vocabulary's own spelling. Each token that is not plain text
 * is marked with its kind ([control], [user-defined], ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Writes b[0..n) between quotes: printable UTF-8 as is, the rest as escapes. */
static void print_piece(const char *b, size_t n) {
    putchar('\'');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)b[i];
        size_t ok = c >= 0x80 ? cli_utf8_invalid_at(b + i, n - i) : 0;
        if (c >= 0x80 && ok > 0) { /* the run of valid multi-byte text from here */
            size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            fwrite(b + i, 1, k, stdout);
            i += k;
            continue;
        }
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\\' || c == '\'') printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7F) printf("\\x%02x", c);
        else putchar(c);
        i++;
    }
    putchar('\'');
}

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

static void print_tokens(const latte_model *m, const int32_t *ids, size_t n, bool raw) {
    char small[256];
    for (size_t i = 0; i < n; i++) {
        printf("%6d ", ids[i]);
        if (raw) {
            const char *t = latte_token_text(m, ids[i]);
            printf("'%s'%s\n", t ? t : "", kind_mark(latte_token_kind_of(m, ids[i])));
            continue;
        }
        int nb = latte_token_to_bytes(m, ids[i], small, sizeof small);
        char *big = nb > (int)sizeof small ? malloc((size_t)nb) : NULL;
        if (big) latte_token_to_bytes(m, ids[i], big, (size_t)nb);
        print_piece(big ? big : small, nb < 0 ? 0 : big || nb <= (int)sizeof small ? (size_t)nb : sizeof small);
        free(big);
        printf("%s\n", kind_mark(latte_token_kind_of(m, ids[i])));
    }
}

int cmd_tokenize(const cli_opts *o) {
    if (!!o->prompt == !!o->file) {
        fprintf(stderr, "error: tokenize needs exactly one of -p TEXT or -f FILE\n");
        return CLI_USAGE;
    }
    if (o->ids && o->raw) {
        fprintf(stderr, "error: --ids and --raw do not go together (--ids prints no pieces)\n");
        return CLI_USAGE;
    }
    size_t len = 0;
    char *text = o->file ? cli_read_file(o->file, &len) : NULL;
    if (o->file && !text) return CLI_ERR;
    if (o->prompt) len = strlen(o->prompt);
    const char *t = text ? text : o->prompt;
    size_t bad = cli_utf8_invalid_at(t, len);
    if (bad < len) {
        fprintf(stderr, "error: %s is not valid UTF-8 (byte 0x%02x at offset %zu)\n", o->file ? o->file : "-p",
                (unsigned char)t[bad], bad);
        free(text);
        return o->file ? CLI_ERR : CLI_USAGE;
    }
    latte_model *m = NULL;
    int rc = cli_load_model(o, true, &m);
    if (rc) { free(text); return rc; }
    int32_t *ids = NULL;
    size_t n = 0;
    latte_err err = {0};
    if (latte_tokenize(m, t, len, !o->no_bos, !o->no_special, &ids, &n, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        rc = CLI_ERR;
    } else if (o->ids) {
        putchar('[');
        for (size_t i = 0; i < n; i++) printf(i ? ", %d" : "%d", ids[i]);
        printf("]\n");
    } else {
        print_tokens(m, ids, n, o->raw);
    }
    if (!rc && fflush(stdout)) {
        fprintf(stderr, "error: cannot write the output\n");
        rc = CLI_ERR;
    }
    free(ids);
    free(text);
    latte_model_free(m);
    return rc;
}
