/* gguf_internal.h: what gguf_split.c needs of gguf.c beyond the public view. */
#ifndef LATTE_GGUF_INTERNAL_H
#define LATTE_GGUF_INTERNAL_H

#include "gguf.h"

/* An empty gguf_file that gguf_free can release (NULL when out of memory). */
gguf_file *gguf_alloc(void);

#endif
