/* run.c: `latte run -m MODEL (-p PROMPT | -f FILE) [-n N] [--stop S] [--chat] [sampling] [engine]`:
 * decode the prompt, stream the continuation to stdout, timings to stderr (on Ctrl-C too).
 * The prompt is used as given (escapes in -p processed, llama-cli's -e default) unless --chat
 * wraps it as one user message in the chat template; -cnv runs the chat console instead.
 * A prompt that is not valid UTF-8, or a write that fails, is an error, never silent. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "generate.h"

/* The one global: a signal handler can reach nothing else. */
static volatile sig_atomic_t run_sigint;

static void on_sigint(int sig) { run_sigint = 1; }

/* Flags that only mean something beside another: {flag, needs one of, why}. */
static const struct {
    const char *flag, *needs[2], *why;
} RUN_NEEDS[] = {
    {"-sys", {"--chat", "-cnv"}, "a system message needs the chat template"},
    {"--chat-template", {"--chat", "-cnv"}, "it formats chat messages"},
    {"--color", {"-cnv", NULL}, "run prints only the continuation"},
};
/* Pairs that contradict each other or where the second does nothing beside the first. */
static const struct {
    const char *a, *b, *why;
} RUN_CONFLICTS[] = {
    {"-cnv", "-no-cnv", "choose one"},
    {"-e", "--no-escape", "choose one"},
    {"--chat", "--no-bos", "the chat template writes its own BOS"},
    {"--chat", "--no-parse-special", "the chat template's control tokens must be parsed"},
    {"-cnv", "--no-bos", "the chat template writes its own BOS"},
    {"-cnv", "--no-parse-special", "the chat template's control tokens must be parsed"},
    {"-cnv", "--chat", "-cnv is already a chat"},
    {"-cnv", "-f", "the console reads its messages from the terminal; give the first with -p"},
};

static int check_flags(const cli_opts *o) {
    for (size_t i = 0; i < sizeof RUN_NEEDS / sizeof RUN_NEEDS[0]; i++) {
        if (!cli_given(o, RUN_NEEDS[i].flag)) continue;
        if (cli_given(o, RUN_NEEDS[i].needs[0]) || (RUN_NEEDS[i].needs[1] && cli_given(o, RUN_NEEDS[i].needs[1])))
            continue;
        fprintf(stderr, "error: %s applies only with %s%s%s (%s)\n", RUN_NEEDS[i].flag, RUN_NEEDS[i].needs[0],
                RUN_NEEDS[i].needs[1] ? " or " : "", RUN_NEEDS[i].needs[1] ? RUN_NEEDS[i].needs[1] : "",
                RUN_NEEDS[i].why);
        return CLI_USAGE;
    }
    for (size_t i = 0; i < sizeof RUN_CONFLICTS / sizeof RUN_CONFLICTS[0]; i++)
        if (cli_given(o, RUN_CONFLICTS[i].a) && cli_given(o, RUN_CONFLICTS[i].b)) {
            fprintf(stderr, "error: %s and %s do not go together (%s)\n", RUN_CONFLICTS[i].a, RUN_CONFLICTS[i].b,
                    RUN_CONFLICTS[i].why);
            return CLI_USAGE;
        }
    if (!o->cnv && !!o->prompt == !!o->file) {
        fprintf(stderr, "error: run needs exactly one of -p PROMPT or -f FILE\n");
        return CLI_USAGE;
    }
    return 0;
}

static int hex(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* llama-cli's escapes: \n \r \t \' \" \\ and \xHH; any other backslash stays as written.
 * Returns a malloc'ed string and its length (a \x00 makes a NUL inside). */
static char *unescape(const char *s, size_t *len) {
    char *out = malloc(strlen(s) + 1), *w = out;
    if (!out) return NULL;
    for (const char *p = s; *p; p++) {
        if (*p != '\\' || !p[1]) { *w++ = *p; continue; }
        char c = p[1];
        const char *simple = strchr("nrt'\"\\", c);
        if (simple && c) {
            *w++ = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
            p++;
        } else if (c == 'x' && hex(p[2]) >= 0 && hex(p[3]) >= 0) {
            *w++ = (char)(hex(p[2]) * 16 + hex(p[3]));
            p += 3;
        } else {
            *w++ = *p;
        }
    }
    *w = 0;
    *len = (size_t)(w - out);
    return out;
}

/* The prompt text (malloc'ed) from -p or -f, checked: valid UTF-8, and no NUL where the chat
 * template needs a C string. Prints errors itself; returns an exit code. */
static int prompt_text(const cli_opts *o, char **text, size_t *len) {
    const char *what = o->file ? o->file : "the prompt (-p)";
    *text = o->file ? cli_read_file(o->file, len) : o->no_escape ? strdup(o->prompt) : unescape(o->prompt, len);
    if (!*text) {
        if (!o->file) fprintf(stderr, "error: out of memory\n");
        return CLI_ERR;
    }
    if (o->prompt && o->no_escape) *len = strlen(*text);
    int bad_rc = o->file ? CLI_ERR : CLI_USAGE; /* a file's contents, or the user's argument */
    size_t bad = cli_utf8_invalid_at(*text, *len);
    if (bad < *len) {
        fprintf(stderr, "error: %s is not valid UTF-8 (byte 0x%02x at offset %zu)\n", what,
                (unsigned char)(*text)[bad], bad);
        return bad_rc;
    }
    if ((o->chat || o->cnv) && strlen(*text) < *len) {
        fprintf(stderr, "error: %s holds a NUL byte at offset %zu (a chat message must be text)\n", what,
                strlen(*text));
        return bad_rc;
    }
    return 0;
}

/* The prompt as token ids: plain (BOS added when the vocabulary asks, unless --no-bos), or
 * through the chat template (which writes BOS text itself). Prints errors itself; returns an
 * exit code. */
static int prompt_tokens(const cli_opts *o, const latte_model *m, const char *text, size_t len, int32_t **ids,
                         size_t *n, bool *think_open) {
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
        rc = latte_tokenize(m, text, len, !o->no_bos, !o->no_special, ids, n, &err);
    }
    bool template_failed = o->chat && !formatted;
    free(formatted);
    if (rc) {
        fprintf(stderr, "error: %s\n", err.msg);
        /* a template the user must name (or named wrongly) is a usage error, as in chat */
        return rc == LATTE_E_ARG || template_failed ? CLI_USAGE : CLI_ERR;
    }
    if (*n == 0) {
        fprintf(stderr, "error: the prompt is empty (no tokens)\n");
        return CLI_USAGE;
    }
    return 0;
}

