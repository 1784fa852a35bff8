/* cli.h: the command-line front end. One table of flags (args.c) drives parsing and
 * --help for every subcommand; each subcommand lives in its own file and sees only
 * latte.h. Only this folder prints for users and chooses exit codes. */
#ifndef LATTE_CLI_H
#define LATTE_CLI_H

#include <latte.h>
#include <stdbool.h>
#include <stdint.h>

#define CLI_MAX_STOPS 16
#define CLI_MAX_SEQS 256 /* logits: --tokens lists */
#define CLI_MAX_RULES 64 /* -ot rules, --fake-device */

typedef struct cli_opts {
    const char *model, *prompt, *file, *tokens, *out, *ctk, *ctv, *chat_template, *system, *ser;
    const char *stops[CLI_MAX_STOPS];
    int n_stops;
    const char *token_lists[CLI_MAX_SEQS];
    int n_token_lists;
    const char *overrides[CLI_MAX_RULES], *fake_devices[CLI_MAX_RULES];
    int n_overrides, n_fake, n_gpu_layers, n_cpu_moe, main_gpu;
    bool plan;
    int n_ctx, n_seq, n_batch, n_ubatch, n_threads, mla, n_predict, top_k, repeat_last_n, n_pp, n_tg, reps;
    bool fa, incremental, ids, no_bos, no_special, verbose, help, chat;
    float temp, top_p, min_p, repeat_penalty, presence_penalty, frequency_penalty;
    uint64_t seed;
    const char *positional[4];
    int n_positional;
} cli_opts;

/* Parses argv (after the subcommand) into o, starting from defaults. Returns 0, or
 * prints one line to stderr and returns 2 on a bad flag or value. */
int cli_parse(int argc, char **argv, cli_opts *o);
void cli_usage(const char *cmd);

/* Model and context from the common flags; print errors themselves, return exit codes. */
int cli_load_model(const cli_opts *o, bool vocab_only, latte_model **m);
int cli_make_ctx(const cli_opts *o, latte_model *m, latte_ctx **c);
int cli_cache_type(const char *name, int *out);
latte_place_params cli_place_params(const cli_opts *o);
const char *cli_default_model_path(void);
double cli_now(void);

int cmd_logits(const cli_opts *o);
int cmd_info(const cli_opts *o);
int cmd_tokenize(const cli_opts *o);
int cmd_run(const cli_opts *o);
int cmd_chat(const cli_opts *o);
int cmd_bench(const cli_opts *o);

#endif
