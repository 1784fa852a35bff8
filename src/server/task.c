/* task.c: the request record shared by an HTTP thread and the worker, and the text helpers
 * the worker uses to decide how much of it a stream may send. */
#include "task.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double task_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

task *task_new(void) {
    task *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->refs = 1;
    t->slot = -1;
    t->p.id_slot = -1;
    t->p.n_predict = -1;
    t->p.cache_prompt = true;
    t->text = calloc(1, 1);
    if (!t->text) { free(t); return NULL; }
    t->cap = 1;
    return t;
}

void task_unref(task *t) {
    if (!t || --t->refs > 0) return;
    free(t->p.prompt);
    for (int i = 0; i < t->p.n_stops; i++) free(t->p.stops[i]);
    free(t->p.stops);
    guide_free(t->p.guide);
    free(t->p.state);
    free(t->text);
    free(t->toks);
    free(t->tok_end);
    free(t->lp);
    free(t->top_id);
    free(t->top_lp);
    free(t);
}

int task_append(task *t, const char *b, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t nc = t->cap < 256 ? 256 : t->cap;
        while (nc < t->len + n + 1) nc *= 2;
        char *nt = realloc(t->text, nc);
        if (!nt) return -1;
        t->text = nt, t->cap = nc;
    }
    memcpy(t->text + t->len, b, n);
    t->len += n;
    t->text[t->len] = 0;
    return 0;
}

static int grow(void **p, size_t elem, int n) {
    void *np = realloc(*p, elem * (size_t)n);
    if (!np) return -1;
    *p = np;
    return 0;
}

int task_push_tok(task *t, int32_t id, float lp, const int32_t *top_id, const float *top_lp) {
    int k = t->p.n_probs;
    if (t->n_toks == t->cap_toks) {
        int nc = t->cap_toks ? t->cap_toks * 2 : 64;
        if (grow((void **)&t->toks, sizeof *t->toks, nc) || grow((void **)&t->tok_end, sizeof *t->tok_end, nc) ||
            grow((void **)&t->lp, sizeof *t->lp, nc) || (k && grow((void **)&t->top_id, sizeof *t->top_id * k, nc)) ||
            (k && grow((void **)&t->top_lp, sizeof *t->top_lp * k, nc)))
            return -1;
        t->cap_toks = nc;
    }
    int i = t->n_toks++;
    t->toks[i] = id;
    t->tok_end[i] = t->len;
    t->lp[i] = lp;
    if (k) {
        memcpy(t->top_id + (size_t)i * k, top_id, sizeof *top_id * k);
        memcpy(t->top_lp + (size_t)i * k, top_lp, sizeof *top_lp * k);
    }
    return 0;
}

size_t task_utf8_complete(const char *s, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char b = (unsigned char)s[n - back];
        if ((b & 0xC0) == 0x80) continue;
        size_t need = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
        return need > back ? n - back : n;
    }
    return n;
}

size_t task_tail_hold(const char *s, size_t len, const char *const *strs, int n) {
    size_t hold = 0;
    for (int i = 0; i < n; i++) {
        size_t sl = strlen(strs[i]);
        if (!sl) continue;
        for (size_t k = sl - 1 < len ? sl - 1 : len; k > hold; k--)
            if (!memcmp(s + len - k, strs[i], k)) { hold = k; break; }
    }
    return hold;
}

long task_find_stop(const char *s, size_t len, size_t from, const char *const *stops, int n) {
    long best = -1;
    for (int i = 0; i < n; i++) {
        size_t sl = strlen(stops[i]);
        if (!sl) continue;
        for (size_t at = from; at + sl <= len && (best < 0 || at < (size_t)best); at++)
            if (!memcmp(s + at, stops[i], sl)) { best = (long)at; break; }
    }
    return best;
}