static void print_summary(const latte_ctx *c, double t_load, size_t n, double t_prompt, const gen_result *r) {
    static const char *why[] = {"end of text", "-n limit", "stop string", "context full", "interrupted", "error"};
    if (r->end == GEN_CTX_FULL)
        fprintf(stderr, "note: the context is full (%d tokens); stopping (raise -c for longer output)\n",
                latte_ctx_n_ctx(c));
    fprintf(stderr, "load:      %8.1f ms\n", t_load * 1e3);
    fprintf(stderr, "prompt:    %6zu tokens in %7.3f s = %8.2f tokens/s\n", n, t_prompt,
            t_prompt > 0 ? n / t_prompt : 0.0);
    fprintf(stderr, "generated: %6d tokens in %7.3f s = %8.2f tokens/s (%s)\n", r->n_toks, r->seconds,
            r->seconds > 0 ? r->n_toks / r->seconds : 0.0, why[r->end]);
}

/* -cnv: the chat console, with -p (escapes processed) as the first message. */
static int run_console(const cli_opts *o) {
    cli_opts co = *o;
    char *text = NULL;
    size_t len = 0;
    int rc = o->prompt ? prompt_text(o, &text, &len) : 0;
    if (rc) { free(text); return rc; }
    co.prompt = text;
    rc = cmd_chat(&co);
    free(text);
    return rc;
}

int cmd_run(const cli_opts *o) {
    int rc = check_flags(o);
    if (rc) return rc;
    if (o->cnv) return run_console(o);
    char *text = NULL;
    size_t len = 0;
    latte_model *m = NULL;
    latte_ctx *c = NULL;
    latte_sampler *s = NULL;
    int32_t *ids = NULL;
    size_t n = 0;
    gen_result r = {0};
    latte_err err = {0};
    bool think_open = false;
    if ((rc = prompt_text(o, &text, &len))) goto done;
    double t0 = cli_now();
    rc = cli_load_model(o, false, &m);
    if (!rc) rc = cli_make_ctx(o, m, &c);
    double t_load = cli_now() - t0;
    if (!rc) rc = prompt_tokens(o, m, text, len, &ids, &n, &think_open);
    if (rc) goto done;
    if (n >= (size_t)latte_ctx_n_ctx(c)) {
        fprintf(stderr, "error: the prompt is %zu tokens but the context holds %d (raise -c)\n", n,
                latte_ctx_n_ctx(c));
        rc = CLI_ERR;
        goto done;
    }
    latte_sampler_params sp = gen_sampler_params(o);
    if (!(s = latte_sampler_init(&sp))) { fprintf(stderr, "error: out of memory\n"); rc = CLI_ERR; goto done; }
    if (o->seed < 0 && sp.temp > 0) fprintf(stderr, "seed: %llu\n", (unsigned long long)sp.seed);

    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    double t1 = cli_now();
    if (gen_decode_prompt(c, ids, (int)n, o->n_batch, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        rc = CLI_ERR;
        goto done;
    }
    double t_prompt = cli_now() - t1;
    /* with a chat template, reasoning (<think>) goes to stderr, apart from the answer */
    gen_params gp = {.n_predict = o->n_predict, .stops = o->stops.v, .n_stops = o->stops.n, .out = stdout,
                     .reasoning = o->chat ? stderr : NULL, .think_open = think_open, .interrupt = &run_sigint};
    if (gen_run(c, m, s, &gp, &r, &err)) {
        fprintf(stderr, "\nerror: %s\n", err.msg);
        rc = CLI_ERR;
    }
    if (r.len && r.text[r.len - 1] != '\n' && isatty(1)) putchar('\n'); /* keep piped output exact */
    if (fflush(stdout) && !rc) {
        fprintf(stderr, "error: cannot write the output\n");
        rc = CLI_ERR;
    }
    print_summary(c, t_load, n, t_prompt, &r);
    if (!rc && r.end == GEN_INTERRUPT) rc = CLI_INTERRUPTED;
done:
    gen_result_free(&r);
    free(ids);
    free(text);
    latte_sampler_free(s);
    latte_ctx_free(c);
    latte_model_free(m);
    return rc;
}
