/* sample.h: logits to token. Pure functions on float arrays with no model knowledge:
 * penalties over the accepted history, greedy, top-k, top-p, min-p, temperature and a
 * seeded draw (own xoshiro256** generator, never rand()), plus stop-string search.
 * A sampler owns its scratch, sized on the first call for a vocabulary and reused, so
 * sampling allocates nothing per token after warm-up. Not thread-safe per sampler. */
#ifndef LATTE_SAMPLE_SAMPLE_H
#define LATTE_SAMPLE_SAMPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sample_params {
    float temp;              /* <= 0: greedy */
    int top_k;               /* <= 0: off; 1: greedy */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off; relative to the most likely token */
    float repeat_penalty;    /* 1: off; divides positive / multiplies negative logits */
    int penalty_last_n;      /* history window for penalties: 0 off, < 0 all accepted tokens */
    float presence_penalty;  /* subtracted once from every token in the window */
    float frequency_penalty; /* subtracted count times */
    uint64_t seed;           /* the RNG stream; the same seed gives the same draws */
} sample_params;

typedef struct sampler sampler;

/* Creates a sampler with a copy of *p; NULL on OOM or p == NULL. */
sampler *sample_init(const sample_params *p);
/* Frees s and its scratch; s may be NULL. */
void sample_free(sampler *s);

/* Picks the next token from logits[0..n_vocab) (not modified): penalties over the accepted
 * history, then the arg-max (lowest id on ties) when temp <= 0 or top_k == 1, else top-k ->
 * top-p -> min-p (both on the softmax at temperature 1) -> softmax at temp -> one draw.
 * Tokens whose logit is -inf or NaN are never drawn. Returns the token id, or -1 when
 * n_vocab <= 0, the scratch cannot be allocated, or no logit is finite. Does not add the
 * token to the history: call sample_accept. */
int32_t sample_next(sampler *s, const float *logits, int n_vocab);
/* Appends tok to the history that penalties look at (the last penalty_last_n tokens). */
void sample_accept(sampler *s, int32_t tok);
/* Clears the history and restarts the RNG from the seed. */
void sample_reset(sampler *s);

/* Stop strings: returns the byte index in text[0..len) where the earliest (full) occurrence
 * of any non-empty stop string starts, or -1. When there is none, *partial (if not NULL) is
 * set when text ends with a proper prefix of some stop string (hold that tail back while
 * streaming), else cleared. */
long sample_find_stop(const char *text, size_t len, const char *const *stops, size_t n_stops,
                      bool *partial);

#endif
