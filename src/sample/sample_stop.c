/* sample_stop.c: stop-string search over generated text, for streaming front ends.
 * Works on bytes: a stop string matches wherever its bytes occur, so a caller that wants
 * token-aligned stops checks the returned index itself. Never allocates. */
#include "sample/sample.h"

#include <string.h>

/* Returns true when text[len - k .. len) equals a proper prefix (k < slen) of stop, for
 * some k >= 1. */
static bool ends_with_prefix(const char *text, size_t len, const char *stop, size_t slen) {
    for (size_t k = slen - 1 < len ? slen - 1 : len; k >= 1; k--)
        if (memcmp(text + len - k, stop, k) == 0) return true;
    return false;
}

long sample_find_stop(const char *text, size_t len, const char *const *stops, size_t n_stops,
                      bool *partial) {
    long best = -1;
    bool part = false;
    for (size_t i = 0; i < n_stops; i++) {
        const char *st = stops[i];
        size_t sl = st ? strlen(st) : 0;
        if (sl == 0) continue;
        size_t limit = best >= 0 ? (size_t)best : len; /* only earlier starts can win */
        for (size_t at = 0; at + sl <= len && at < limit; at++) {
            if (memcmp(text + at, st, sl) == 0) {
                best = (long)at;
                break;
            }
        }
        if (!part && ends_with_prefix(text, len, st, sl)) part = true;
    }
    if (partial) *partial = best < 0 && part;
    return best;
}
