/* run.c: `latte run -m MODEL -p PROMPT [-n N] [--stop S] [--chat] [sampling] [engine]`:
 * decode the prompt, stream the continuation to stdout, timings to stderr. The prompt is
 * used as given unless --chat wraps it as one user message in the chat template. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "generate.h"

/* Reads a whole file; prints the error itself. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "error: cannot open %s\n", path); return NULL; }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf && (n += fread(buf + n, 1, cap - n, f)) == cap) {
        char *nb = realloc(buf, (cap *= 2) + 1);
        if (!nb) free(buf);
        buf = nb;
    }
    if (!buf || ferror(f)) { fprintf(stderr, "error: cannot read %s\n", path); free(buf); buf = NULL; }
    else buf[n] = 0;
    fclose(f);
    return buf;
}

/* The prompt as token ids: plain (BOS added when the vocabulary asks), or through the chat
 * template (which writes BOS text itself). Prints errors itself; returns an exit code. */
static int prompt_tokens(const cli_opts *o, const latte_model *m, const char *text, int32_t **ids, size_t *n,
                         bool *think_open) {
    latte_err err = {0};
    char *formatted = NULL;
    int rc = 0;
    if (o->chat) {
        latte_chat_msg msgs[2];
        size_t k = 0;
        if (o->system) msgs[k++] = (latte_chat_msg){"system", o->system};
        msgs[k++] = (latte_chat_msg){"user", text};
        rc = latte_chat_tokenize(m, o->chat_template, msgs, k, true, ids, n, &formatted, &err);
        if (!rc) *think_open = gen_prompt_opens_think(formatted);
    } else {
        rc = latte_tokenize(m, text, strlen(text), true, !o->no_special, ids, n, &err);
    }
    free(formatted);
    if (rc) {
        fprintf(stderr, "error: %s\n", err.msg);
        return rc == LATTE_E_ARG ? 2 : 1;
    }
    if (*n == 0) {
        fprintf(stderr, "error: the prompt is empty (no tokens)\n");
        return 2;
    }
    return 0;
}

int cmd_run(const cli_opts *o) {
    if (!!o->prompt == !!o->file) {
        fprintf(stderr, "error: run needs exactly one of -p PROMPT or -f FILE\n");
        return 2;
    }
    char *file_text = o->file ? slurp(o->file) : NULL;
    if (o->file && !file_text) return 1;
    latte_model *m = NULL;
    latte_ctx *c = NULL;
    latte_sampler *s = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    gen_result r = {0};
    latte_err err = {0};
    double t0 = cli_now();
    bool think_open = false;
    int rc = cli_load_model(o, false, &m);
    if (!rc) rc = cli_make_ctx(o, m, &c);
    double t_load = cli_now() - t0;
    if (!rc) rc = prompt_tokens(o, m, file_text ? file_text : o->prompt, &ids, &n, &think_open);
    if (rc) goto done;
    if (n >= (size_t)latte_ctx_n_ctx(c)) {
        fprintf(stderr, "error: the prompt is %zu tokens but the context holds %d (raise -c)\n", n,
                latte_ctx_n_ctx(c));
        rc = 1;
        goto done;
    }
    latte_sampler_params sp = gen_sampler_params(o);
    if (!(s = latte_sampler_init(&sp))) { fprintf(stderr, "error: out of memory\n"); rc = 1; goto done; }

    double t1 = cli_now();
    if (gen_decode_prompt(c, ids, (int)n, o->n_batch, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        rc = 1;
        goto done;
    }
    double t_prompt = cli_now() - t1;
    /* with a chat template, reasoning (<think>) goes to stderr, apart from the answer */
    gen_params gp = {.n_predict = o->n_predict, .stops = o->stops, .n_stops = o->n_stops, .out = stdout,
                     .reasoning = o->chat ? stderr : NULL, .think_open = think_open};
    if (gen_run(c, m, s, &gp, &r, &err)) {
        fprintf(stderr, "\nerror: %s\n", err.msg);
        rc = 1;
    }
    if (r.len && r.text[r.len - 1] != '\n' && isatty(1)) putchar('\n'); /* keep piped output exact */
    fflush(stdout);
    if (r.end == GEN_CTX_FULL)
        fprintf(stderr, "note: the context is full (%d tokens); stopping (raise -c for longer output)\n",
                latte_ctx_n_ctx(c));
    static const char *why[] = {"end of text", "-n limit", "stop string", "context full", "interrupted", "error"};
    fprintf(stderr, "load:      %8.1f ms\n", t_load * 1e3);
    fprintf(stderr, "prompt:    %6zu tokens in %7.3f s = %8.2f tokens/s\n", n, t_prompt, n / t_prompt);
    fprintf(stderr, "generated: %6d tokens in %7.3f s = %8.2f tokens/s (%s)\n", r.n_toks, r.seconds,
            r.seconds > 0 ? r.n_toks / r.seconds : 0.0, why[r.end]);
done:
    gen_result_free(&r);
    free(ids);
    free(file_text);
    latte_sampler_free(s);
    latte_ctx_free(c);
    latte_model_free(m);
    return rc;
}
