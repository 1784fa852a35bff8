/* args.c: the flag table (ik_llama.cpp spellings) and its parser. Every value is
 * checked: numbers must parse whole and lie in range, unknown flags are errors. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef enum { T_STR, T_INT, T_FLOAT, T_BOOL, T_U64, T_STOP, T_TOKENS, T_OT, T_FAKE } flag_type;

typedef struct flag {
    const char *s, *l; /* short and long spellings (either may be NULL) */
    flag_type type;
    size_t off;
    double lo, hi;     /* numeric range */
    const char *help;
} flag;

#define O(f) offsetof(cli_opts, f)
static const flag FLAGS[] = {
    {"-m", "--model", T_STR, O(model), 0, 0, "model file (GGUF); default: the built-in SmolLM2-135M-Instruct"},
    {"-p", "--prompt", T_STR, O(prompt), 0, 0, "prompt text"},
    {"-f", "--file", T_STR, O(file), 0, 0, "read the prompt/text from a file"},
    {"-n", "--n-predict", T_INT, O(n_predict), -1, 1 << 30, "tokens to generate (-1: until end of text)"},
    {"-c", "--ctx-size", T_INT, O(n_ctx), 0, 1 << 30, "context size in tokens (0: min(training, 4096))"},
    {"-b", "--batch-size", T_INT, O(n_batch), 1, 1 << 20, "logical batch size"},
    {"-ub", "--ubatch-size", T_INT, O(n_ubatch), 1, 1 << 20, "micro-batch size (tokens per forward pass)"},
    {"-t", "--threads", T_INT, O(n_threads), 0, 256, "threads (0: all cores)"},
    {"-mla", "--mla-use", T_INT, O(mla), 0, 3, "MLA mode: 0 off, 1 transposed cache, 2 rows, 3 fused (default)"},
    {"-fa", "--flash-attn", T_BOOL, O(fa), 0, 0, "flash attention (online softmax)"},
    {"-ctk", "--cache-type-k", T_STR, O(ctk), 0, 0, "K (or latent) cache type: f32, f16, bf16, q8_0, q4_0"},
    {"-ctv", "--cache-type-v", T_STR, O(ctv), 0, 0, "V cache type"},
    {"-ser", "--smart-expert-reduction", T_STR, O(ser), 0, 0, "Kmin,t: fewer active experts"},
    {"-s", "--seed", T_U64, O(seed), 0, 0, "random seed"},
    {NULL, "--temp", T_FLOAT, O(temp), 0, 100, "temperature (0: greedy)"},
    {NULL, "--top-k", T_INT, O(top_k), 0, 1 << 30, "top-k (0: off)"},
    {NULL, "--top-p", T_FLOAT, O(top_p), 0, 1, "top-p (1: off)"},
    {NULL, "--min-p", T_FLOAT, O(min_p), 0, 1, "min-p (0: off)"},
    {NULL, "--repeat-penalty", T_FLOAT, O(repeat_penalty), 0, 100, "repetition penalty (1: off)"},
    {NULL, "--repeat-last-n", T_INT, O(repeat_last_n), -1, 1 << 30, "tokens looked back by penalties"},
    {NULL, "--presence-penalty", T_FLOAT, O(presence_penalty), -100, 100, "presence penalty"},
    {NULL, "--frequency-penalty", T_FLOAT, O(frequency_penalty), -100, 100, "frequency penalty"},
    {NULL, "--stop", T_STOP, 0, 0, 0, "stop string (repeatable)"},
    {NULL, "--chat-template", T_STR, O(chat_template), 0, 0, "chat template name (chatml, deepseek3, ...)"},
    {NULL, "--chat", T_BOOL, O(chat), 0, 0, "run: wrap the prompt as one user message in the chat template"},
    {"-sys", "--system-prompt", T_STR, O(system), 0, 0, "system prompt for chat"},
    {NULL, "--tokens", T_TOKENS, 0, 0, 0, "logits: comma-separated token ids (repeatable: each list its own sequence, one batch)"},
    {"-ngl", "--n-gpu-layers", T_INT, O(n_gpu_layers), 0, 1 << 20, "layers on the GPU (the last N; above the layer count the output too)"},
    {"-ot", "--override-tensor", T_OT, 0, 0, 0, "REGEX=DEVICE: tensors whose name matches go there (repeatable, first match wins)"},
    {NULL, "--n-cpu-moe", T_INT, O(n_cpu_moe), 0, 1 << 20, "routed experts of the first N layers stay on the CPU"},
    {"-mg", "--main-gpu", T_INT, O(main_gpu), 0, 1024, "the GPU for what is not split"},
    {NULL, "--fake-device", T_FAKE, 0, 0, 0, "info --plan: also plan for a device NAME:BYTES (e.g. CUDA0:24G)"},
    {NULL, "--plan", T_BOOL, O(plan), 0, 0, "info: print the placement plan"},
    {"-np", "--parallel", T_INT, O(n_seq), 1, 65536, "sequences held at once, each with -c / -np positions"},
    {"-o", "--output", T_STR, O(out), 0, 0, "logits: output file (float32 [n_tokens][n_vocab])"},
    {NULL, "--incremental", T_BOOL, O(incremental), 0, 0, "logits: decode one token per step"},
    {NULL, "--ids", T_BOOL, O(ids), 0, 0, "tokenize: print ids as a JSON array"},
    {NULL, "--no-bos", T_BOOL, O(no_bos), 0, 0, "tokenize: do not add BOS"},
    {NULL, "--no-parse-special", T_BOOL, O(no_special), 0, 0, "treat control-token text as plain text"},
    {"-pp", "--n-prompt", T_INT, O(n_pp), 0, 1 << 20, "bench: prompt tokens"},
    {"-tg", "--n-gen", T_INT, O(n_tg), 0, 1 << 20, "bench: generated tokens"},
    {"-r", "--repetitions", T_INT, O(reps), 1, 1000, "bench: repetitions"},
    {"-v", "--verbose", T_BOOL, O(verbose), 0, 0, "more output"},
    {"-h", "--help", T_BOOL, O(help), 0, 0, "this help"},
};
#undef O

