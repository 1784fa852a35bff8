/* console.c: message input for `latte chat`. On a terminal, libedit's readline() edits the
 * line (arrows, Ctrl-A/E/K/W, history with up/down) in raw mode, so the kernel's 4 KB
 * canonical line limit never applies; elsewhere getline() reads lines of any length. Joining
 * continued lines is done here, so the caller sees whole messages. */
#include "console.h"

#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

struct console {
    bool tty;
    char *line; /* getline's buffer */
    size_t cap;
};

console *console_open(void) {
    console *c = calloc(1, sizeof *c);
    if (c) c->tty = isatty(0) && isatty(1);
    /* libedit decodes keys by the locale's character set, and drops what it cannot decode: in
     * the "C" locale every non-ASCII character would vanish. Messages are UTF-8 whatever the
     * environment says, so the editor reads UTF-8. */
    if (c && c->tty) {
        const char *set = setlocale(LC_CTYPE, "") ? nl_langinfo(CODESET) : "";
        if (strcmp(set, "UTF-8") && !setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "en_US.UTF-8");
    }
    return c;
}

bool console_is_tty(const console *c) { return c->tty; }

/* One line without its newline (malloc'ed), or NULL at the end of input. */
static char *read_line(console *c, const char *prompt) {
    if (c->tty) {
        char *l = readline(prompt);
        if (l && l[strspn(l, " \t")]) add_history(l);
        return l;
    }
    ssize_t n = getline(&c->line, &c->cap, stdin);
    if (n < 0) return NULL;
    while (n > 0 && (c->line[n - 1] == '\n' || c->line[n - 1] == '\r')) c->line[--n] = 0;
    return strdup(c->line);
}

/* Appends "\n" (when sep) and more to *buf; frees more. Returns -1 when out of memory. */
static int join(char **buf, char *more, bool sep) {
    size_t a = strlen(*buf), b = strlen(more);
    char *nb = realloc(*buf, a + b + 2);
    if (!nb) { free(more); return -1; }
    if (sep) nb[a++] = '\n';
    memcpy(nb + a, more, b + 1);
    free(more);
    *buf = nb;
    return 0;
}

char *console_read(console *c) {
    char *msg = read_line(c, "> ");
    if (!msg) return NULL;
    if (!strcmp(msg, "/multiline")) {
        if (c->tty) fprintf(stderr, "[multi-line message: end it with a line holding only /end]\n");
        msg[0] = 0;
        for (bool first = true;; first = false) {
            char *l = read_line(c, "... ");
            if (!l) break;
            if (!strcmp(l, "/end")) { free(l); break; }
            if (join(&msg, l, !first)) { free(msg); return NULL; }
        }
        return msg;
    }
    size_t n;
    while ((n = strlen(msg)) && msg[n - 1] == '\\') { /* a trailing backslash continues the message */
        msg[n - 1] = 0;
        char *l = read_line(c, "... ");
        if (!l) break;
        if (join(&msg, l, true)) { free(msg); return NULL; }
    }
    return msg;
}

void console_close(console *c) {
    if (!c) return;
    free(c->line);
    free(c);
}
