/* synth_vocab.c: a synthetic but valid byte-level BPE vocabulary of any size. Ids are
 * filled in order with: the 256 byte symbols (GPT-2's byte-to-unicode map), then every
 * pair of the 95 word symbols (printable ASCII and 'Ġ', the space) with the merge
 * "a b", then every pair followed by one more symbol with the merge "ab c"; special tokens
 * sit at their real ids as control tokens. So any text tokenizes, every merge names two
 * tokens that exist, and token ids cover the real vocabulary size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools.h"

/* GPT-2's byte-to-unicode: printable bytes map to themselves, the rest to U+0100 + n */
static int byte_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
    int n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) n++;
    return 256 + n;
}

static int put_cp(char *s, int cp) {
    if (cp < 0x80) {
        s[0] = (char)cp;
        return 1;
    }
    s[0] = (char)(0xc0 | (cp >> 6));
    s[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

int tools_synth_vocab(gguf_writer *w, int n_vocab, const char *pre, const tools_special *specials, int n_specials,
                      int bos, int eos, bool add_bos, latte_err *err) {
    int word_syms[95], n_word = 0;
    for (int b = 33; b <= 126; b++) word_syms[n_word++] = b;
    word_syms[n_word++] = byte_cp(' '); /* Ġ */
    char **tok = calloc((size_t)n_vocab, sizeof *tok), **merges = calloc((size_t)n_vocab, sizeof *merges);
    int32_t *types = calloc((size_t)n_vocab, sizeof *types);
    char *pool = malloc((size_t)n_vocab * 24); /* tokens: 3 symbols of 2 bytes, or <unusedN> */
    char *mpool = malloc((size_t)n_vocab * 16);
    int rc = tok && merges && types && pool && mpool ? 0 : err_set(err, LATTE_E_NOMEM, "out of memory for the vocabulary");
    int n_merges = 0;
    uint64_t gen = 0; /* the next generated token: 256 bytes, 95^2 pairs, 95^3 triples */
    const uint64_t n_gen = 256 + 95 * 95 + 95 * 95 * 95;
    for (int id = 0; !rc && id < n_vocab; id++) {
        char *s = pool + (size_t)id * 24;
        types[id] = 1; /* normal */
        const char *special = NULL;
        for (int k = 0; k < n_specials; k++)
            if (specials[k].id == id) special = specials[k].text;
        if (special) {
            tok[id] = (char *)special;
            types[id] = 3; /* control */
            continue;
        }
        if (gen >= n_gen) {
            snprintf(s, 24, "<unused%d>", id);
            tok[id] = s;
            types[id] = 5;
            continue;
        }
        int n = 0;
        char *m = mpool + (size_t)n_merges * 16;
        if (gen < 256) {
            n = put_cp(s, byte_cp((int)gen));
            types[id] = 1;
        } else if (gen < 256 + 95 * 95) {
            int k = (int)(gen - 256), a = word_syms[k / 95], b = word_syms[k % 95], ml = 0;
            n = put_cp(s, a);
            n += put_cp(s + n, b);
            ml = put_cp(m, a);
            m[ml++] = ' ';
            ml += put_cp(m + ml, b);
            m[ml] = 0;
            merges[n_merges++] = m;
        } else {
            int k = (int)(gen - 256 - 95 * 95), a = word_syms[k / (95 * 95)], b = word_syms[k / 95 % 95],
                c = word_syms[k % 95], ml = 0;
            n = put_cp(s, a);
            n += put_cp(s + n, b);
            n += put_cp(s + n, c);
            ml = put_cp(m, a);
            ml += put_cp(m + ml, b);
            m[ml++] = ' ';
            ml += put_cp(m + ml, c);
            m[ml] = 0;
            merges[n_merges++] = m;
        }
        s[n] = 0;
        tok[id] = s;
        gen++;
    }
    if (!rc) rc = gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", err);
    if (!rc) rc = gguf_writer_add_str(w, "tokenizer.ggml.pre", pre, err);
    if (!rc) rc = gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)n_vocab, err);
    if (!rc) rc = gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)n_vocab, err);
    if (!rc) rc = gguf_writer_add_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)n_merges, err);
    if (!rc && bos >= 0) rc = gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos, err);
    if (!rc && eos >= 0) rc = gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos, err);
    if (!rc) rc = gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", add_bos, err);
    if (!rc) rc = gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false, err);
    free(tok);
    free(merges);
    free(types);
    free(pool);
    free(mpool);
    return rc;
}