static void defaults(cli_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->n_seq = 1;
    o->n_gpu_layers = -1;
    o->n_batch = 2048;
    o->n_ubatch = 512;
    o->mla = -1;
    o->seed = 0xC0FFEE;
    o->temp = 0.8f, o->top_k = 40, o->top_p = 0.95f, o->min_p = 0.05f;
    o->repeat_penalty = 1.0f, o->repeat_last_n = 64;
    o->n_pp = 512, o->n_tg = 128, o->reps = 1;
}

void cli_usage(const char *cmd) {
    printf("usage: latte %s [flags]\n", cmd ? cmd : "<command>");
    if (!cmd)
        printf("commands: run, chat, logits, info, tokenize, bench\n");
    for (size_t i = 0; i < sizeof FLAGS / sizeof FLAGS[0]; i++)
        printf("  %-5s %-28s %s\n", FLAGS[i].s ? FLAGS[i].s : "", FLAGS[i].l ? FLAGS[i].l : "", FLAGS[i].help);
}

static int bad(const char *flag, const char *val, const char *why) {
    fprintf(stderr, "error: %s '%s': %s\n", flag, val, why);
    return 2;
}

static int set(const flag *f, const char *name, const char *v, cli_opts *o) {
    char *end;
    void *dst = (char *)o + f->off;
    errno = 0;
    switch (f->type) {
    case T_STR: *(const char **)dst = v; return 0;
    case T_STOP:
        if (o->n_stops >= CLI_MAX_STOPS) return bad(name, v, "too many stop strings");
        if (!*v) return bad(name, v, "empty stop string");
        o->stops[o->n_stops++] = v;
        return 0;
    case T_OT:
        if (o->n_overrides >= CLI_MAX_RULES) return bad(name, v, "too many -ot rules");
        o->overrides[o->n_overrides++] = v;
        return 0;
    case T_FAKE:
        if (o->n_fake >= CLI_MAX_RULES) return bad(name, v, "too many fake devices");
        o->fake_devices[o->n_fake++] = v;
        return 0;
    case T_TOKENS:
        if (o->n_token_lists >= CLI_MAX_SEQS) return bad(name, v, "too many token lists");
        o->token_lists[o->n_token_lists++] = v;
        o->tokens = o->token_lists[0];
        return 0;
    case T_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end) return bad(name, v, "not an integer");
        if (x < f->lo || x > f->hi) {
            char why[96];
            snprintf(why, sizeof why, "must be in [%.0f, %.0f]", f->lo, f->hi);
            return bad(name, v, why);
        }
        *(int *)dst = (int)x;
        return 0;
    }
    case T_U64: {
        if (*v == '-') return bad(name, v, "must not be negative");
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end) return bad(name, v, "not an unsigned integer");
        *(uint64_t *)dst = x;
        return 0;
    }
    case T_FLOAT: {
        float x = strtof(v, &end);
        if (errno || end == v || *end || !isfinite(x)) return bad(name, v, "not a number");
        if (x < f->lo || x > f->hi) {
            char why[96];
            snprintf(why, sizeof why, "must be in [%g, %g]", f->lo, f->hi);
            return bad(name, v, why);
        }
        *(float *)dst = x;
        return 0;
    }
    case T_BOOL: *(bool *)dst = true; return 0;
    }
    return 2;
}

int cli_parse(int argc, char **argv, cli_opts *o) {
    defaults(o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == 0) {
            if (o->n_positional >= 4) return bad("argument", a, "too many arguments");
            o->positional[o->n_positional++] = a;
            continue;
        }
        /* --flag=value */
        char name[64];
        const char *eq = strchr(a, '=');
        const char *val = NULL;
        size_t nl = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name) return bad("flag", a, "unknown flag (see --help)");
        memcpy(name, a, nl);
        name[nl] = 0;
        if (eq && a[1] == '-') val = eq + 1;
        const flag *f = NULL;
        for (size_t k = 0; k < sizeof FLAGS / sizeof FLAGS[0] && !f; k++)
            if ((FLAGS[k].s && !strcmp(FLAGS[k].s, name)) || (FLAGS[k].l && !strcmp(FLAGS[k].l, name))) f = &FLAGS[k];
        if (!f) return bad("flag", name, "unknown flag (see --help)");
        if (f->type == T_BOOL) {
            if (val) return bad(name, val, "takes no value");
        } else if (!val) {
            if (i + 1 >= argc) return bad("flag", name, "needs a value");
            val = argv[++i];
        }
        int rc = set(f, name, val ? val : "", o);
        if (rc) return rc;
    }
    return 0;
}
