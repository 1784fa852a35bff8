/* main.c: `latte <command> [flags]` dispatch over the command registry (flags.c), and
 * `latte --version`. Exit codes: 0 ok, 1 runtime error (one line on stderr), 2 bad usage,
 * 130 interrupted. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void overview(FILE *out) {
    fprintf(out, "latte: LLM inference for MLA (DeepSeek) and other GGUF models\n\nusage: latte <command> [flags]\n\n");
    for (const cli_command *c = CLI_COMMANDS; c->name; c++) fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\n`latte <command> --help` lists its flags; `latte --version` the build.\n");
}

int main(int argc, char **argv) {
    /* a closed pipe is an error on write (reported, exit 1), not a silent death */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        overview(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        overview(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        cli_print_version();
        return fflush(stdout) ? CLI_ERR : 0;
    }
    for (const cli_command *c = CLI_COMMANDS; c->name; c++) {
        if (strcmp(argv[1], c->name)) continue;
        cli_opts o;
        int rc = cli_parse(c, argc - 2, argv + 2, &o);
        if (rc) return rc;
        if (o.help) {
            cli_usage(c);
            return fflush(stdout) ? CLI_ERR : 0;
        }
        return c->fn(&o);
    }
    fprintf(stderr, "error: unknown command '%s' (try `latte --help`)\n", argv[1]);
    return CLI_USAGE;
}
