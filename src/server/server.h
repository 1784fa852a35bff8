/* server.h: `latte serve`, an OpenAI-compatible HTTP server over one loaded model and one
 * context whose sequences are the parallel slots. The CLI loads the model and makes the
 * context from its flags, then hands both here; server_run returns when SIGINT or SIGTERM
 * arrives (0) or the server cannot start (a LATTE_E_* code, one line on the log). */
#ifndef LATTE_SERVER_H
#define LATTE_SERVER_H

#include <latte.h>
#include <stddef.h>
#include <stdio.h>

#define SERVER_SEED_RANDOM UINT64_MAX

typedef struct server_params {
    const char *host;           /* address to bind (IPv4 or IPv6 literal) */
    int port;                   /* 0: any free port (the one taken is printed) */
    const char *api_key;        /* NULL: no key asked */
    const char *alias;          /* the model id clients see; NULL: the file name */
    const char *model_path;
    const char *chat_template;  /* NULL: the model's */
    const char *slot_save_path; /* folder for slot save/restore; NULL: off */
    int max_queue;              /* requests waiting for a slot before 503 */
    size_t max_body;            /* bytes of a request body before 413 */
    int prompt_chunk;           /* prompt tokens decoded per step over all slots */
    int n_predict;              /* default max tokens (-1: until end of text / full slot) */
    latte_sampler_params sp;    /* default sampling (requests override); seed SERVER_SEED_RANDOM: one per request */
    int timeout_s;              /* seconds a connection may stay idle */
} server_params;

int server_run(latte_model *m, latte_ctx *c, const server_params *p, FILE *log);

#endif
