/* info.c: `latte info MODEL [--plan placement flags]`: needs only the metadata and the
 * tensor directory. --plan prints where each weight would live (latte_model_plan) for a
 * context of -c tokens in -mla mode with -ctk/-ctv caches. */
#include <stdio.h>

#include "cli.h"

int cmd_info(const cli_opts *o) {
    if (!o->plan && (o->fake_devices.n || o->overrides.n || cli_given(o, "-ngl") || cli_given(o, "--n-cpu-moe") ||
                     cli_given(o, "-mg") || cli_given(o, "-c") || cli_given(o, "-mla") || cli_given(o, "-ctk") ||
                     cli_given(o, "-ctv"))) {
        fprintf(stderr, "error: placement and context flags of info only go with --plan\n");
        return CLI_USAGE;
    }
    latte_model *m = NULL;
    cli_opts meta = *o;
    meta.overrides.n = 0; /* the plan is printed below, with its own errors */
    meta.n_gpu_layers = 0;
    int rc = cli_load_model(&meta, true, &m);
    if (rc) return rc;
    if (o->plan) {
        latte_place_params pp = cli_place_params(o);
        latte_err err = {0};
        if (latte_model_plan(m, &pp, stdout, &err)) {
            fprintf(stderr, "error: %s\n", err.msg);
            rc = err.code == LATTE_E_ARG ? CLI_USAGE : CLI_ERR;
        }
    } else {
        latte_model_describe(m, stdout);
    }
    latte_model_free(m);
    if (!rc && fflush(stdout)) {
        fprintf(stderr, "error: cannot write the output\n");
        return CLI_ERR;
    }
    return rc;
}
