/* err.c: filling latte_err. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(latte_err *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}
