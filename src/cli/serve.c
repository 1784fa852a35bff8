/* serve.c: `latte serve [-m MODEL] [--host ADDR] [--port N] [-np N] [-c N] ...`: loads the
 * model, makes a context with one sequence per slot and runs the server (src/server) until
 * SIGINT or SIGTERM, which end it with exit status 0. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "../server/server.h"
#include "generate.h"

/* A template named with --chat-template must exist; a model without one serves completions
 * only, which a warning says once. */
static int check_template(const cli_opts *o, const latte_model *m) {
    latte_chat_msg probe = {"user", "hi"};
    char *text = NULL;
    latte_err err = {0};
    int rc = latte_chat_format(m, o->chat_template, &probe, 1, true, &text, &err);
    free(text);
    if (!rc) return 0;
    if (o->chat_template) {
        fprintf(stderr, "error: %s\n", err.msg);
        return CLI_USAGE;
    }
    fprintf(stderr, "warning: chat requests will fail: %s\n", err.msg);
    return 0;
}

int cmd_serve(const cli_opts *o) {
    if (o->slot_save_path) {
        struct stat st;
        if (stat(o->slot_save_path, &st) || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "error: --slot-save-path %s is not a folder\n", o->slot_save_path);
            return CLI_USAGE;
        }
    }
    latte_model *m = NULL;
    latte_ctx *c = NULL;
    int rc = cli_load_model(o, false, &m);
    if (!rc) rc = cli_make_ctx(o, m, &c);
    if (!rc) rc = check_template(o, m);
    if (!rc) {
        server_params p = {.host = o->host, .port = o->port, .api_key = o->api_key, .alias = o->alias,
                           .model_path = o->model ? o->model : cli_default_model_path(),
                           .chat_template = o->chat_template, .slot_save_path = o->slot_save_path,
                           .max_queue = o->max_queue, .max_body = 8u << 20, .prompt_chunk = o->prompt_chunk,
                           .n_predict = o->n_predict, .sp = gen_sampler_params(o), .timeout_s = o->timeout};
        if (o->seed < 0) p.sp.seed = SERVER_SEED_RANDOM;
        rc = server_run(m, c, &p, stderr) ? CLI_ERR : 0;
    }
    latte_ctx_free(c);
    latte_model_free(m);
    return rc;
}
