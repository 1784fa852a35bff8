/* info.c: `latte info MODEL [--plan placement flags]`: needs only the metadata and the
 * tensor directory. --plan prints where each weight would live (latte_model_plan). */
#include "cli.h"

/* the placement flags as the engine takes them */
latte_place_params cli_place_params(const cli_opts *o) {
    return (latte_place_params){.n_gpu_layers = o->n_gpu_layers, .n_cpu_moe = o->n_cpu_moe, .main_gpu = o->main_gpu,
                                .overrides = o->overrides, .n_overrides = o->n_overrides,
                                .fake_devices = o->fake_devices, .n_fake = o->n_fake, .n_ctx = o->n_ctx,
                                .mla = o->mla, .type_k = -1, .type_v = -1};
}

int cmd_info(const cli_opts *o) {
    latte_model *m = NULL;
    int rc = cli_load_model(o, true, &m);
    if (rc) return rc;
    if (o->plan) {
        latte_place_params pp = cli_place_params(o);
        if (cli_cache_type(o->ctk, &pp.type_k) || cli_cache_type(o->ctv, &pp.type_v)) rc = 2;
        latte_err err = {0};
        if (!rc && latte_model_plan(m, &pp, stdout, &err)) {
            fprintf(stderr, "error: %s\n", err.msg);
            rc = err.code == LATTE_E_ARG ? 2 : 1;
        }
    } else {
        latte_model_describe(m, stdout);
    }
    latte_model_free(m);
    return rc;
}
