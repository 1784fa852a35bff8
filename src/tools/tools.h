/* tools.h: what synth and quantize share: writing one tensor from f32 rows produced on
 * demand, converted to the target type by several threads, chunk by chunk, so a tensor of
 * any size streams to the file with a few MiB in memory; and the synthetic tokenizer. */
#ifndef LATTE_TOOLS_INTERNAL_H
#define LATTE_TOOLS_INTERNAL_H

#include <latte_tools.h>
#include <stdint.h>

#include "../gguf/gguf_write.h"

/* Fills out[0..ne0) with row `row` of the source. Called from several threads at once. */
typedef void (*tools_row_fn)(void *ctx, int64_t row, float *out);

typedef struct tools_progress {
    latte_tool_progress fn;
    void *user;
    uint64_t done, total;
} tools_progress;

/* Writes the next tensor of w (n_rows rows of ne0 elements, type) from src. */
int tools_write_rows(gguf_writer *w, uint32_t type, int64_t ne0, int64_t n_rows, tools_row_fn src, void *ctx,
                     int n_threads, tools_progress *pr, const char *name, latte_err *err);

/* The type a weight with rows of ne0 gets when asked for type: type where its blocks fit
 * the row, else the fallback llama.cpp's quantizer uses (q4_K: q5_0, q5_K: q5_1, q6_K and
 * others: q8_0), else f16. */
uint32_t tools_fit_type(uint32_t type, int64_t ne0);

/* Threads to use for n_threads (0: the cores online). */
int tools_threads(int n_threads);

/* Adds tokenizer.ggml.* keys for a synthetic byte-level BPE vocabulary of n_vocab entries:
 * the 256 byte symbols, then two- and three-symbol tokens with their merges, and the given
 * special tokens (control type) at their ids. */
typedef struct tools_special {
    int id;
    const char *text;
} tools_special;
int tools_synth_vocab(gguf_writer *w, int n_vocab, const char *pre, const tools_special *specials, int n_specials,
                      int bos, int eos, bool add_bos, latte_err *err);

#endif
