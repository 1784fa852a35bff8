/* tok_encode.c: text -> token ids. Order as in HF tokenizers: (1) token texts written in
 * the text are cut out first (leftmost match, longest token on ties): user-defined ones
 * everywhere, control and unknown ones only where the caller allows them (nowhere, the
 * whole text, or outside given plain ranges); (2) each remaining segment is NFC-normalised when the pre-tokenizer
 * asks for it and the segment is valid UTF-8; (3) it is split into pre-tokens; (4) each
 * pre-token goes through BPE. All scratch belongs to the call: the vocab is read-only. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok_internal.h"

typedef struct enc_state {
    const tok_vocab *v;
    tok_ids out;
    tok_spans spans;
    tok_bpe_scratch bpe;
} enc_state;

/* Encodes one segment of plain text (no special tokens inside). */
static int encode_plain(enc_state *st, const char *text, size_t len, latte_err *err) {
    if (len == 0) return 0;
    utf8proc_uint8_t *norm = NULL;
    if (tok_pretok_nfc(st->v->pre)) {
        utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &norm,
                                          UTF8PROC_STABLE | UTF8PROC_COMPOSE);
        if (n >= 0) { /* invalid UTF-8 (n < 0) is encoded as it is */
            text = (const char *)norm;
            len = (size_t)n;
        } else {
            norm = NULL;
        }
    }
    st->spans.n = 0;
    int rc = tok_pretok_split(st->v->pre, text, len, &st->spans, err);
    for (size_t i = 0; i < st->spans.n && !rc; i++)
        rc = tok_bpe_piece(st->v, text + st->spans.v[i].off, st->spans.v[i].len, &st->bpe, &st->out, err);
    free(norm);
    return rc;
}

static bool guarded_type(uint8_t t) { return t == TOK_TYPE_CONTROL || t == TOK_TYPE_UNKNOWN; }

/* The longest special token starting at text[0..len) that may be matched there: a control
 * or unknown one only when its text fits in the first room bytes. -1 when none. */
static int32_t special_at(const tok_vocab *v, const char *text, size_t len, size_t room) {
    for (size_t k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        size_t tl = v->text_len[id];
        if (tl <= len && (uint8_t)v->arena[v->text_off[id]] == (uint8_t)text[0] &&
            !(guarded_type(v->type[id]) && tl > room) && !memcmp(v->arena + v->text_off[id], text, tl))
            return id;
    }
    return -1;
}

/* Splits text at special tokens; plain[0..n_plain) are the ranges where control and
 * unknown tokens may not start or reach. */
static int encode_with_specials(enc_state *st, const char *text, size_t len, const tok_range *plain,
                                size_t n_plain, latte_err *err) {
    const tok_vocab *v = st->v;
    /* A byte that starts no special token is skipped quickly. */
    bool first[256] = {0};
    for (size_t k = 0; k < v->n_special; k++) first[(uint8_t)v->arena[v->text_off[v->special[k]]]] = true;
    size_t seg = 0, r = 0; /* r: the first plain range that does not end at or before i */
    for (size_t i = 0; i < len; i++) {
        if (!first[(uint8_t)text[i]]) continue;
        while (r < n_plain && plain[r].off + plain[r].len <= i) r++;
        size_t room = r == n_plain ? len - i : plain[r].off > i ? plain[r].off - i : 0;
        int32_t id = special_at(v, text + i, len - i, room);
        if (id < 0) continue;
        int rc = encode_plain(st, text + seg, i - seg, err);
        if (rc) return rc;
        if (tok_ids_push(&st->out, id)) return err_set(err, LATTE_E_NOMEM, "out of memory");
        i += v->text_len[id] - 1;
        seg = i + 1;
    }
    return encode_plain(st, text + seg, len - seg, err);
}

static int encode(const tok_vocab *v, const char *text, size_t len, bool add_bos, const tok_range *plain,
                  size_t n_plain, int32_t **ids, size_t *n, latte_err *err) {
    *ids = NULL;
    *n = 0;
    if (!v || (!text && len > 0)) return err_set(err, LATTE_E_ARG, "tok_encode: NULL vocab or text");
    for (size_t k = 0; k < n_plain; k++)
        if (plain[k].off > len || plain[k].len > len - plain[k].off ||
            (k > 0 && plain[k].off < plain[k - 1].off + plain[k - 1].len))
            return err_set(err, LATTE_E_ARG, "tok_encode: plain range %zu [%zu, +%zu) is out of order or "
                           "past the text (%zu bytes)", k, plain[k].off, plain[k].len, len);
    enc_state st = {.v = v};
    int rc = 0;
    if (add_bos && v->add_bos && v->bos >= 0 && tok_ids_push(&st.out, v->bos))
        rc = err_set(err, LATTE_E_NOMEM, "out of memory");
    if (!rc) rc = encode_with_specials(&st, text, len, plain, n_plain, err);
    free(st.spans.v);
    tok_bpe_scratch_free(&st.bpe);
    if (rc) {
        free(st.out.v);
        return rc;
    }
    *ids = st.out.v;
    *n = st.out.n;
    return 0;
}

int tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_bos,
               bool parse_special, int32_t **ids, size_t *n, latte_err *err) {
    tok_range all = {0, len}; /* without special parsing the whole text is plain */
    return encode(v, text, len, add_bos, &all, parse_special ? 0 : 1, ids, n, err);
}

int tok_encode_guarded(const tok_vocab *v, const char *text, size_t len, bool add_bos,
                       const tok_range *plain, size_t n_plain, int32_t **ids, size_t *n,
                       latte_err *err) {
    if (n_plain > 0 && !plain) return err_set(err, LATTE_E_ARG, "tok_encode_guarded: NULL ranges");
    return encode(v, text, len, add_bos, plain, n_plain, ids, n, err);
}
