/* bpe.c: byte-pair merging of one pre-token, as HF tokenizers' BPE model does it: the
 * piece starts as one symbol per byte (the byte's GPT-2 codepoint token), then the
 * adjacent pair with the lowest merge rank is merged (leftmost on ties) until no pair
 * has a merge. A binary heap of candidate pairs, checked when popped, keeps this
 * O(n log n) in the piece length, so a 10k-space run is cheap. Bytes whose one-symbol
 * token is missing from the vocabulary are dropped (HF without an unk token does so). */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

typedef struct bpe_sym {
    int32_t id;   /* current token; -1 = merged away or missing */
    int32_t prev; /* neighbours in the live list, -1 at the ends */
    int32_t next;
} bpe_sym;

typedef struct bpe_pair {
    int32_t rank, left, right, lid, rid, id;
} bpe_pair;

static bool pair_less(const bpe_pair *a, const bpe_pair *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static void heap_push(bpe_pair *h, size_t *n, bpe_pair p) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_less(&p, &h[up])) break;
        h[i] = h[up];
        i = up;
    }
    h[i] = p;
}

static bpe_pair heap_pop(bpe_pair *h, size_t *n) {
    bpe_pair top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && pair_less(&h[c + 1], &h[c])) c++;
        if (!pair_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

/* Pushes the pair (l, r) when both are live and the vocabulary merges them. */
static void try_pair(const tok_vocab *v, const bpe_sym *s, int32_t l, int32_t r, bpe_pair *h,
                     size_t *n) {
    if (l < 0 || r < 0 || s[l].id < 0 || s[r].id < 0) return;
    bpe_pair p = {0, l, r, s[l].id, s[r].id, 0};
    if (tok_merge_find(v, p.lid, p.rid, &p.rank, &p.id)) heap_push(h, n, p);
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) cap2 *= 2;
    void *nb = realloc(*buf, cap2 * elem);
    if (!nb) return LATTE_E_NOMEM;
    *buf = nb;
    *cap = cap2;
    return 0;
}

void tok_bpe_scratch_free(tok_bpe_scratch *s) {
    free(s->sym);
    free(s->heap);
    memset(s, 0, sizeof *s);
}

/* Llama 3's ignore_merges: a piece that is a whole token is emitted as is. */
static int32_t whole_piece_token(const tok_vocab *v, const char *piece, size_t len) {
    char buf[256];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (n + 4 > sizeof buf) return -1; /* longer than any token worth looking up */
        n += (size_t)tok_utf8_encode(tok_byte_to_cp((uint8_t)piece[i]), buf + n);
    }
    return tok_vocab_find(v, buf, n);
}

int tok_bpe_piece(const tok_vocab *v, const char *piece, size_t len, tok_bpe_scratch *s,
                  tok_ids *out, latte_err *err) {
    if (len == 0) return 0;
    if (len > INT32_MAX / 2)
        return err_set(err, LATTE_E_ARG, "pre-token of %zu bytes is too long", len);
    if (v->ignore_merges) {
        int32_t id = whole_piece_token(v, piece, len);
        if (id >= 0) return tok_ids_push(out, id) ? err_set(err, LATTE_E_NOMEM, "out of memory") : 0;
    }
    if (grow(&s->sym, &s->sym_cap, len, sizeof(bpe_sym)) ||
        grow(&s->heap, &s->heap_cap, 2 * len, sizeof(bpe_pair)))
        return err_set(err, LATTE_E_NOMEM, "out of memory for BPE of %zu bytes", len);
    bpe_sym *sym = s->sym;
    bpe_pair *heap = s->heap;
    size_t nh = 0;
    for (size_t i = 0; i < len; i++) {
        sym[i].id = v->byte_token[(uint8_t)piece[i]];
        sym[i].prev = (int32_t)i - 1;
        sym[i].next = i + 1 < len ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < len; i++) try_pair(v, sym, (int32_t)i, (int32_t)i + 1, heap, &nh);
    /* Each merge kills one symbol and pushes at most two pairs: the heap never holds more
     * than (len - 1) + 2 * (len - 1) entries, but stale ones are popped before pushing. */
    while (nh > 0) {
        bpe_pair p = heap_pop(heap, &nh);
        bpe_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->id != p.lid || r->id != p.rid || l->next != p.right) continue; /* stale */
        l->id = p.id;
        r->id = -1;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if (nh + 2 > s->heap_cap) {
            if (grow(&s->heap, &s->heap_cap, nh + 2, sizeof(bpe_pair)))
                return err_set(err, LATTE_E_NOMEM, "out of memory for BPE");
            heap = s->heap;
        }
        try_pair(v, sym, l->prev, p.left, heap, &nh);
        try_pair(v, sym, p.left, l->next, heap, &nh);
    }
    /* Symbols with id -1 that were never merged are missing bytes: skip them. The live
     * list starts at 0 (symbol 0 is only ever a left side, so it stays the head). */
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        if (sym[i].id >= 0 && tok_ids_push(out, sym[i].id))
            return err_set(err, LATTE_E_NOMEM, "out of memory");
    return 0;
}
