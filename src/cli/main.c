/* main.c: `latte <command> [flags]` dispatch. Exit codes: 0 ok, 1 runtime error (one
 * line on stderr), 2 bad usage. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(const cli_opts *o);
    const char *help;
} COMMANDS[] = {
    {"run", cmd_run, "generate text from a prompt"},
    {"chat", cmd_chat, "interactive chat"},
    {"logits", cmd_logits, "write float32 logits for given token ids"},
    {"info", cmd_info, "describe a model file"},
    {"tokenize", cmd_tokenize, "text to token ids"},
    {"bench", cmd_bench, "prompt processing and generation speed"},
};

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        printf("latte: LLM inference for MLA (DeepSeek) and other GGUF models\n\nusage: latte <command> [flags]\n\n");
        for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
            printf("  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].help);
        printf("\n`latte <command> --help` lists the flags.\n");
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) {
        if (strcmp(argv[1], COMMANDS[i].name)) continue;
        cli_opts o;
        int rc = cli_parse(argc - 2, argv + 2, &o);
        if (rc) return rc;
        if (o.help) {
            cli_usage(argv[1]);
            return 0;
        }
        return COMMANDS[i].fn(&o);
    }
    fprintf(stderr, "error: unknown command '%s' (try `latte --help`)\n", argv[1]);
    return 2;
}
