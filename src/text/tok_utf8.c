/* tok_utf8.c: small text helpers for the tokenizer: strict UTF-8 decode/encode, the
 * streaming "complete prefix" rule, GPT-2's byte<->codepoint mapping (a pure function,
 * so no table is kept), and the growable id/span arrays. Nothing here allocates except
 * the two push functions, which grow geometrically. */
#include <stdlib.h>

#include "tok_internal.h"

int tok_ids_push(tok_ids *a, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *nv = realloc(a->v, cap * sizeof *nv);
        if (!nv) return LATTE_E_NOMEM;
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

int tok_spans_push(tok_spans *a, size_t off, size_t len) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        tok_span *nv = realloc(a->v, cap * sizeof *nv);
        if (!nv) return LATTE_E_NOMEM;
        a->v = nv;
        a->cap = cap;
    }
    a->v[a->n].off = off;
    a->v[a->n].len = len;
    a->n++;
    return 0;
}

/* Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF stand for themselves; the other 68 bytes
 * (0x00-0x20, 0x7F-0xA0, 0xAD) take codepoints 256.. in byte order. */
uint32_t tok_byte_to_cp(uint8_t b) {
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33u + (uint32_t)(b - 0x7F);
    if (b == 0xAD) return 256u + 67u;
    return b;
}

int tok_cp_to_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp >= 256 && cp <= 256 + 32) return (int)(cp - 256);
    if (cp >= 256 + 33 && cp <= 256 + 66) return (int)(cp - 256 - 33 + 0x7F);
    if (cp == 256 + 67) return 0xAD;
    return -1;
}

int tok_utf8_decode(const char *s, size_t len, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    if (len == 0) return 0;
    unsigned char c = u[0];
    int n;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { n = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if ((size_t)n > len) return 0;
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (u[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}

int tok_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t tok_utf8_complete_prefix(const char *buf, size_t len) {
    const unsigned char *u = (const unsigned char *)buf;
    /* Look back at most 3 bytes for the lead byte of a sequence still being written. */
    for (size_t k = 1; k <= 3 && k <= len; k++) {
        unsigned char c = u[len - k];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte: keep looking */
        size_t need = (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
                    : (c >= 0xF0 && c <= 0xF4) ? 4 : 1;
        if (need <= k) return len; /* complete (or ASCII / invalid lead) */
        /* incomplete: hold it back only if the bytes so far can still become valid */
        uint32_t cp;
        char tmp[4] = {0};
        for (size_t i = 0; i < k; i++) tmp[i] = (char)u[len - k + i];
        for (size_t i = k; i < need; i++) tmp[i] = (char)0x80; /* smallest continuation */
        bool ok = tok_utf8_decode(tmp, need, &cp) == (int)need;
        if (!ok) { /* e.g. E0 80: try the largest continuation for range checks */
            for (size_t i = k; i < need; i++) tmp[i] = (char)0xBF;
            ok = tok_utf8_decode(tmp, need, &cp) == (int)need;
        }
        return ok ? len - k : len;
    }
    return len;
}
