/* generate.c: the token loop behind `run` and `chat`. Text is kept whole in r->text and
 * printed up to a "safe" point: never inside a UTF-8 character, never past the start of
 * what could still become a stop string. A stop string is searched for only from the
 * first byte not yet printed, since everything before it was safe when printed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Writes and flushes; -1 when the stream refuses (full disk, closed pipe: errno says why). */
static int emit(FILE *out, const char *b, size_t n) {
    if (!out || !n) return 0;
    return fwrite(b, 1, n, out) == n && fflush(out) == 0 ? 0 : -1;
}

/* Bytes at the end of text[0..len) that could be the start of a <think> tag. */
static size_t tag_hold(const char *text, size_t len) {
    static const char *const tags[] = {"<think>", "</think>"};
    return stop_hold(text, len, tags, 2);
}

/* Writes text[from, to) to its streams: with a reasoning stream, what lies inside
 * <think>...</think> goes there, the tags and the whitespace after them nowhere. */
static int route(const gen_params *p, const gen_result *r, size_t from, size_t to) {
    if (!p->reasoning) return emit(p->out, r->text + from, to - from);
    size_t tb, te, ab;
    if (p->think_open) { /* seen as if the text started with the tag the prompt opened */
        latte_chat_split_reasoning(r->text, to, &tb, &te, &ab);
        if (te == 0 && ab == 0) tb = 0, te = to, ab = to; /* no closing tag yet */
    } else {
        latte_chat_split_reasoning(r->text, to, &tb, &te, &ab);
    }
    bool has_think = te > tb || ab > 0;
    size_t a0 = has_think ? ab : 0;
    if (has_think && from < te && tb < to) {
        size_t a = from > tb ? from : tb, b = to < te ? to : te;
        if (b > a && emit(p->reasoning, r->text + a, b - a)) return -1;
    }
    if (to > a0) {
        size_t a = from > a0 ? from : a0;
        return emit(p->out, r->text + a, to - a);
    }
    return 0;
}

static int write_failed(gen_result *r, latte_err *err) {
    r->end = GEN_ERROR;
    err->code = LATTE_E_IO;
    snprintf(err->msg, sizeof err->msg, "cannot write the output: %s", strerror(errno));
    return LATTE_E_IO;
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
            if (route(p, r, printed, (size_t)at)) { rc = write_failed(r, err); break; }
            r->len = printed = (size_t)at;
            r->text[r->len] = 0;
            r->end = GEN_STOP;
            break;
        }
        size_t hold = stop_hold(r->text, r->len, p->stops, p->n_stops);
        if (p->reasoning && tag_hold(r->text, r->len) > hold) hold = tag_hold(r->text, r->len);
        size_t safe = utf8_complete_len(r->text, r->len - hold);
        if (safe > printed) {
            if (route(p, r, printed, safe)) { rc = write_failed(r, err); break; }
            printed = safe;
        }
        if (p->n_predict >= 0 && r->n_toks >= p->n_predict) { r->end = GEN_LIMIT; break; }
        if (latte_ctx_n_past(c) >= latte_ctx_n_ctx(c)) { r->end = GEN_CTX_FULL; break; }
        if ((rc = latte_decode(c, &t, 1, false, err))) { r->end = GEN_ERROR; break; }
        r->n_decoded++;
    }
    /* the end: a held-back partial stop string is text now; a character cut in half by the
     * end (-n, a full context) is dropped, never printed as a stray byte */
    if (r->text && r->end != GEN_ERROR) {
        r->len = utf8_complete_len(r->text, r->len);
        r->text[r->len] = 0;
        if (printed < r->len && route(p, r, printed, r->len)) rc = write_failed(r, err);
    }
    if (!r->text) append(r, &cap, "", 0);
    r->seconds = cli_now() - t0;
    return rc;
}

void gen_result_free(gen_result *r) {
    free(r->text);
    free(r->toks);
    memset(r, 0, sizeof *r);
}

bool gen_prompt_opens_think(const char *f) {
    size_t n = strlen(f);
    while (n && (f[n - 1] == '\n' || f[n - 1] == ' ')) n--;
    return n >= 7 && !memcmp(f + n - 7, "<think>", 7);
}

/* A seed for -s -1: the clock and the process id, mixed (splitmix64's finaliser). */
static uint64_t random_seed(void) {
    uint64_t z = (uint64_t)(cli_now() * 1e9) ^ ((uint64_t)getpid() << 32);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (z ^ (z >> 31)) >> 1; /* fits in the long long -s takes, so it can be given back */
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
    sp.seed = o->seed >= 0 ? (uint64_t)o->seed : random_seed();
    return sp;
}
