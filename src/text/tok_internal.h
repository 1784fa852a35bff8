/* tok_internal.h: what the tokenizer's files share (not for use outside src/text/):
 * the tok_vocab layout, growable id/span arrays, the GPT-2 byte<->codepoint mapping,
 * UTF-8 helpers, the pre-tokenizer and the BPE step. A tok_vocab never changes after
 * tok_vocab_load, so every function here that takes a const vocab is thread-safe. */
#ifndef LATTE_TEXT_TOK_INTERNAL_H
#define LATTE_TEXT_TOK_INTERNAL_H

#include "tok.h"

/* A growable array of token ids. */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;
int tok_ids_push(tok_ids *a, int32_t id); /* 0 or LATTE_E_NOMEM */

/* A growable array of byte spans [off, off + len) into some text. */
typedef struct tok_span {
    size_t off, len;
} tok_span;
typedef struct tok_spans {
    tok_span *v;
    size_t n, cap;
} tok_spans;
int tok_spans_push(tok_spans *a, size_t off, size_t len); /* 0 or LATTE_E_NOMEM */

/* Merge table entry: (left id, right id) -> rank and merged id; open addressing. */
typedef struct tok_merge {
    uint64_t key; /* (uint64_t)left << 32 | right; UINT64_MAX = empty slot */
    int32_t rank;
    int32_t id;
} tok_merge;

typedef struct tok_pretok tok_pretok;

struct tok_vocab {
    int32_t n_vocab;
    char *arena;          /* every token text, each NUL-terminated */
    uint32_t *text_off;   /* [n_vocab] offset into arena */
    uint32_t *text_len;   /* [n_vocab] */
    uint8_t *type;        /* [n_vocab] TOK_TYPE_* */
    uint8_t *eog;         /* [n_vocab] 1 for end-of-generation tokens */
    int32_t *tok_slots;   /* text -> id hash table, -1 = empty */
    uint64_t tok_mask;    /* slots - 1 (power of two) */
    tok_merge *merges;
    uint64_t merge_mask;
    int32_t byte_token[256]; /* id of the one-symbol token of each byte, -1 if none */
    int32_t *special;     /* control/user-defined/unknown ids, longest text first */
    size_t n_special;
    int32_t bos, eos, eot, eom, pad;
    bool add_bos;
    bool ignore_merges;   /* a pre-token that is itself a token skips BPE (Llama 3) */
    tok_pretok *pre;
};

/* Token id for text[0..len), or -1. */
int32_t tok_vocab_find(const tok_vocab *v, const char *text, size_t len);
/* Merge of (left, right): sets *rank and *id and returns true, or returns false. */
bool tok_merge_find(const tok_vocab *v, int32_t left, int32_t right, int32_t *rank, int32_t *id);

/* GPT-2 byte-level mapping: each byte has one printable codepoint (< 324). */
uint32_t tok_byte_to_cp(uint8_t b);
int tok_cp_to_byte(uint32_t cp); /* the byte, or -1 for a codepoint outside the map */

/* Decodes one UTF-8 character at s[0..len): returns its length (1-4) and sets *cp, or
 * returns 0 for an invalid or truncated sequence. */
int tok_utf8_decode(const char *s, size_t len, uint32_t *cp);
int tok_utf8_encode(uint32_t cp, char out[4]); /* returns the length */

/* Pre-tokenizer by GGUF tokenizer.ggml.pre name; LATTE_E_UNSUPPORTED for unknown names. */
int tok_pretok_init(tok_pretok **out, const char *name, size_t name_len, latte_err *err);
void tok_pretok_free(tok_pretok *p);
const char *tok_pretok_name(const tok_pretok *p);
bool tok_pretok_nfc(const tok_pretok *p);        /* normalise to NFC before splitting */
bool tok_pretok_ignore_merges(const tok_pretok *p);
/* Splits text[0..len) into pre-tokens (appended to out as spans of text, in order,
 * covering all of it). 0, LATTE_E_NOMEM, or LATTE_E_FORMAT when PCRE2 fails. */
int tok_pretok_split(const tok_pretok *p, const char *text, size_t len, tok_spans *out,
                     latte_err *err);

/* Scratch for BPE, reused across pieces of one encode call. */
typedef struct tok_bpe_scratch {
    void *sym;
    size_t sym_cap;
    void *heap;
    size_t heap_cap;
} tok_bpe_scratch;
void tok_bpe_scratch_free(tok_bpe_scratch *s);
/* Appends the BPE token ids of one pre-token piece[0..len) to out. 0 or LATTE_E_NOMEM. */
int tok_bpe_piece(const tok_vocab *v, const char *piece, size_t len, tok_bpe_scratch *s,
                  tok_ids *out, latte_err *err);

#endif
