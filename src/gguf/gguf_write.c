/* gguf_write.c: the GGUF v3 writer. Keys are serialized into one growing buffer as they
 * are added (so a copied 150k-entry vocabulary is one memcpy per string, no per-entry
 * structs); the directory keeps each tensor's name, shape, type and data offset, computed
 * at add time so the header can be written before any data. All numbers little-endian. */
#include "gguf_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../base/checked.h"
#include "../quant/quant.h"

typedef struct wtensor {
    char *name;
    uint32_t n_dims, type;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t offset, bytes; /* offset within the data section */
} wtensor;

struct gguf_writer {
    uint8_t *kv;          /* serialized key/values */
    size_t kv_len, kv_cap;
    char **keys;
    uint64_t n_kv, keys_cap;
    wtensor *t;
    int n_t, t_cap;
    uint64_t alignment, data_size;
    /* writing */
    FILE *f;
    char *path;
    int cur;              /* the tensor being written */
    uint64_t cur_done;    /* its bytes written so far */
    bool finished;
};

static const uint8_t elem_size[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

gguf_writer *gguf_writer_init(void) {
    gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = 32;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    if (w->path && !w->finished) unlink(w->path);
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (int i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->keys);
    free(w->t);
    free(w->kv);
    free(w->path);
    free(w);
}

/* ---- the key/value buffer ---- */

static int put(gguf_writer *w, const void *p, size_t n, latte_err *err) {
    if (n == 0) return 0;
    if (n > SIZE_MAX - w->kv_len) return err_set(err, LATTE_E_NOMEM, "gguf writer: metadata too large");
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap < w->kv_len + n) {
            if (cap > SIZE_MAX / 2) return err_set(err, LATTE_E_NOMEM, "gguf writer: metadata too large");
            cap *= 2;
        }
        uint8_t *nb = realloc(w->kv, cap);
        if (!nb) return err_set(err, LATTE_E_NOMEM, "gguf writer: out of memory (%zu bytes of metadata)", cap);
        w->kv = nb;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return 0;
}

static int put_le(gguf_writer *w, uint64_t v, int n, latte_err *err) {
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    return put(w, b, (size_t)n, err);
}

static int put_str(gguf_writer *w, const char *s, uint64_t len, latte_err *err) {
    int rc = put_le(w, len, 8, err);
    return rc ? rc : put(w, s, (size_t)len, err);
}

bool gguf_writer_has_key(const gguf_writer *w, const char *key) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->keys[i], key)) return true;
    return false;
}

/* Starts a key/value: checks the key is new, records it, writes the key and the type. */
static int begin_kv(gguf_writer *w, const char *key, size_t key_len, gguf_type type, latte_err *err) {
    char *k = strndup(key, key_len);
    if (!k) return err_set(err, LATTE_E_NOMEM, "gguf writer: out of memory");
    if (gguf_writer_has_key(w, k)) {
        free(k);
        return err_set(err, LATTE_E_ARG, "gguf writer: key '%.*s' given twice", (int)key_len, key);
    }
    if (w->n_kv == w->keys_cap) {
        uint64_t cap = w->keys_cap ? 2 * w->keys_cap : 32;
        char **nk = realloc(w->keys, cap * sizeof *nk);
        if (!nk) {
            free(k);
            return err_set(err, LATTE_E_NOMEM, "gguf writer: out of memory");
        }
        w->keys = nk;
        w->keys_cap = cap;
    }
    w->keys[w->n_kv++] = k;
    int rc = put_str(w, key, key_len, err);
    return rc ? rc : put_le(w, (uint64_t)type, 4, err);
}

static int add_scalar(gguf_writer *w, const char *key, gguf_type t, uint64_t bits, latte_err *err) {
    int rc = begin_kv(w, key, strlen(key), t, err);
    return rc ? rc : put_le(w, bits, elem_size[t], err);
}

