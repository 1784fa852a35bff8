/* quantize.c: `latte quantize [flags] IN.gguf OUT.gguf TYPE [NTHREADS]` (llama-quantize's
 * positional form): re-writes a model with other weight types (latte_quantize), progress
 * on stderr, then a summary of bytes per type. */
#include <latte_tools.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cmd_quantize(const cli_opts *o) {
    if (!o->model || o->args.n < 2) {
        fprintf(stderr, "error: quantize needs IN.gguf OUT.gguf TYPE (latte quantize --help)\n");
        return CLI_USAGE;
    }
    if (o->imatrix) {
        fprintf(stderr, "error: --imatrix is not supported yet: quantize without it (plain least-squares scales)\n");
        return CLI_USAGE;
    }
    int n_threads = o->n_threads;
    if (o->args.n == 3) {
        char *end;
        long n = strtol(o->args.v[2], &end, 10);
        if (*end || n < 1 || n > 1024) {
            fprintf(stderr, "error: NTHREADS '%s' must be an integer in [1, 1024]\n", o->args.v[2]);
            return CLI_USAGE;
        }
        n_threads = (int)n;
    }
    if (!strcmp(o->model, o->args.v[0])) {
        fprintf(stderr, "error: quantize would overwrite its input %s\n", o->model);
        return CLI_USAGE;
    }
    /* --output-tensor-type and --token-embedding-type are overrides ahead of the user's */
    const char *rules[CLI_MAX_LIST + 2];
    char out_rule[64], embd_rule[64];
    int n = 0;
    if (o->out_type) {
        snprintf(out_rule, sizeof out_rule, "^output\\.weight$=%s", o->out_type);
        rules[n++] = out_rule;
    }
    if (o->embd_type) {
        snprintf(embd_rule, sizeof embd_rule, "^token_embd\\.weight$=%s", o->embd_type);
        rules[n++] = embd_rule;
    }
    for (int i = 0; i < o->qoverrides.n; i++) rules[n++] = o->qoverrides.v[i];
    latte_quantize_params p = {.in = o->model, .out = o->args.v[0], .ftype = o->args.v[1], .overrides = rules,
                               .n_overrides = n, .pure = o->pure, .n_threads = n_threads,
                               .progress = cli_file_progress, .progress_user = "quantize", .summary = stderr};
    double t0 = cli_now();
    latte_err err = {0};
    if (latte_quantize(&p, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return err.code == LATTE_E_ARG ? CLI_USAGE : CLI_ERR;
    }
    fprintf(stderr, "quantize: done in %.1f s\n", cli_now() - t0);
    return 0;
}
