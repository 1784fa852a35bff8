/* common.c: what several commands share: the default model path, loading a model and
 * making a context from the engine flags (with a warning for each flag that does nothing
 * or too much on this model or machine), reading files, UTF-8 checks, a clock, --version. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#ifndef LATTE_VERSION
#define LATTE_VERSION "0.1.0"
#endif
#ifndef LATTE_GIT
#define LATTE_GIT "unknown"
#endif

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_print_version(void) {
    char info[512];
    latte_system_info(info, sizeof info);
    printf("latte %s (git %s)\nbuilt with %s, C %ld\n%s\n", LATTE_VERSION, LATTE_GIT,
#ifdef __clang__
           "clang " __clang_version__,
#elif defined(__GNUC__)
           "gcc " __VERSION__,
#else
           "an unknown compiler",
#endif
           (long)__STDC_VERSION__, info);
}

const char *cli_default_model_path(void) {
    static char path[4096];
    const char *cache = getenv("LATTE_CACHE");
    const char *home = getenv("HOME");
    if (cache && *cache) snprintf(path, sizeof path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", cache);
    else snprintf(path, sizeof path, "%s/.cache/latte/SmolLM2-135M-Instruct.Q4_1.gguf", home ? home : ".");
    return path;
}

char *cli_read_file(const char *path, size_t *len) {
    bool is_stdin = !strcmp(path, "-");
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "error: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *nb = realloc(buf, (cap *= 2) + 1);
        if (!nb) free(buf);
        buf = nb;
    }
    int e = ferror(f) ? errno : 0;
    if (!is_stdin) fclose(f);
    if (!buf || e) {
        fprintf(stderr, "error: %s: %s\n", is_stdin ? "stdin" : path, buf ? strerror(e) : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

size_t cli_utf8_invalid_at(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!k || i + k > n || (k == 2 && c < 0xC2) || (k == 4 && c > 0xF4)) return i;
        uint32_t cp = k == 1 ? c : c & (0x7F >> k);
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        /* overlong 3/4-byte forms, surrogates, past U+10FFFF */
        if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += k;
    }
    return n;
}

static void progress(float done, void *user) {
    if (isatty(2)) fprintf(stderr, "\rloading %s: %3.0f%%%s", (const char *)user, done * 100, done >= 1 ? "\n" : "");
}

int cli_load_model(const cli_opts *o, bool vocab_only, latte_model **m) {
    const char *path = o->model;
    if (!path) {
        path = cli_default_model_path();
        if (access(path, R_OK) != 0) {
            fprintf(stderr, "error: no model given and the built-in default is not installed at %s "
                            "(run `make setup` or pass -m MODEL)\n", path);
            return CLI_ERR;
        }
    }
    /* -mla only when given: a command without the flag must not warn about it */
    latte_model_params mp = {.path = path, .vocab_only = vocab_only, .mla = cli_given(o, "-mla") ? o->mla : -1,
                             .log = stderr, .progress = progress, .progress_user = (void *)path,
                             .place = cli_place_params(o)};
    latte_err err = {0};
    if (latte_model_load(m, &mp, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return err.code == LATTE_E_ARG ? CLI_USAGE : CLI_ERR;
    }
    return 0;
}

latte_place_params cli_place_params(const cli_opts *o) {
    return (latte_place_params){.n_gpu_layers = o->n_gpu_layers, .n_cpu_moe = o->n_cpu_moe, .main_gpu = o->main_gpu,
                                .overrides = o->overrides.v, .n_overrides = o->overrides.n,
                                .fake_devices = o->fake_devices.v, .n_fake = o->fake_devices.n, .n_ctx = o->n_ctx,
                                .mla = o->mla, .type_k = o->type_k, .type_v = o->type_v};
}

static int parse_ser(const char *s, latte_ctx_params *cp) {
    char *end;
    errno = 0;
    long k = strtol(s, &end, 10);
    float t = *end == ',' ? strtof(end + 1, &end) : -1;
    if (errno || *end || k < 0 || k > 256 || !(t >= 0 && t <= 1)) {
        fprintf(stderr, "error: -ser '%s': expected Kmin,t with Kmin in [0, 256] and t in [0, 1]\n", s);
        return CLI_USAGE;
    }
    cp->ser_kmin = (int)k;
    cp->ser_thresh = t;
    return 0;
}

/* One line for each engine flag that does nothing or harm on this model and machine. */
static void warn_flags(const cli_opts *o, const latte_model *m, const latte_ctx *c) {
    latte_model_info mi;
    latte_model_get_info(m, &mi);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->n_ctx > mi.n_ctx_train && mi.n_ctx_train > 0)
        fprintf(stderr, "warning: -c %d is above the model's training context (%d): text past it may degrade\n",
                o->n_ctx, mi.n_ctx_train);
    if (cores > 0 && o->n_threads > cores)
        fprintf(stderr, "warning: -t %d is more than the %ld cores here: threads will wait on each other\n",
                o->n_threads, cores);
    int mode = latte_ctx_mla_mode(c);
    if (cli_given(o, "-ctv") && (mode == 2 || mode == 3))
        fprintf(stderr, "warning: -ctv changes nothing: MLA mode %d keeps no V cache (only -ctk applies)\n", mode);
    if (cli_given(o, "-ctv") && mode == 1)
        fprintf(stderr, "warning: -ctv changes nothing: MLA mode 1's transposed latent copy is f16 (f32 or bf16 with "
                        "that -ctk), the latent rows take -ctk\n");
    if (o->ser && mi.n_expert == 0)
        fprintf(stderr, "warning: -ser changes nothing: the model has no routed experts\n");
}

int cli_make_ctx(const cli_opts *o, latte_model *m, latte_ctx **c) {
    latte_ctx_params cp = latte_ctx_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_seq = o->token_lists.n > 1 ? o->token_lists.n : 1; /* logits: a sequence per list */
    if (o->n_parallel > 0) cp.n_seq = o->n_parallel;        /* serve: a sequence per slot */
    if (o->n_seq > 1) { /* perplexity: a sequence per chunk, each of -c positions */
        cp.n_seq = o->n_seq;
        cp.n_ctx = o->n_ctx * o->n_seq;
    }
    cp.n_batch = o->n_batch;
    cp.n_ubatch = o->n_ubatch;
    cp.n_threads = o->n_threads;
    cp.mla = o->mla;
    cp.flash_attn = o->fa == 1; /* auto (-1): off, latte's default */
    cp.type_k = o->type_k;
    cp.type_v = o->type_v;
    cp.k_cache_hadamard = o->k_hadamard;
    cp.log = stderr;
    if (o->ser && parse_ser(o->ser, &cp)) return CLI_USAGE;
    latte_err err = {0};
    if (latte_ctx_init(c, m, &cp, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return err.code == LATTE_E_ARG ? CLI_USAGE : CLI_ERR;
    }
    warn_flags(o, m, *c);
    if (latte_model_n_devices(m) > 1 && !o->quiet_ctx) {
        fprintf(stderr, "devices:");
        for (int d = 0; d < latte_model_n_devices(m); d++) fprintf(stderr, " %s", latte_model_device_name(m, d));
        fprintf(stderr, "\n");
    }
    if (!o->quiet_ctx)
        fprintf(stderr, "attention: %s; KV cache %.2f MiB for %d tokens%s\n", latte_ctx_attention_desc(*c),
                latte_ctx_kv_bytes(*c) / 1048576.0, latte_ctx_n_ctx(*c), latte_ctx_n_seq(*c) > 1 ? " per sequence" : "");
    return 0;
}