int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v, latte_err *err) {
    if (!strcmp(key, "general.alignment")) {
        if (v == 0 || (v & (v - 1)))
            return err_set(err, LATTE_E_ARG, "gguf writer: alignment %u is not a power of two", v);
        w->alignment = v;
    }
    return add_scalar(w, key, GGUF_TYPE_UINT32, v, err);
}
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v, latte_err *err) {
    return add_scalar(w, key, GGUF_TYPE_INT32, (uint32_t)v, err);
}
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v, latte_err *err) {
    return add_scalar(w, key, GGUF_TYPE_UINT64, v, err);
}
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v, latte_err *err) {
    uint32_t u;
    memcpy(&u, &v, 4);
    return add_scalar(w, key, GGUF_TYPE_FLOAT32, u, err);
}
int gguf_writer_add_bool(gguf_writer *w, const char *key, bool v, latte_err *err) {
    return add_scalar(w, key, GGUF_TYPE_BOOL, v ? 1 : 0, err);
}
int gguf_writer_add_str(gguf_writer *w, const char *key, const char *v, latte_err *err) {
    int rc = begin_kv(w, key, strlen(key), GGUF_TYPE_STRING, err);
    return rc ? rc : put_str(w, v, strlen(v), err);
}

static int arr_head(gguf_writer *w, const char *key, size_t key_len, gguf_type elem, uint64_t n, latte_err *err) {
    if ((unsigned)elem >= GGUF_TYPE_COUNT || elem == GGUF_TYPE_ARRAY)
        return err_set(err, LATTE_E_ARG, "gguf writer: key '%.*s': bad array element type %d", (int)key_len, key, elem);
    int rc = begin_kv(w, key, key_len, GGUF_TYPE_ARRAY, err);
    if (!rc) rc = put_le(w, (uint64_t)elem, 4, err);
    return rc ? rc : put_le(w, n, 8, err);
}

/* Numeric array data, converted element by element so the file is little-endian anywhere. */
static int put_elems(gguf_writer *w, gguf_type elem, const void *data, uint64_t n, latte_err *err) {
    uint64_t bytes;
    if (!ck_mul_u64(n, elem_size[elem], &bytes) || bytes > SIZE_MAX)
        return err_set(err, LATTE_E_NOMEM, "gguf writer: array too large");
    return put(w, data, (size_t)bytes, err); /* hosts are little-endian (x86-64, aarch64) */
}

int gguf_writer_add_arr(gguf_writer *w, const char *key, gguf_type elem, const void *data, uint64_t n,
                        latte_err *err) {
    if (elem == GGUF_TYPE_STRING) return err_set(err, LATTE_E_ARG, "gguf writer: use add_arr_str for '%s'", key);
    int rc = arr_head(w, key, strlen(key), elem, n, err);
    return rc ? rc : put_elems(w, elem, data, n, err);
}

int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n, latte_err *err) {
    int rc = arr_head(w, key, strlen(key), GGUF_TYPE_STRING, n, err);
    for (uint64_t i = 0; !rc && i < n; i++) rc = put_str(w, v[i], strlen(v[i]), err);
    return rc;
}

int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv, latte_err *err) {
    const char *key = kv->key.ptr;
    size_t kl = (size_t)kv->key.len;
    int rc;
    if (kv->type == GGUF_TYPE_ARRAY) {
        rc = arr_head(w, key, kl, kv->arr_type, kv->arr_n, err);
        if (rc) return rc;
        if (kv->arr_type == GGUF_TYPE_STRING) {
            for (uint64_t i = 0; !rc && i < kv->arr_n; i++) rc = put_str(w, kv->arr_strs[i].ptr, kv->arr_strs[i].len, err);
            return rc;
        }
        return put_elems(w, kv->arr_type, kv->arr_data, kv->arr_n, err);
    }
    if ((unsigned)kv->type >= GGUF_TYPE_COUNT)
        return err_set(err, LATTE_E_ARG, "gguf writer: key '%.*s' has a bad type", (int)kl, key);
    if (kl == 17 && !memcmp(key, "general.alignment", 17) && kv->type == GGUF_TYPE_UINT32) {
        uint64_t a = kv->val.u64;
        if (a && !(a & (a - 1))) w->alignment = a;
    }
    rc = begin_kv(w, key, kl, kv->type, err);
    if (rc) return rc;
    switch (kv->type) {
    case GGUF_TYPE_STRING: return put_str(w, kv->val.str.ptr, kv->val.str.len, err);
    case GGUF_TYPE_BOOL: return put_le(w, kv->val.b ? 1 : 0, 1, err);
    case GGUF_TYPE_FLOAT32: {
        float f = (float)kv->val.f64;
        uint32_t u;
        memcpy(&u, &f, 4);
        return put_le(w, u, 4, err);
    }
    case GGUF_TYPE_FLOAT64: {
        uint64_t u;
        memcpy(&u, &kv->val.f64, 8);
        return put_le(w, u, 8, err);
    }
    default: /* integers: the widened value, cut back to the stored width */
        return put_le(w, kv->val.u64, elem_size[kv->type], err);
    }
}

