/* generate.c: the token loop behind `run` and `chat`. Text is kept whole in r->text and
 * printed up to a "safe" point: never inside a UTF-8 character, never past the start of
 * what could still become a stop string. A stop string is searched for only from the
 * first byte not yet printed, since everything before it was safe when printed. */
#include <stdlib.h>
#include <string.h>

#include "generate.h"

size_t utf8_complete_len(const char *s, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char b = (unsigned char)s[n - back];
        if ((b & 0xC0) == 0x80) continue; /* continuation byte: look further back */
        size_t need = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

/* Length of the longest proper prefix of a stop string that text[0..len) ends with. */
static size_t stop_hold(const char *text, size_t len, const char *const *stops, int n_stops) {
    size_t hold = 0;
    for (int i = 0; i < n_stops; i++) {
        size_t sl = strlen(stops[i]);
        for (size_t k = sl - 1 < len ? sl - 1 : len; k > hold; k--)
            if (!memcmp(text + len - k, stops[i], k)) { hold = k; break; }
    }
    return hold;
}

/* Earliest start >= from of a stop string in text[0..len), or -1. */
static long stop_find(const char *text, size_t len, size_t from, const char *const *stops, int n_stops) {
    long best = -1;
    for (int i = 0; i < n_stops; i++) {
        size_t sl = strlen(stops[i]);
        for (size_t at = from; at + sl <= len && (best < 0 || at < (size_t)best); at++)
            if (!memcmp(text + at, stops[i], sl)) { best = (long)at; break; }
    }
    return best;
}

static int append(gen_result *r, size_t *cap, const char *b, size_t n) {
    if (r->len + n + 1 > *cap) {
        size_t nc = *cap ? *cap : 256;
        while (nc < r->len + n + 1) nc *= 2;
        char *nt = realloc(r->text, nc);
        if (!nt) return -1;
        r->text = nt, *cap = nc;
    }
    memcpy(r->text + r->len, b, n);
    r->len += n;
    r->text[r->len] = 0;
    return 0;
}

static void emit(const gen_params *p, const char *b, size_t n) {
    if (!p->out || !n) return;
    fwrite(b, 1, n, p->out);
    fflush(p->out);
}

int gen_decode_prompt(latte_ctx *c, const int32_t *toks, int n, int n_batch, latte_err *err) {
    for (int i = 0; i < n; i += n_batch) {
        int nb = n - i < n_batch ? n - i : n_batch;
        int rc = latte_decode(c, toks + i, nb, false, err);
        if (rc) return rc;
    }
    return 0;
}

int gen_run(latte_ctx *c, const latte_model *m, latte_sampler *s, const gen_params *p, gen_result *r,
            latte_err *err) {
    memset(r, 0, sizeof *r);
    size_t cap = 0, printed = 0, tok_cap = 0;
    int V = latte_model_n_vocab(m), rc = 0;
    char piece[256];
    double t0 = cli_now();
    r->end = GEN_LIMIT;
    for (;;) {
        if (p->interrupt && *p->interrupt) { r->end = GEN_INTERRUPT; break; }
        if (p->n_predict >= 0 && r->n_toks >= p->n_predict) { r->end = GEN_LIMIT; break; }
        int32_t t = latte_sampler_sample(s, latte_ctx_logits(c, 0), V);
        latte_sampler_accept(s, t);
        if (latte_token_is_eog(m, t)) { r->end = GEN_EOG; break; }
        if (r->n_toks == (int)tok_cap) {
            size_t nc = tok_cap ? tok_cap * 2 : 64;
            int32_t *nt = realloc(r->toks, nc * sizeof *nt);
            if (!nt) {
                rc = err->code = LATTE_E_NOMEM;
                snprintf(err->msg, sizeof err->msg, "out of memory");
                r->end = GEN_ERROR;
                break;
            }
            r->toks = nt, tok_cap = nc;
        }
        r->toks[r->n_toks++] = t;
        int nb = latte_token_to_bytes(m, t, piece, sizeof piece);
        char *big = nb > (int)sizeof piece ? malloc((size_t)nb) : NULL;
        if (big) latte_token_to_bytes(m, t, big, (size_t)nb);
        if ((nb > (int)sizeof piece && !big) || (nb > 0 && append(r, &cap, big ? big : piece, (size_t)nb))) {
            free(big);
            rc = err->code = LATTE_E_NOMEM;
            snprintf(err->msg, sizeof err->msg, "out of memory");
            r->end = GEN_ERROR;
            break;
        }
        free(big);
        long at = p->n_stops ? stop_find(r->text, r->len, printed, p->stops, p->n_stops) : -1;
        if (at >= 0) {
            emit(p, r->text + printed, (size_t)at - printed);
            r->len = printed = (size_t)at;
            r->text[r->len] = 0;
            r->end = GEN_STOP;
            break;
        }
        size_t safe = r->len - stop_hold(r->text, r->len, p->stops, p->n_stops);
        safe = utf8_complete_len(r->text, safe);
        if (safe > printed) emit(p, r->text + printed, safe - printed), printed = safe;
        if (p->n_predict >= 0 && r->n_toks >= p->n_predict) { r->end = GEN_LIMIT; break; }
        if (latte_ctx_n_past(c) >= latte_ctx_n_ctx(c)) { r->end = GEN_CTX_FULL; break; }
        if ((rc = latte_decode(c, &t, 1, false, err))) { r->end = GEN_ERROR; break; }
        r->n_decoded++;
    }
    /* the end: whatever was held back is final now (a partial stop string or a split character) */
    if (r->text && printed < r->len) emit(p, r->text + printed, r->len - printed);
    if (!r->text) append(r, &cap, "", 0);
    r->seconds = cli_now() - t0;
    return rc;
}

void gen_result_free(gen_result *r) {
    free(r->text);
    free(r->toks);
    memset(r, 0, sizeof *r);
}

latte_sampler_params gen_sampler_params(const cli_opts *o) {
    latte_sampler_params sp = latte_sampler_default_params();
    sp.temp = o->temp;
    sp.top_k = o->top_k;
    sp.top_p = o->top_p;
    sp.min_p = o->min_p;
    sp.repeat_penalty = o->repeat_penalty;
    sp.penalty_last_n = o->repeat_last_n;
    sp.presence_penalty = o->presence_penalty;
    sp.frequency_penalty = o->frequency_penalty;
    sp.seed = o->seed;
    return sp;
}
