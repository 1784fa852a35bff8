/* err.h: error codes and the one-line error message that every fallible call fills.
 * Functions below cli/ and server/ never exit or print: they return 0 or a negative
 * LATTE_E_* code and write one line (no trailing newline) into a latte_err. */
#ifndef LATTE_BASE_ERR_H
#define LATTE_BASE_ERR_H

#include <stddef.h>

enum {
    LATTE_OK = 0,
    LATTE_E_IO = -1,          /* open/read/mmap failed */
    LATTE_E_FORMAT = -2,      /* malformed or hostile file */
    LATTE_E_UNSUPPORTED = -3, /* valid but not supported (type, arch, op) */
    LATTE_E_NOMEM = -4,       /* allocation failed or size overflow */
    LATTE_E_ARG = -5,         /* bad argument from the caller/user */
    LATTE_E_MISSING = -6,     /* a required key/tensor is absent */
    LATTE_E_CTX = -7,         /* context (cache) full */
    LATTE_E_DATA = -8,        /* tensor data lies past the end of the file */
};

typedef struct latte_err {
    int code;
    char msg[512];
} latte_err;

/* Fills err (if not NULL) with code and a printf-formatted message; returns code. */
int err_set(latte_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