/* ---- the tensor directory ---- */

int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t n_dims, const int64_t *ne, uint32_t type,
                           latte_err *err) {
    const quant_type_info *ti = quant_type_info_get(type);
    if (!ti) return err_set(err, LATTE_E_ARG, "gguf writer: tensor '%s': unknown type %u", name, type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return err_set(err, LATTE_E_ARG, "gguf writer: tensor '%s': %u dimensions", name, n_dims);
    for (int i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return err_set(err, LATTE_E_ARG, "gguf writer: tensor '%s' given twice", name);
    wtensor t = {.n_dims = n_dims, .type = type};
    uint64_t n = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 1 || !ck_mul_u64(n, (uint64_t)t.ne[d], &n))
            return err_set(err, LATTE_E_ARG, "gguf writer: tensor '%s': bad dimension %u", name, d);
    }
    if (t.ne[0] % ti->block_elems)
        return err_set(err, LATTE_E_ARG, "gguf writer: tensor '%s': row of %lld is not a multiple of %s's block of %u",
                       name, (long long)t.ne[0], ti->name, ti->block_elems);
    uint64_t pad = (w->alignment - w->data_size % w->alignment) % w->alignment;
    if (!ck_mul_u64(n / ti->block_elems, ti->block_bytes, &t.bytes) || !ck_add_u64(w->data_size, pad, &t.offset) ||
        !ck_add_u64(t.offset, t.bytes, &w->data_size))
        return err_set(err, LATTE_E_ARG, "gguf writer: tensor '%s' is too large", name);
    if (w->n_t == w->t_cap) {
        int cap = w->t_cap ? 2 * w->t_cap : 64;
        wtensor *nt = realloc(w->t, (size_t)cap * sizeof *nt);
        if (!nt) return err_set(err, LATTE_E_NOMEM, "gguf writer: out of memory");
        w->t = nt;
        w->t_cap = cap;
    }
    if (!(t.name = strdup(name))) return err_set(err, LATTE_E_NOMEM, "gguf writer: out of memory");
    w->t[w->n_t] = t;
    return w->n_t++;
}

uint64_t gguf_writer_tensor_bytes(const gguf_writer *w, int i) { return i >= 0 && i < w->n_t ? w->t[i].bytes : 0; }
int gguf_writer_n_tensors(const gguf_writer *w) { return w->n_t; }

/* ---- writing ---- */

static int io_err(gguf_writer *w, latte_err *err) {
    return err_set(err, LATTE_E_IO, "%s: write failed: %s", w->path, strerror(errno ? errno : EIO));
}

static int wr(gguf_writer *w, const void *p, size_t n, latte_err *err) {
    if (n && fwrite(p, 1, n, w->f) != n) return io_err(w, err);
    return 0;
}

static int wr_le(gguf_writer *w, uint64_t v, int n, latte_err *err) {
    uint8_t b[8];
    for (int i = 0; i < n; i++) b[i] = (uint8_t)(v >> (8 * i));
    return wr(w, b, (size_t)n, err);
}

static int wr_zeros(gguf_writer *w, uint64_t n, latte_err *err) {
    static const uint8_t z[256];
    while (n) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        int rc = wr(w, z, k, err);
        if (rc) return rc;
        n -= k;
    }
    return 0;
}

