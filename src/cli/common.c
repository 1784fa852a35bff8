/* common.c: what several commands share: the default model path, loading a model and
 * making a context from the common flags, cache type names, a clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

const char *cli_default_model_path(void) {
    static char path[4096];
    const char *cache = getenv("LATTE_CACHE");
    const char *home = getenv("HOME");
    if (cache && *cache) snprintf(path, sizeof path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
    else snprintf(path, sizeof path, "%s/.cache/latte/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : ".");
    return path;
}

int cli_cache_type(const char *name, int *out) {
    static const struct { const char *n; int id; } T[] = {
        {"f32", 0}, {"f16", 1}, {"bf16", 30}, {"q8_0", 8}, {"q4_0", 2},
    };
    if (!name) { *out = -1; return 0; }
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(T[i].n, name)) { *out = T[i].id; return 0; }
    fprintf(stderr, "error: unknown cache type '%s' (use f32, f16, bf16, q8_0 or q4_0)\n", name);
    return 2;
}

static void progress(float done, void *user) {
    if (isatty(2)) fprintf(stderr, "\rloading %s: %3.0f%%%s", (const char *)user, done * 100, done >= 1 ? "\n" : "");
}

int cli_load_model(const cli_opts *o, bool vocab_only, latte_model **m) {
    const char *path = o->model ? o->model : o->n_positional ? o->positional[0] : NULL;
    if (!path) {
        path = cli_default_model_path();
        if (access(path, R_OK) != 0) {
            fprintf(stderr, "error: no model given and the built-in default is not installed at %s "
                            "(run `make setup` or pass -m MODEL)\n", path);
            return 1;
        }
    }
    latte_model_params mp = {.path = path, .vocab_only = vocab_only, .mla = o->mla, .log = stderr,
                             .progress = progress, .progress_user = (void *)path, .place = cli_place_params(o)};
    if (cli_cache_type(o->ctk, &mp.place.type_k) || cli_cache_type(o->ctv, &mp.place.type_v)) return 2;
    latte_err err = {0};
    if (latte_model_load(m, &mp, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return err.code == LATTE_E_ARG ? 2 : 1;
    }
    return 0;
}

int cli_make_ctx(const cli_opts *o, latte_model *m, latte_ctx **c) {
    latte_ctx_params cp = latte_ctx_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_seq = o->n_seq;
    cp.n_batch = o->n_batch;
    cp.n_ubatch = o->n_ubatch;
    cp.n_threads = o->n_threads;
    cp.mla = o->mla;
    cp.flash_attn = o->fa;
    cp.log = stderr;
    if (cli_cache_type(o->ctk, &cp.type_k) || cli_cache_type(o->ctv, &cp.type_v)) return 2;
    if (o->ser) {
        char *end;
        long k = strtol(o->ser, &end, 10);
        float t = *end == ',' ? strtof(end + 1, &end) : -1;
        if (*end || k < 0 || k > 256 || t < 0 || t > 1) {
            fprintf(stderr, "error: -ser '%s': expected Kmin,t with Kmin >= 0 and t in [0, 1]\n", o->ser);
            return 2;
        }
        cp.ser_kmin = (int)k;
        cp.ser_thresh = t;
    }
    latte_err err = {0};
    if (latte_ctx_init(c, m, &cp, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return err.code == LATTE_E_ARG ? 2 : 1;
    }
    if (latte_model_n_devices(m) > 1) {
        fprintf(stderr, "devices:");
        for (int d = 0; d < latte_model_n_devices(m); d++) fprintf(stderr, " %s", latte_model_device_name(m, d));
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "attention: %s; KV cache %.2f MiB for %d tokens\n", latte_ctx_attention_desc(*c),
                latte_ctx_kv_bytes(*c) / 1048576.0, latte_ctx_n_ctx(*c));
    return 0;
}
