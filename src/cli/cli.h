/* cli.h: the command-line front end. Flags are data: each command has its own table of flag
 * groups (flags.c), and that one table drives parsing, defaults and --help (args.c). Each
 * command lives in its own file and sees only latte.h. Only this folder prints for users and
 * chooses exit codes: 0 ok, 1 runtime error, 2 usage error, 130 interrupted (Ctrl-C). */
#ifndef LATTE_CLI_H
#define LATTE_CLI_H

#include <latte.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_MAX_LIST 64 /* values of one list or repeatable flag */
#define CLI_MAX_GIVEN 128

enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2, CLI_INTERRUPTED = 130 };

/* The kinds of flag value. */
typedef enum {
    CLI_STR,        /* one string */
    CLI_INT,        /* one integer in [lo, hi] */
    CLI_FLOAT,      /* one finite number in [lo, hi] (lo excluded when lo_open) */
    CLI_SEED,       /* an integer >= -1 (-1: random) into a long long */
    CLI_BOOL,       /* no value: sets true */
    CLI_CHOICE,     /* one name of choices, stored as its int value */
    CLI_OPT_CHOICE, /* like CLI_CHOICE, but the value may be left out (then: choices[0]) */
    CLI_STRS,       /* repeatable: each use appends one string */
    CLI_INTS,       /* comma list of integers, ranges A-B, A-B+S, A-B*M, or choice names; repeatable */
    CLI_PAIRS,      /* repeatable "A,B" pairs of integers, appended to a cli_ints two by two */
    CLI_NOTE,       /* accepted, changes nothing here: prints the help text as a note */
    CLI_NOTE_VALUE, /* the same, for a flag that takes a value */
} cli_type;

typedef struct cli_choice {
    const char *name;
    int value;
} cli_choice;

typedef struct cli_flag {
    const char *s, *l;          /* short and long spelling (either may be NULL) */
    cli_type type;
    size_t off;                 /* the field of cli_opts it fills */
    double lo, hi;              /* numeric range */
    const cli_choice *choices;  /* CLI_CHOICE, CLI_OPT_CHOICE, CLI_INTS by name; ends with {NULL} */
    const char *meta;           /* the value's name in --help ("N", "TEXT") */
    const char *def;            /* the default, parsed like a user's value before argv; NULL: none */
    const char *help;
    bool lo_open;               /* the range excludes lo */
} cli_flag;

typedef struct cli_group {
    const char *title;
    const cli_flag *flags;
    size_t n;
} cli_group;

typedef struct cli_opts cli_opts;

typedef struct cli_command {
    const char *name;
    int (*fn)(const cli_opts *o);
    const char *usage;          /* after "latte NAME " */
    const char *summary;
    const cli_group *const *groups; /* NULL-terminated */
    const char *positional;     /* the positional argument(s) it takes ("MODEL" fills -m), or NULL */
    int n_positional;           /* how many (0: one); the first fills -m, the rest go to cli_opts.args */
} cli_command;

typedef struct cli_strs {
    int n;
    const char *v[CLI_MAX_LIST];
} cli_strs;

typedef struct cli_ints {
    int n;
    int v[CLI_MAX_LIST];
} cli_ints;

struct cli_opts {
    const cli_command *cmd;
    /* model and engine */
    const char *model, *ser;
    int n_ctx, n_batch, n_ubatch, n_threads, mla, fa, type_k, type_v;
    bool k_hadamard;
    /* text in, text out */
    const char *prompt, *file, *system, *chat_template;
    bool escape, no_escape, no_bos, no_special, chat, cnv, no_cnv, color, show_speed, ids, raw;
    cli_strs stops;             /* --stop and -r */
    int n_predict;
    /* sampling */
    float temp, top_p, min_p, repeat_penalty, presence_penalty, frequency_penalty;
    int top_k, repeat_last_n;
    long long seed;             /* -1: random */
    /* logits: each --tokens list its own sequence */
    cli_strs token_lists;
    const char *out;
    bool incremental;
    /* placement (and info --plan) */
    cli_strs overrides, fake_devices;
    int n_gpu_layers, n_cpu_moe, main_gpu;
    bool plan;
    /* bench (lists: one run per combination) */
    cli_strs models;
    cli_ints n_prompt, n_gen, pg, depth, threads, mlas, fas, ctks, ctvs, ubatches, batches;
    int reps, output;
    bool no_warmup;
    /* serve */
    const char *host, *api_key, *alias, *slot_save_path;
    int port, n_parallel, max_queue, timeout, prompt_chunk;
    const char *plot;           /* bench --plot FILE.svg */
    /* synth, quantize, perplexity */
    const char *like, *imatrix, *kl_base, *out_type, *embd_type;
    int n_layers, wtype, n_chunks;
    bool kl, pure, score_all, mainline;
    cli_strs args;              /* positional arguments after the first */
    cli_strs qoverrides;        /* quantize --override REGEX=TYPE */
    bool help;
    bool quiet_ctx;             /* not a flag: cli_make_ctx leaves out its "attention:" line (bench) */
    int n_seq;                  /* not a flag: > 1 makes cli_make_ctx give each of n_seq sequences -c positions */
    /* the flags the user gave (for "only with X" checks and warnings) */
    const cli_flag *given[CLI_MAX_GIVEN];
    int n_given;
};

/* The command registry (flags.c), ended by a {NULL} row. */
extern const cli_command CLI_COMMANDS[];

/* Parses argv (the words after the command) into o per cmd's table, defaults first. Returns
 * 0, or CLI_USAGE after one "error:" line on stderr (a flag of another command is named as
 * such). Notes for accepted no-op flags go to stderr. */
int cli_parse(const cli_command *cmd, int argc, char **argv, cli_opts *o);
/* --help of one command: usage, every flag with its default. */
void cli_usage(const cli_command *cmd);
/* True when the user gave the flag spelled name (either spelling of it). */
bool cli_given(const cli_opts *o, const char *name);

/* Model and context from the common flags; print errors themselves, return exit codes. */
int cli_load_model(const cli_opts *o, bool vocab_only, latte_model **m);
int cli_make_ctx(const cli_opts *o, latte_model *m, latte_ctx **c);
/* The placement flags as the engine takes them. */
latte_place_params cli_place_params(const cli_opts *o);
const char *cli_default_model_path(void);
double cli_now(void);
/* Reads a whole file ("-" is stdin) into a malloc'ed, NUL-terminated buffer; *len excludes
 * the terminator. Prints "error: PATH: <OS reason>" itself and returns NULL on failure. */
char *cli_read_file(const char *path, size_t *len);
/* The offset of the first byte of s[0..n) that is not part of valid UTF-8, or n. */
size_t cli_utf8_invalid_at(const char *s, size_t n);
/* The progress line of synth and quantize (a latte_tool_progress; user: the command's name). */
void cli_file_progress(uint64_t done, uint64_t total, const char *tensor, void *user);
/* Prints the version and the build (CPU features, backends) to stdout. */
void cli_print_version(void);

int cmd_logits(const cli_opts *o);
int cmd_info(const cli_opts *o);
int cmd_tokenize(const cli_opts *o);
int cmd_run(const cli_opts *o);
int cmd_chat(const cli_opts *o);
int cmd_bench(const cli_opts *o);
int cmd_serve(const cli_opts *o);
int cmd_synth(const cli_opts *o);
int cmd_quantize(const cli_opts *o);
int cmd_perplexity(const cli_opts *o);

#endif
