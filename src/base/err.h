/* err.h: error codes and the one-line error message that every fallible call fills.
 * The codes and latte_err itself are public (include/latte.h). Functions below cli/
 * and server/ never exit or print: they return 0 or a negative LATTE_E_* code and
 * write one line (no trailing newline) into a latte_err. */
#ifndef LATTE_BASE_ERR_H
#define LATTE_BASE_ERR_H

#include <latte.h>

/* Fills err (if not NULL) with code and a printf-formatted message; returns code. */
int err_set(latte_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
