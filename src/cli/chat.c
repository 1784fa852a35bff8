/* chat.c: `latte chat -m MODEL [-sys SYSTEM] [--chat-template NAME]`: one conversation
 * read message by message from the console (console.c: line editing on a terminal). Each turn
 * formats the whole history with the chat template, keeps the longest prefix of tokens already
 * in the context and decodes only the rest. Commands: see CHAT_HELP. Ctrl-C stops the answer
 * being written; at the prompt it quits. Answers go to stdout, notes to stderr. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "generate.h"

static const char CHAT_HELP[] =
    "  /help        this list\n"
    "  /reset       forget the conversation (the system message stays)\n"
    "  /speed       show or hide the speed after each answer\n"
    "  /multiline   a message of several lines, ended by a line holding only /end\n"
    "  /exit, /quit leave (so do Ctrl-D, and Ctrl-C at the prompt)\n"
    "  a line ending in \\ continues on the next line; Ctrl-C stops an answer\n";

/* The one global: a signal handler can reach nothing else. */
static volatile sig_atomic_t chat_sigint;
static volatile sig_atomic_t chat_at_prompt; /* waiting for the user's line */

/* During an answer Ctrl-C stops that answer; at the prompt it quits. Quitting from the
 * handler itself closes the window where the signal lands just before the read starts
 * (and the read would then wait forever). */
static void on_sigint(int sig) {
    if (chat_at_prompt) {
        (void)!write(1, "\n", 1);
        _exit(0);
    }
    chat_sigint = 1;
}

typedef struct chat_state {
    const cli_opts *o;
    latte_model *m;
    latte_ctx *c;
    latte_sampler *s;
    latte_chat_msg *msgs; /* contents are owned (malloc'ed); roles are literals */
    size_t n_msgs, cap_msgs;
    int32_t *toks;        /* the tokens now in the context, [n_toks] */
    size_t n_toks, cap_toks;
    bool think_open;      /* the last formatted prompt opened <think> */
    bool show_speed;      /* /speed, --show-speed */
    bool color;           /* --color on a terminal */
} chat_state;

static int push_msg(chat_state *st, const char *role, const char *content) {
    if (st->n_msgs == st->cap_msgs) {
        size_t nc = st->cap_msgs ? st->cap_msgs * 2 : 16;
        latte_chat_msg *nm = realloc(st->msgs, nc * sizeof *nm);
        if (!nm) return -1;
        st->msgs = nm, st->cap_msgs = nc;
    }
    char *dup = strdup(content);
    if (!dup) return -1;
    st->msgs[st->n_msgs++] = (latte_chat_msg){role, dup};
    return 0;
}

static int push_toks(chat_state *st, const int32_t *t, size_t n) {
    if (st->n_toks + n > st->cap_toks) {
        size_t nc = st->cap_toks ? st->cap_toks : 256;
        while (nc < st->n_toks + n) nc *= 2;
        int32_t *nt = realloc(st->toks, nc * sizeof *nt);
        if (!nt) return -1;
        st->toks = nt, st->cap_toks = nc;
    }
    memcpy(st->toks + st->n_toks, t, n * sizeof *t);
    st->n_toks += n;
    return 0;
}

/* Drops messages from index keep on (the system prompt, when there is one, is index 0). */
static void drop_msgs(chat_state *st, size_t keep) {
    while (st->n_msgs > keep) free((char *)st->msgs[--st->n_msgs].content);
}

/* Clears the history (all but the system prompt), the context and the sampler. */
static void reset_all(chat_state *st) {
    drop_msgs(st, st->o->system ? 1 : 0);
    latte_ctx_reset(st->c);
    latte_sampler_reset(st->s);
    st->n_toks = 0;
}

/* The history through the template, as tokens. Prints errors itself. */
static int format_history(chat_state *st, int32_t **ids, size_t *n) {
    char *text = NULL;
    latte_err err = {0};
    int rc = latte_chat_tokenize(st->m, st->o->chat_template, st->msgs, st->n_msgs, true, ids, n, &text, &err);
    if (!rc) st->think_open = gen_prompt_opens_think(text);
    free(text);
    if (rc) fprintf(stderr, "error: %s\n", err.msg);
    return rc;
}

/* Answers the last user message. Returns 0, 1 on an engine error (then the state is reset), or
 * -1 when stdout can take no more (the chat ends). */
