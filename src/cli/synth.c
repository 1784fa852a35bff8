/* synth.c: `latte synth --like NAME [--layers N] --type TYPE -o OUT.gguf [-s SEED]`: a model
 * file in a real model's shape with random weights (latte_synth), progress on stderr. */
#include <latte_tools.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_synth(const cli_opts *o) {
    if (!o->like || !o->out) {
        fprintf(stderr, "error: synth needs --like NAME and -o FILE (latte synth --help)\n");
        return CLI_USAGE;
    }
    latte_synth_params p = {.like = o->like, .out = o->out, .type = o->wtype, .n_layer = o->n_layers,
                            .seed = o->seed < 0 ? 42 : (uint64_t)o->seed, .mainline = o->mainline, .n_threads = o->n_threads,
                            .progress = cli_file_progress, .progress_user = "synth"};
    double t0 = cli_now();
    latte_err err = {0};
    if (o->mainline && (!strncmp(o->like, "qwen", 4) || !strncmp(o->like, "llama", 5)))
        fprintf(stderr, "note: --mainline changes nothing: %s has no MLA tensors\n", o->like);
    if (latte_synth(&p, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return err.code == LATTE_E_ARG ? CLI_USAGE : CLI_ERR;
    }
    fprintf(stderr, "synth: wrote %s (%s, seed %llu) in %.1f s\n", o->out, o->like,
            (unsigned long long)p.seed, cli_now() - t0);
    return 0;
}
