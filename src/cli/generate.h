/* generate.h: the generation loop shared by `latte run` and `latte chat`: sample a token,
 * stream its text (whole UTF-8 characters only, holding back what could start a stop
 * string), decode it, repeat. Front-end only: sees latte.h and nothing below it. */
#ifndef LATTE_CLI_GENERATE_H
#define LATTE_CLI_GENERATE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cli.h"

typedef enum { GEN_EOG, GEN_LIMIT, GEN_STOP, GEN_CTX_FULL, GEN_INTERRUPT, GEN_ERROR } gen_end;

typedef struct gen_params {
    int n_predict;                      /* < 0: no limit */
    const char *const *stops;           /* stop strings (not printed, not kept) */
    int n_stops;
    FILE *out;                          /* streamed text goes here, flushed per token */
    FILE *reasoning;                    /* when not NULL, <think> reasoning goes here, apart from the answer */
    bool think_open;                    /* the prompt itself opened <think> (R1 templates) */
    volatile sig_atomic_t *interrupt;   /* checked per token when not NULL */
} gen_params;

typedef struct gen_result {
    gen_end end;
    char *text;        /* malloc'ed, NUL-terminated: the text shown (stop string cut off) */
    size_t len;
    int32_t *toks;     /* malloc'ed: the sampled tokens (an EOG token is not kept) */
    int n_toks;
    int n_decoded;     /* how many of toks are in the context (the last one sampled is not) */
    double seconds;    /* sampling + decoding time */
} gen_result;

/* Bytes at the start of s[0..n) that end on a UTF-8 character boundary: n unless the tail
 * is an incomplete multi-byte sequence (invalid bytes count as complete characters). */
size_t utf8_complete_len(const char *s, size_t n);

/* Decodes toks[0..n) in calls of at most n_batch tokens, keeping the last logits. */
int gen_decode_prompt(latte_ctx *c, const int32_t *toks, int n, int n_batch, latte_err *err);

/* Generates from the logits of the last decoded token until EOG, n_predict tokens, a stop
 * string, a full context or *interrupt. Fills r (free it with gen_result_free) even on
 * error; returns 0, or the latte error code of a failed decode (err filled). */
int gen_run(latte_ctx *c, const latte_model *m, latte_sampler *s, const gen_params *p, gen_result *r,
            latte_err *err);
void gen_result_free(gen_result *r);

/* True when a formatted chat prompt ends by opening <think> (R1-style templates), so the
 * generated text starts inside the reasoning. */
bool gen_prompt_opens_think(const char *formatted);

/* Sampler parameters from the flags; -s -1 becomes a random seed (the caller prints it). */
latte_sampler_params gen_sampler_params(const cli_opts *o);

#endif
