/* gguf.h: a validated, read-only view of a GGUF (v2/v3) file over mmap.
 * gguf_open parses and checks the header, every key/value and the whole tensor
 * directory: every count, length, type id, dimension, element count, alignment and
 * tensor extent is checked (overflow-safe) before use. It knows nothing of models.
 * Tensor data that lies past the end of the file does not fail gguf_open (metadata
 * commands still work); such tensors have data == NULL and gguf_check_data reports
 * the first of them. */
#ifndef LATTE_GGUF_H
#define LATTE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

typedef enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

/* A string inside the mapping: not NUL-terminated. */
typedef struct gguf_str {
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    gguf_type type;
    union {
        uint64_t u64; /* any unsigned integer type, widened */
        int64_t i64;  /* any signed integer type, widened */
        double f64;   /* FLOAT32 / FLOAT64, widened */
        bool b;
        gguf_str str;
    } val;
    /* arrays (type == GGUF_TYPE_ARRAY) */
    gguf_type arr_type;   /* element type; never ARRAY (nested arrays are rejected) */
    uint64_t arr_n;       /* element count */
    const void *arr_data; /* elements in the map (little-endian, unaligned) for numeric types */
    gguf_str *arr_strs;   /* arr_n strings, when arr_type == STRING (owned by the file) */
} gguf_kv;

#define GGUF_MAX_DIMS 4

typedef struct gguf_tensor {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ggml order: ne[0] is contiguous; unused dims are 1 */
    uint32_t type;             /* ggml type id; known to quant_type_info */
    uint64_t n_elems;
    uint64_t n_bytes;          /* data size */
    uint64_t offset;           /* absolute file offset of the data */
    const void *data;          /* into the map; NULL when the data lies past the end of file */
    uint32_t shard;            /* index of the file holding the data (0 unless split) */
} gguf_tensor;

typedef struct gguf_file {
    char *path;
    void *map;
    uint64_t file_size;
    uint32_t version;
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;   /* absolute offset of the tensor data section */
    uint64_t data_needed;   /* file size the directory needs (end of the last tensor) */
    /* A split model (gguf_open_model on a NAME-0000i-of-0000N.gguf shard): the shards in
     * order; the metadata is shards[0]'s, the tensors are all shards' (each tensor's offset
     * and data are in its own shard); file_size and data_needed are sums. NULL otherwise. */
    struct gguf_file **shards;
    uint32_t n_shards;
} gguf_file;

/* Opens, maps and validates path. On success *out owns the mapping; free with gguf_free. */
int gguf_open(gguf_file **out, const char *path, latte_err *err);
/* Same over a caller-owned buffer (used by the fuzz target); the buffer must outlive the file. */
int gguf_open_memory(gguf_file **out, const void *buf, uint64_t size, latte_err *err);
void gguf_free(gguf_file *gf);

/* Opens a model file: a single GGUF as gguf_open does, or, when the file carries split.count
 * > 1, every shard of the split it belongs to (any shard may be given), found by the file
 * name pattern NAME-%05d-of-%05d.gguf. Each shard gets every check of gguf_open; the set must
 * agree on split.count and split.tensors.count, each shard's split.no must match its name, and
 * the tensors must be exactly split.tensors.count with no name twice. Errors name the shard.
 * Lives in gguf_split.c. */
int gguf_open_model(gguf_file **out, const char *path, latte_err *err);

/* Returns 0 when every tensor's data lies within the file; otherwise LATTE_E_DATA with a
 * message naming the first tensor past the end, the file size and the size needed (and, for a
 * split model, the shard). */
int gguf_check_data(const gguf_file *gf, latte_err *err);

const gguf_kv *gguf_find_kv(const gguf_file *gf, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *gf, const char *name);
bool gguf_str_eq(gguf_str s, const char *cstr);

/* Typed getters. Return 0 on success, LATTE_E_MISSING (message names the key) when absent,
 * LATTE_E_FORMAT when the stored type does not fit (e.g. negative into unsigned, string
 * into number). Integer getters accept any integer type whose value fits. */
int gguf_get_u32(const gguf_file *gf, const char *key, uint32_t *out, latte_err *err);
int gguf_get_u64(const gguf_file *gf, const char *key, uint64_t *out, latte_err *err);
int gguf_get_i32(const gguf_file *gf, const char *key, int32_t *out, latte_err *err);
int gguf_get_f32(const gguf_file *gf, const char *key, float *out, latte_err *err); /* ints accepted too */
int gguf_get_bool(const gguf_file *gf, const char *key, bool *out, latte_err *err);
int gguf_get_str(const gguf_file *gf, const char *key, gguf_str *out, latte_err *err);
/* An array of the given element type (for STRING, use kv->arr_strs). */
int gguf_get_arr(const gguf_file *gf, const char *key, gguf_type elem, const gguf_kv **out, latte_err *err);

/* Array element readers (index must be < arr_n; element type must match). */
int32_t gguf_arr_i32(const gguf_kv *kv, uint64_t i);
float gguf_arr_f32(const gguf_kv *kv, uint64_t i);
uint32_t gguf_arr_u32(const gguf_kv *kv, uint64_t i);

const char *gguf_type_name(gguf_type t);

#endif