int gguf_writer_begin(gguf_writer *w, const char *path, latte_err *err) {
    if (w->f || w->path) return err_set(err, LATTE_E_ARG, "gguf writer: begin called twice");
    if (!(w->path = strdup(path))) return err_set(err, LATTE_E_NOMEM, "gguf writer: out of memory");
    errno = 0;
    if (!(w->f = fopen(path, "wb"))) {
        int e = errno;
        free(w->path);
        w->path = NULL;
        return err_set(err, LATTE_E_IO, "%s: %s", path, strerror(e));
    }
    setvbuf(w->f, NULL, _IOFBF, 1 << 20);
    int rc = wr(w, "GGUF", 4, err);
    if (!rc) rc = wr_le(w, 3, 4, err);
    if (!rc) rc = wr_le(w, (uint64_t)w->n_t, 8, err);
    if (!rc) rc = wr_le(w, w->n_kv, 8, err);
    if (!rc) rc = wr(w, w->kv, w->kv_len, err);
    uint64_t pos = 24 + w->kv_len;
    for (int i = 0; !rc && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        uint64_t nl = strlen(t->name);
        rc = wr_le(w, nl, 8, err);
        if (!rc) rc = wr(w, t->name, (size_t)nl, err);
        if (!rc) rc = wr_le(w, t->n_dims, 4, err);
        for (uint32_t d = 0; !rc && d < t->n_dims; d++) rc = wr_le(w, (uint64_t)t->ne[d], 8, err);
        if (!rc) rc = wr_le(w, t->type, 4, err);
        if (!rc) rc = wr_le(w, t->offset, 8, err);
        pos += 8 + nl + 4 + 8 * t->n_dims + 4 + 8;
    }
    if (!rc) rc = wr_zeros(w, (w->alignment - pos % w->alignment) % w->alignment, err);
    w->cur = 0;
    w->cur_done = 0;
    return rc;
}

/* Pads after tensor cur ends, up to where the next one starts. */
static int end_tensor(gguf_writer *w, latte_err *err) {
    const wtensor *t = &w->t[w->cur];
    uint64_t end = t->offset + t->bytes;
    uint64_t next = w->cur + 1 < w->n_t ? w->t[w->cur + 1].offset : end + (w->alignment - end % w->alignment) % w->alignment;
    w->cur++;
    w->cur_done = 0;
    return wr_zeros(w, next - end, err);
}

int gguf_writer_write_data(gguf_writer *w, const void *data, uint64_t n, latte_err *err) {
    if (!w->f) return err_set(err, LATTE_E_ARG, "gguf writer: data written before begin");
    if (w->cur >= w->n_t) return err_set(err, LATTE_E_ARG, "gguf writer: more data than the directory holds");
    const wtensor *t = &w->t[w->cur];
    if (n > t->bytes - w->cur_done)
        return err_set(err, LATTE_E_ARG, "gguf writer: tensor '%s': %llu bytes written past its %llu", t->name,
                       (unsigned long long)(w->cur_done + n - t->bytes), (unsigned long long)t->bytes);
    int rc = wr(w, data, (size_t)n, err);
    if (rc) return rc;
    w->cur_done += n;
    return w->cur_done == t->bytes ? end_tensor(w, err) : 0;
}

int gguf_writer_write_tensor(gguf_writer *w, const void *data, latte_err *err) {
    if (w->cur >= w->n_t) return err_set(err, LATTE_E_ARG, "gguf writer: more data than the directory holds");
    if (w->cur_done) return err_set(err, LATTE_E_ARG, "gguf writer: tensor '%s' is half written", w->t[w->cur].name);
    return gguf_writer_write_data(w, data, w->t[w->cur].bytes, err);
}

int gguf_writer_finish(gguf_writer *w, latte_err *err) {
    if (!w->f) return err_set(err, LATTE_E_ARG, "gguf writer: finish before begin");
    if (w->cur < w->n_t)
        return err_set(err, LATTE_E_ARG, "gguf writer: tensor '%s' (%d of %d) was not written", w->t[w->cur].name,
                       w->cur + 1, w->n_t);
    FILE *f = w->f;
    w->f = NULL;
    errno = 0;
    if (fclose(f)) return io_err(w, err);
    w->finished = true;
    return 0;
}
