/* tok_encode.c: text -> token ids. Order as in HF tokenizers: (1) with parse_special,
 * control and user-defined token texts are cut out first (leftmost match, longest
 * token on ties); (2) each remaining segment is NFC-normalised when the pre-tokenizer
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

/* The longest special token starting at text[0..len), or -1. */
static int32_t special_at(const tok_vocab *v, const char *text, size_t len) {
    for (size_t k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        size_t tl = v->text_len[id];
        if (tl <= len && (uint8_t)v->arena[v->text_off[id]] == (uint8_t)text[0] &&
            !memcmp(v->arena + v->text_off[id], text, tl))
            return id;
    }
    return -1;
}

static int encode_with_specials(enc_state *st, const char *text, size_t len, latte_err *err) {
    const tok_vocab *v = st->v;
    /* A byte that starts no special token is skipped quickly. */
    bool first[256] = {0};
    for (size_t k = 0; k < v->n_special; k++) first[(uint8_t)v->arena[v->text_off[v->special[k]]]] = true;
    size_t seg = 0;
    for (size_t i = 0; i < len; i++) {
        if (!first[(uint8_t)text[i]]) continue;
        int32_t id = special_at(v, text + i, len - i);
        if (id < 0) continue;
        int rc = encode_plain(st, text + seg, i - seg, err);
        if (rc) return rc;
        if (tok_ids_push(&st->out, id)) return err_set(err, LATTE_E_NOMEM, "out of memory");
        i += v->text_len[id] - 1;
        seg = i + 1;
    }
    return encode_plain(st, text + seg, len - seg, err);
}

int tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_bos,
               bool parse_special, int32_t **ids, size_t *n, latte_err *err) {
    *ids = NULL;
    *n = 0;
    if (!v || (!text && len > 0)) return err_set(err, LATTE_E_ARG, "tok_encode: NULL vocab or text");
    enc_state st = {.v = v};
    int rc = 0;
    if (add_bos && v->add_bos && v->bos >= 0 && tok_ids_push(&st.out, v->bos))
        rc = err_set(err, LATTE_E_NOMEM, "out of memory");
    if (!rc)
        rc = parse_special ? encode_with_specials(&st, text, len, err) : encode_plain(&st, text, len, err);
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
