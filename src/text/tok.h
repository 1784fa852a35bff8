/* tok.h: the byte-level BPE tokenizer (GGUF tokenizer model "gpt2") behind latte_tokenize.
 * A tok_vocab is loaded once from a GGUF file's tokenizer.ggml.* keys, owns copies of
 * everything it needs (the gguf_file may be freed afterwards) and is read-only after
 * load, so several threads may encode/decode with it at once. Encoding follows Hugging
 * Face tokenizers: added-token split, normalizer (NFC for Qwen2), the pre-tokenizer
 * regexes of tokenizer.ggml.pre (PCRE2, UTF + UCP), then BPE over GPT-2 byte symbols. */
#ifndef LATTE_TEXT_TOK_H
#define LATTE_TEXT_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"
#include "../gguf/gguf.h"

typedef struct tok_vocab tok_vocab;

/* GGUF token types (tokenizer.ggml.token_type). */
enum {
    TOK_TYPE_NORMAL = 1,
    TOK_TYPE_UNKNOWN = 2,
    TOK_TYPE_CONTROL = 3,
    TOK_TYPE_USER_DEFINED = 4,
    TOK_TYPE_UNUSED = 5,
    TOK_TYPE_BYTE = 6,
};

/* Loads tokenizer.ggml.* (model "gpt2": tokens, merges, token_type, bos/eos/eot/eom/pad
 * ids, add_bos_token, pre) from gf. Returns 0 and sets *out, or LATTE_E_UNSUPPORTED for
 * another tokenizer model or an unknown pre-tokenizer (the message names it),
 * LATTE_E_MISSING / LATTE_E_FORMAT for absent or malformed keys, LATTE_E_NOMEM. A file
 * without tokenizer.ggml.pre uses "default". add_bos_token absent means false. */
int tok_vocab_load(tok_vocab **out, const gguf_file *gf, latte_err *err);
void tok_vocab_free(tok_vocab *v);

/* A byte range [off, off + len) of some text. */
typedef struct tok_range {
    size_t off, len;
} tok_range;

/* Encodes text[0..len) into *ids (malloc'ed, caller frees; may be NULL when *n == 0).
 * add_bos: prepend BOS when the vocabulary says add_bos_token (and has a BOS).
 * Token texts written in the text are matched as whole tokens (leftmost, longest first,
 * like HF's added-token split) by kind, as llama.cpp and Hugging Face do: user-defined
 * tokens (<think>, <tool_call>) always; control and unknown tokens (<|im_start|>,
 * <|endoftext|>) only when parse_special. Invalid UTF-8 never fails: invalid bytes become
 * their own pre-tokens and are encoded as byte tokens, so decoding gives the input back
 * byte for byte (the NFC step is skipped for a segment that is not valid UTF-8).
 * Returns 0, LATTE_E_ARG (NULL text with len > 0), LATTE_E_NOMEM, or LATTE_E_FORMAT
 * if the regex engine fails. */
int tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_bos,
               bool parse_special, int32_t **ids, size_t *n, latte_err *err);

/* As tok_encode with parse_special, except that a control or unknown token is matched
 * only where its whole text lies outside every range plain[0..n_plain) (sorted by off,
 * disjoint, inside the text): for a rendered chat, whose markers must become control
 * tokens while the messages' text never does. LATTE_E_ARG for ranges that are unsorted,
 * overlap or run past len. */
int tok_encode_guarded(const tok_vocab *v, const char *text, size_t len, bool add_bos,
                       const tok_range *plain, size_t n_plain, int32_t **ids, size_t *n,
                       latte_err *err);

/* Raw bytes of token id: byte-level decoded for normal tokens, the stored text for
 * control and user-defined tokens. Writes min(cap, length) bytes into buf and returns
 * the full length (may exceed cap), or -1 for an id out of range. */
int tok_token_bytes(const tok_vocab *v, int32_t id, char *buf, size_t cap);
/* The token as stored in the vocabulary, NUL-terminated; NULL for a bad id. */
const char *tok_token_text(const tok_vocab *v, int32_t id);
int32_t tok_n_vocab(const tok_vocab *v);
/* Special ids, -1 when the vocabulary has none. */
int32_t tok_bos(const tok_vocab *v);
int32_t tok_eos(const tok_vocab *v);
int32_t tok_eot(const tok_vocab *v);
/* The pre-tokenizer name in use ("deepseek-v3", "qwen2", ...). */
const char *tok_pre_name(const tok_vocab *v);
bool tok_add_bos(const tok_vocab *v);
/* End of generation: eos, eot, eom, and control tokens such as <|im_end|>,
 * <|endoftext|>, <|eot_id|>, <｜end▁of▁sentence｜>. False for bad ids. */
bool tok_is_eog(const tok_vocab *v, int32_t id);
/* Token type CONTROL. False for bad ids. */
bool tok_is_control(const tok_vocab *v, int32_t id);
/* The token's TOK_TYPE_*, or -1 for a bad id. */
int tok_token_type(const tok_vocab *v, int32_t id);
/* Returns how many leading bytes of buf[0..len) can be emitted while streaming without
 * splitting a UTF-8 character: len, minus a trailing incomplete (but so far valid)
 * sequence of at most 3 bytes. Invalid bytes count as complete characters. */
size_t tok_utf8_complete_prefix(const char *buf, size_t len);

#endif
