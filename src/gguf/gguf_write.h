/* gguf_write.h: writes GGUF v3 files, streaming. Keys and the tensor directory are
 * collected in memory first (gguf_writer_add_*), then gguf_writer_begin writes the header,
 * the keys and the directory, and each tensor's data follows in the order the tensors were
 * added (gguf_writer_write_tensor, or in pieces with gguf_writer_write_data). So a file of
 * any size is written with one tensor (or one row) in memory at a time. Knows nothing of
 * models; the reader (gguf.h) checks what this writes. */
#ifndef LATTE_GGUF_WRITE_H
#define LATTE_GGUF_WRITE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "gguf.h"

typedef struct gguf_writer gguf_writer;

/* A writer for path (created or truncated at gguf_writer_begin). NULL when out of memory. */
gguf_writer *gguf_writer_init(void);
/* Closes the file (if still open) and frees everything; a file not finished is removed. */
void gguf_writer_free(gguf_writer *w);

/* Keys. A key given twice is LATTE_E_ARG. Strings are copied. */
int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, latte_err *err);
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, latte_err *err);
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, latte_err *err);
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v, latte_err *err);
int gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, latte_err *err);
int gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, latte_err *err);
/* Numeric arrays: n elements of type elem (little-endian, packed) from data. */
int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_type elem, const void *data, uint64_t n,
                        latte_err *err);
/* String arrays: n NUL-terminated strings. */
int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n, latte_err *err);
/* Copies one key/value as read from another file (any type, arrays included). */
int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv, latte_err *err);
/* True when the key was added. */
bool gguf_writer_has_key(const gguf_writer *w, const char *key);

/* A tensor of n_dims dimensions ne (ggml order) and ggml type. ne[0] must be a whole number of
 * the type's blocks. Returns the tensor's index, or a negative LATTE_E_*. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const int64_t *ne, uint32_t type,
                           latte_err *err);
/* Bytes of tensor i's data. */
uint64_t gguf_writer_tensor_bytes(const gguf_writer *w, int i);
int gguf_writer_n_tensors(const gguf_writer *w);

/* Creates path and writes the header, the keys and the tensor directory. */
int gguf_writer_begin(gguf_writer *w, const char *path, latte_err *err);
/* Appends n bytes of the current tensor's data; a tensor ends (and is padded to the
 * alignment) when all its bytes have been written. Writing more than the directory says is
 * LATTE_E_ARG. */
int gguf_writer_write_data(gguf_writer *w, const void *data, uint64_t n, latte_err *err);
/* The whole of the next tensor's data at once. */
int gguf_writer_write_tensor(gguf_writer *w, const void *data, latte_err *err);
/* Checks that every tensor was written in full, then closes the file. */
int gguf_writer_finish(gguf_writer *w, latte_err *err);

#endif