static int answer(chat_state *st) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (format_history(st, &ids, &n)) return 1;
    size_t n_ctx = (size_t)latte_ctx_n_ctx(st->c);
    if (n + 1 > n_ctx && st->n_msgs > (st->o->system ? 2u : 1u)) {
        fprintf(stderr, "[the conversation (%zu tokens) no longer fits the context (%zu): starting over]\n", n, n_ctx);
        latte_chat_msg last = st->msgs[--st->n_msgs];
        reset_all(st);
        st->msgs[st->n_msgs++] = last; /* capacity is there: it held more before */
        free(ids);
        if (format_history(st, &ids, &n)) return 1;
    }
    if (n + 1 > n_ctx) {
        fprintf(stderr, "[the message is %zu tokens but the context holds %zu (raise -c)]\n", n, n_ctx);
        free((char *)st->msgs[--st->n_msgs].content);
        free(ids);
        return 0;
    }
    /* reuse what the context already holds; at least one token is decoded for fresh logits */
    size_t common = 0;
    while (common < st->n_toks && common < n && st->toks[common] == ids[common]) common++;
    if (common == n) common--;
    latte_ctx_truncate(st->c, (int)common);
    st->n_toks = common;
    latte_err err = {0};
    gen_result r = {0};
    double t0 = cli_now();
    int rc = gen_decode_prompt(st->c, ids + common, (int)(n - common), st->o->n_batch, &err);
    double t_prompt = cli_now() - t0;
    if (!rc) rc = push_toks(st, ids + common, n - common) ? LATTE_E_NOMEM : 0;
    if (!rc) {
        gen_params gp = {.n_predict = st->o->n_predict, .stops = st->o->stops.v, .n_stops = st->o->stops.n,
                         .out = stdout, .interrupt = &chat_sigint, .reasoning = stderr,
                         .think_open = st->think_open};
        if (st->color) fputs("\033[33m", stdout); /* yellow answers, as llama-cli --color */
        rc = gen_run(st->c, st->m, st->s, &gp, &r, &err);
        if (st->color) fputs("\033[0m", stdout);
        if (!rc) rc = push_toks(st, r.toks, (size_t)r.n_decoded) ? LATTE_E_NOMEM : 0;
    }
    printf("\n");
    if (fflush(stdout)) {
        fprintf(stderr, "error: cannot write the answer\n");
        free(ids);
        gen_result_free(&r);
        return -1;
    }
    if (st->show_speed)
        fprintf(stderr, "[prompt %zu tokens, %.1f tokens/s; answer %d tokens, %.1f tokens/s]\n", n - common,
                t_prompt > 0 ? (n - common) / t_prompt : 0.0, r.n_toks, r.seconds > 0 ? r.n_toks / r.seconds : 0.0);
    free(ids);
    if (rc) {
        fprintf(stderr, "error: %s\n[starting over]\n", rc == LATTE_E_NOMEM ? "out of memory" : err.msg);
        gen_result_free(&r);
        reset_all(st);
        return 1;
    }
    if (r.end == GEN_INTERRUPT) fprintf(stderr, "[interrupted]\n");
    if (push_msg(st, "assistant", r.text)) rc = 1;
    if (r.end == GEN_CTX_FULL) {
        fprintf(stderr, "[the context is full (%zu tokens): history and context cleared]\n", n_ctx);
        reset_all(st);
    }
    gen_result_free(&r);
    return rc;
}

/* One line of the console: a command, or a message to answer. Returns 1 to quit, -1 on a
 * fatal error, else 0. */
static int handle(chat_state *st, const char *line) {
    if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) return 1;
    if (!strcmp(line, "/help")) { printf("%s", CHAT_HELP); return fflush(stdout) ? -1 : 0; }
    if (!strcmp(line, "/speed")) {
        st->show_speed = !st->show_speed;
        fprintf(stderr, "[speed after each answer: %s]\n", st->show_speed ? "on" : "off");
        return 0;
    }
    if (!strcmp(line, "/reset")) {
        reset_all(st);
        printf("[history and context cleared]\n");
        return fflush(stdout) ? -1 : 0;
    }
    if (!line[strspn(line, " \t\r\n")]) return 0; /* whitespace only: nothing to say */
    size_t len = strlen(line), bad = cli_utf8_invalid_at(line, len);
    if (bad < len) {
        fprintf(stderr, "[the message is not valid UTF-8 (byte 0x%02x at offset %zu): not sent]\n",
                (unsigned char)line[bad], bad);
        return 0;
    }
    if (push_msg(st, "user", line)) { fprintf(stderr, "error: out of memory\n"); return -1; }
    return answer(st) < 0 ? -1 : 0;
}

int cmd_chat(const cli_opts *o) {
    chat_state st = {.o = o, .show_speed = o->show_speed, .color = o->color && isatty(1)};
    console *con = console_open();
    int rc = con ? cli_load_model(o, false, &st.m) : CLI_ERR;
    if (!rc) rc = cli_make_ctx(o, st.m, &st.c);
    if (rc) goto done;
    latte_sampler_params sp = gen_sampler_params(o);
    if (!(st.s = latte_sampler_init(&sp)) || (o->system && push_msg(&st, "system", o->system))) {
        fprintf(stderr, "error: out of memory\n");
        rc = CLI_ERR;
        goto done;
    }
    if (o->seed < 0 && sp.temp > 0 && console_is_tty(con)) fprintf(stderr, "seed: %llu\n", (unsigned long long)sp.seed);
    /* check the template once, before any input is read */
    {
        latte_chat_msg probe = {"user", "hi"};
        char *text = NULL;
        latte_err err = {0};
        if (latte_chat_format(st.m, o->chat_template, &probe, 1, true, &text, &err)) {
            fprintf(stderr, "error: %s\n", err.msg);
            rc = CLI_USAGE; /* a template the user must name (or named wrongly) */
            goto done;
        }
        free(text);
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C at the prompt interrupts the read */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    bool tty = console_is_tty(con);
    if (tty) fprintf(stderr, "chat: /help lists the commands; /exit or Ctrl-D quits, Ctrl-C stops an answer\n");
    if (o->prompt && handle(&st, o->prompt) < 0) { rc = CLI_ERR; goto done; }
    for (;;) {
        chat_sigint = 0;
        chat_at_prompt = 1; /* before the prompt shows: a Ctrl-C as soon as it does must quit */
        if (!tty) fflush(stdout);
        char *line = console_read(con);
        chat_at_prompt = 0;
        if (!line) {
            if (tty) printf("\n");
            break; /* EOF, or Ctrl-C at the prompt */
        }
        int h = handle(&st, line);
        free(line);
        if (h) { rc = h < 0 ? CLI_ERR : 0; break; }
    }
done:
    drop_msgs(&st, 0);
    free(st.msgs);
    free(st.toks);
    console_close(con);
    latte_sampler_free(st.s);
    latte_ctx_free(st.c);
    latte_model_free(st.m);
    return rc;
}
