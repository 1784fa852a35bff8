/* checked.h: overflow-safe size arithmetic. Every size read from a file goes through
 * these before it sizes a buffer or indexes memory. They return false on overflow. */
#ifndef LATTE_BASE_CHECKED_H
#define LATTE_BASE_CHECKED_H

#include <stdbool.h>
#include <stdint.h>

static inline bool ck_add_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_add_overflow(a, b, out);
}
static inline bool ck_mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return !__builtin_mul_overflow(a, b, out);
}

#endif
