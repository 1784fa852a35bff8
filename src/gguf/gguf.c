/* gguf.c: parse and validate a GGUF v2/v3 file held in memory (mmap or caller buffer).
 * The parser reads through a bounds-checked cursor: every count is compared with the
 * bytes left before anything is allocated, every size goes through ck_add/ck_mul.
 * Keys and tensor names point into the buffer (not NUL-terminated). Tensors whose data
 * lies past the end keep data == NULL; gguf_check_data reports them. Errors are one line
 * naming the byte offset, key or tensor. The typed getters live at the end of the file. */
#include "gguf.h"
#include "gguf_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../base/checked.h"
#include "../quant/quant.h"

/* the private side of a gguf_file: whether we own the mapping, and its length */
typedef struct gguf_impl {
    gguf_file pub; /* first: a gguf_file * is a gguf_impl * */
    bool mapped;
    uint64_t map_len;
} gguf_impl;

typedef struct cursor {
    const uint8_t *p;
    uint64_t size, pos;
    latte_err *err;
} cursor;

#define MAX_ELEMS (1ULL << 62)

static const char *const type_names[GGUF_TYPE_COUNT] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};
static const uint8_t type_sizes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *gguf_type_name(gguf_type t) {
    return (unsigned)t < GGUF_TYPE_COUNT ? type_names[t] : "invalid";
}

static uint64_t left(const cursor *c) { return c->size - c->pos; }

static int need(cursor *c, uint64_t n, const char *what) {
    if (n > left(c))
        return err_set(c->err, LATTE_E_FORMAT, "truncated file: %s at offset %llu needs %llu bytes, %llu left",
                       what, (unsigned long long)c->pos, (unsigned long long)n, (unsigned long long)left(c));
    return 0;
}

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int rd_u32(cursor *c, uint32_t *out, const char *what) {
    int rc = need(c, 4, what);
    if (rc) return rc;
    *out = (uint32_t)rd_le(c->p + c->pos, 4);
    c->pos += 4;
    return 0;
}

static int rd_u64(cursor *c, uint64_t *out, const char *what) {
    int rc = need(c, 8, what);
    if (rc) return rc;
    *out = rd_le(c->p + c->pos, 8);
    c->pos += 8;
    return 0;
}

static int rd_str(cursor *c, gguf_str *out, const char *what) {
    uint64_t at = c->pos, len;
    int rc = rd_u64(c, &len, what);
    if (rc) return rc;
    if (len > left(c))
        return err_set(c->err, LATTE_E_FORMAT, "%s at offset %llu has length %llu but only %llu bytes are left",
                       what, (unsigned long long)at, (unsigned long long)len, (unsigned long long)left(c));
    out->ptr = (const char *)(c->p + c->pos);
    out->len = len;
    c->pos += len;
    return 0;
}

/* a printable excerpt of s for messages */
static const char *shown(gguf_str s, char *buf, size_t cap) {
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    for (size_t i = 0; i < n; i++) buf[i] = (s.ptr[i] >= 32 && s.ptr[i] < 127) ? s.ptr[i] : '?';
    buf[n] = 0;
    return buf;
}

/* reads one scalar of type t into kv->val */
static int rd_scalar(cursor *c, gguf_type t, gguf_kv *kv, const char *key) {
    if (t == GGUF_TYPE_STRING) return rd_str(c, &kv->val.str, key);
    int rc = need(c, type_sizes[t], key);
    if (rc) return rc;
    uint64_t v = rd_le(c->p + c->pos, type_sizes[t]);
    c->pos += type_sizes[t];
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        kv->val.u64 = v; break;
    case GGUF_TYPE_INT8: kv->val.i64 = (int8_t)v; break;
    case GGUF_TYPE_INT16: kv->val.i64 = (int16_t)v; break;
    case GGUF_TYPE_INT32: kv->val.i64 = (int32_t)v; break;
    case GGUF_TYPE_INT64: kv->val.i64 = (int64_t)v; break;
    case GGUF_TYPE_FLOAT32: { uint32_t u = (uint32_t)v; float f; memcpy(&f, &u, 4); kv->val.f64 = f; break; }
    case GGUF_TYPE_FLOAT64: memcpy(&kv->val.f64, &v, 8); break;
    case GGUF_TYPE_BOOL: kv->val.b = v != 0; break;
    default: break;
    }
    return 0;
}

static int rd_array(cursor *c, gguf_kv *kv, const char *key) {
    uint32_t et;
    uint64_t at = c->pos, n;
    int rc = rd_u32(c, &et, key);
    if (!rc) rc = rd_u64(c, &n, key);
    if (rc) return rc;
    if (et == GGUF_TYPE_ARRAY)
        return err_set(c->err, LATTE_E_FORMAT, "%s at offset %llu: nested arrays are not supported",
                       key, (unsigned long long)at);
    if (et >= GGUF_TYPE_COUNT)
        return err_set(c->err, LATTE_E_FORMAT, "%s at offset %llu: unknown array element type %u",
                       key, (unsigned long long)at, et);
    kv->arr_type = (gguf_type)et;
    kv->arr_n = n;
    uint64_t min_size = et == GGUF_TYPE_STRING ? 8 : type_sizes[et];
    if (n > left(c) / min_size)
        return err_set(c->err, LATTE_E_FORMAT,
                       "%s at offset %llu: array of %llu %s elements cannot fit in the %llu bytes left",
                       key, (unsigned long long)at, (unsigned long long)n, type_names[et],
                       (unsigned long long)left(c));
    if (et != GGUF_TYPE_STRING) {
        kv->arr_data = c->p + c->pos;
        c->pos += n * min_size;
        return 0;
    }
    kv->arr_strs = n ? malloc(n * sizeof(gguf_str)) : NULL;
    if (n && !kv->arr_strs)
        return err_set(c->err, LATTE_E_NOMEM, "%s: out of memory for %llu strings", key, (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        rc = rd_str(c, &kv->arr_strs[i], key);
        if (rc) return rc;
    }
    return 0;
}

/* finds two equal names among n (via a hash table); returns 0 and sets *dup to the later index,
 * 1 when all are distinct, negative on allocation failure */
static uint64_t str_hash(gguf_str s) {
    uint64_t h = 1469598103934665603ULL;
    for (uint64_t i = 0; i < s.len; i++) h = (h ^ (uint8_t)s.ptr[i]) * 1099511628211ULL;
    return h;
}

static bool str_same(gguf_str a, gguf_str b) { return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0; }

static int find_dup(const void *items, size_t stride, uint64_t n, uint64_t *dup) {
    uint64_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    uint64_t *slot = calloc(cap, sizeof *slot);
    if (!slot) return -1;
#define NAME_AT(i) (*(const gguf_str *)((const char *)items + (size_t)(i) * stride))
    for (uint64_t i = 0; i < n; i++) {
        uint64_t h = str_hash(NAME_AT(i)) & (cap - 1);
        while (slot[h] && !str_same(NAME_AT(slot[h] - 1), NAME_AT(i))) h = (h + 1) & (cap - 1);
        if (slot[h]) {
            *dup = i;
            free(slot);
            return 0;
        }
        slot[h] = i + 1;
    }
#undef NAME_AT
    free(slot);
    return 1;
}

/* grows an array of elements of size elem to hold at least n+1; cap tracks its capacity */
static int grow(void **arr, uint64_t *cap, uint64_t n, size_t elem, uint64_t max) {
    if (n < *cap) return 0;
    uint64_t nc = *cap ? *cap * 2 : 64;
    if (nc > max) nc = max;
    void *p = realloc(*arr, nc * elem);
    if (!p) return -1;
    memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 0;
}

static int parse_header(cursor *c, gguf_file *gf) {
    int rc = need(c, 4, "magic");
    if (rc) return rc;
    if (memcmp(c->p, "GGUF", 4) != 0)
        return err_set(c->err, LATTE_E_FORMAT, "not a GGUF file: bad magic %02x %02x %02x %02x at offset 0",
                       c->p[0], c->p[1], c->p[2], c->p[3]);
    c->pos = 4;
    rc = rd_u32(c, &gf->version, "version");
    if (rc) return rc;
    uint32_t v = gf->version, swapped = __builtin_bswap32(v);
    if (v != 2 && v != 3 && swapped >= 1 && swapped <= 3)
        return err_set(c->err, LATTE_E_UNSUPPORTED, "big-endian GGUF file (version %u byte-swapped) is not supported",
                       swapped);
    if (v == 1)
        return err_set(c->err, LATTE_E_UNSUPPORTED, "GGUF version 1 is not supported (only versions 2 and 3)");
    if (v != 2 && v != 3)
        return err_set(c->err, LATTE_E_UNSUPPORTED, "unknown GGUF version %u at offset 4 (only versions 2 and 3)", v);
    rc = rd_u64(c, &gf->n_tensors, "tensor count");
    if (!rc) rc = rd_u64(c, &gf->n_kv, "metadata count");
    return rc;
}

static int parse_kvs(cursor *c, gguf_file *gf) {
    uint64_t cap = 0, n = gf->n_kv;
    gf->n_kv = 0; /* counts only what was parsed, for gguf_free */
    /* each pair needs at least a key length (8), a value type (4) and one value byte */
    if (n > left(c) / 13)
        return err_set(c->err, LATTE_E_FORMAT, "metadata count %llu at offset 16 cannot fit in the %llu bytes left",
                       (unsigned long long)n, (unsigned long long)left(c));
    for (uint64_t i = 0; i < n; i++) {
        if (grow((void **)&gf->kv, &cap, i, sizeof(gguf_kv), n))
            return err_set(c->err, LATTE_E_NOMEM, "out of memory for %llu metadata pairs", (unsigned long long)n);
        gguf_kv *kv = &gf->kv[i];
        gf->n_kv = i + 1; /* so gguf_free releases kv->arr_strs */
        uint64_t at = c->pos;
        uint32_t t;
        char key[96], what[112];
        int rc = rd_str(c, &kv->key, "metadata key");
        if (rc) return rc;
        snprintf(what, sizeof what, "key '%s'", shown(kv->key, key, sizeof key));
        rc = rd_u32(c, &t, what);
        if (rc) return rc;
        if (t >= GGUF_TYPE_COUNT)
            return err_set(c->err, LATTE_E_FORMAT, "%s at offset %llu: unknown value type %u", what,
                           (unsigned long long)at, t);
        kv->type = (gguf_type)t;
        rc = t == GGUF_TYPE_ARRAY ? rd_array(c, kv, what) : rd_scalar(c, kv->type, kv, what);
        if (rc) return rc;
    }
    uint64_t dup;
    int d = find_dup(gf->kv, sizeof(gguf_kv), gf->n_kv, &dup);
    if (d < 0) return err_set(c->err, LATTE_E_NOMEM, "out of memory checking metadata keys");
    if (d == 0) {
        char key[96];
        return err_set(c->err, LATTE_E_FORMAT, "duplicate metadata key '%s'", shown(gf->kv[dup].key, key, sizeof key));
    }
    return 0;
}

static int parse_alignment(cursor *c, gguf_file *gf) {
    gf->alignment = 32;
    const gguf_kv *kv = gguf_find_kv(gf, "general.alignment");
    if (!kv) return 0;
    if (kv->type != GGUF_TYPE_UINT32)
        return err_set(c->err, LATTE_E_FORMAT, "key 'general.alignment' has type %s, expected uint32",
                       gguf_type_name(kv->type));
    uint64_t a = kv->val.u64;
    if (a == 0 || (a & (a - 1)) != 0)
        return err_set(c->err, LATTE_E_FORMAT, "key 'general.alignment' is %llu, not a nonzero power of two",
                       (unsigned long long)a);
    gf->alignment = a;
    return 0;
}

/* reads one tensor info; the offset is still relative to the data section */
static int parse_tensor_info(cursor *c, gguf_tensor *t) {
    uint64_t at = c->pos;
    char name[96];
    int rc = rd_str(c, &t->name, "tensor name");
    if (!rc) rc = rd_u32(c, &t->n_dims, "tensor dimension count");
    if (rc) return rc;
    shown(t->name, name, sizeof name);
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return err_set(c->err, LATTE_E_FORMAT, "tensor '%s' at offset %llu has %u dimensions (must be 1..%d)", name,
                       (unsigned long long)at, t->n_dims, GGUF_MAX_DIMS);
    uint64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne;
        rc = rd_u64(c, &ne, "tensor dimension");
        if (rc) return rc;
        if (ne == 0 || ne >= MAX_ELEMS || !ck_mul_u64(n, ne, &n) || n >= MAX_ELEMS)
            return err_set(c->err, LATTE_E_FORMAT,
                           "tensor '%s' at offset %llu: dimension %u is %llu (must be > 0, element count < 2^62)",
                           name, (unsigned long long)at, d, (unsigned long long)ne);
        t->ne[d] = (int64_t)ne;
    }
    rc = rd_u32(c, &t->type, "tensor type");
    if (!rc) rc = rd_u64(c, &t->offset, "tensor offset");
    if (rc) return rc;
    const quant_type_info *ti = quant_type_info_get(t->type);
    if (!ti)
        return err_set(c->err, LATTE_E_UNSUPPORTED, "tensor '%s' has unknown type id %u", name, t->type);
    if ((uint64_t)t->ne[0] % ti->block_elems != 0)
        return err_set(c->err, LATTE_E_FORMAT, "tensor '%s': ne[0] = %lld is not a multiple of the %s block size %u",
                       name, (long long)t->ne[0], ti->name, ti->block_elems);
    t->n_elems = n;
    /* whole rows: ik's types carry per-row meta ahead of the blocks */
    uint64_t row = quant_row_bytes(t->type, t->ne[0]);
    if (row == 0 || !ck_mul_u64(n / (uint64_t)t->ne[0], row, &t->n_bytes))
        return err_set(c->err, LATTE_E_FORMAT, "tensor '%s': data size overflows", name);
    return 0;
}

static int cmp_by_offset(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* rejects tensors whose data ranges overlap (offsets are absolute and overflow-checked) */
static int check_overlap(cursor *c, gguf_file *gf) {
    uint64_t n = gf->n_tensors;
    if (n < 2) return 0;
    gguf_tensor **order = malloc(n * sizeof *order);
    if (!order) return err_set(c->err, LATTE_E_NOMEM, "out of memory for %llu tensors", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) order[i] = &gf->tensors[i];
    qsort(order, n, sizeof *order, cmp_by_offset);
    int rc = 0;
    for (uint64_t i = 1; i < n && !rc; i++) {
        if (order[i - 1]->offset + order[i - 1]->n_bytes > order[i]->offset) {
            char a[96], b[96];
            rc = err_set(c->err, LATTE_E_FORMAT, "tensors '%s' and '%s' overlap (data at offsets %llu and %llu)",
                         shown(order[i - 1]->name, a, sizeof a), shown(order[i]->name, b, sizeof b),
                         (unsigned long long)order[i - 1]->offset, (unsigned long long)order[i]->offset);
        }
    }
    free(order);
    return rc;
}

static int parse_tensors(cursor *c, gguf_file *gf) {
    uint64_t cap = 0, n = gf->n_tensors;
    gf->n_tensors = 0;
    /* each info needs a name length (8), n_dims (4), one dim (8), a type (4) and an offset (8) */
    if (n > left(c) / 32)
        return err_set(c->err, LATTE_E_FORMAT, "tensor count %llu at offset 8 cannot fit in the %llu bytes left",
                       (unsigned long long)n, (unsigned long long)left(c));
    for (uint64_t i = 0; i < n; i++) {
        if (grow((void **)&gf->tensors, &cap, i, sizeof(gguf_tensor), n))
            return err_set(c->err, LATTE_E_NOMEM, "out of memory for %llu tensors", (unsigned long long)n);
        int rc = parse_tensor_info(c, &gf->tensors[i]);
        if (rc) return rc;
        gf->n_tensors = i + 1;
    }
    uint64_t dup;
    int d = find_dup(gf->tensors, sizeof(gguf_tensor), n, &dup);
    if (d < 0) return err_set(c->err, LATTE_E_NOMEM, "out of memory checking tensor names");
    if (d == 0) {
        char name[96];
        return err_set(c->err, LATTE_E_FORMAT, "duplicate tensor name '%s'",
                       shown(gf->tensors[dup].name, name, sizeof name));
    }
    return 0;
}

/* places the data section and every tensor's extent; data past the end is allowed here */
static int place_data(cursor *c, gguf_file *gf) {
    uint64_t a = gf->alignment, end_dir = c->pos;
    if (!ck_add_u64(end_dir, a - 1, &gf->data_offset))
        return err_set(c->err, LATTE_E_FORMAT, "data section offset overflows");
    gf->data_offset &= ~(a - 1);
    gf->data_needed = end_dir;
    for (uint64_t i = 0; i < gf->n_tensors; i++) {
        gguf_tensor *t = &gf->tensors[i];
        char name[96];
        uint64_t rel = t->offset, abs, end;
        if (rel % a != 0)
            return err_set(c->err, LATTE_E_FORMAT, "tensor '%s': offset %llu is not a multiple of the alignment %llu",
                           shown(t->name, name, sizeof name), (unsigned long long)rel, (unsigned long long)a);
        if (!ck_add_u64(gf->data_offset, rel, &abs) || !ck_add_u64(abs, t->n_bytes, &end) || end >= MAX_ELEMS)
            return err_set(c->err, LATTE_E_FORMAT, "tensor '%s': offset %llu + size %llu overflows",
                           shown(t->name, name, sizeof name), (unsigned long long)rel,
                           (unsigned long long)t->n_bytes);
        t->offset = abs;
        t->data = end <= c->size ? c->p + abs : NULL;
        if (end > gf->data_needed) gf->data_needed = end;
    }
    return check_overlap(c, gf);
}

static int parse(gguf_file *gf, const void *buf, uint64_t size, latte_err *err) {
    cursor c = {buf, size, 0, err};
    int rc = parse_header(&c, gf);
    if (!rc) rc = parse_kvs(&c, gf);
    if (!rc) rc = parse_alignment(&c, gf);
    if (!rc) rc = parse_tensors(&c, gf);
    if (!rc) rc = place_data(&c, gf);
    return rc;
}

void gguf_free(gguf_file *gf) {
    if (!gf) return;
    gguf_impl *im = (gguf_impl *)gf;
    if (gf->shards) { /* a split model borrows shards[0]'s keys; it owns the shards */
        for (uint32_t i = 0; i < gf->n_shards; i++) gguf_free(gf->shards[i]);
        free(gf->shards);
        gf->n_kv = 0;
        gf->kv = NULL;
    }
    for (uint64_t i = 0; i < gf->n_kv; i++) free(gf->kv[i].arr_strs);
    free(gf->kv);
    free(gf->tensors);
    if (im->mapped && gf->map) munmap(gf->map, im->map_len);
    free(gf->path);
    free(im);
}

gguf_file *gguf_alloc(void) {
    gguf_impl *im = calloc(1, sizeof *im);
    return im ? &im->pub : NULL;
}

int gguf_open_memory(gguf_file **out, const void *buf, uint64_t size, latte_err *err) {
    *out = NULL;
    if (!buf && size) return err_set(err, LATTE_E_ARG, "gguf_open_memory: NULL buffer");
    gguf_impl *im = calloc(1, sizeof *im);
    if (!im) return err_set(err, LATTE_E_NOMEM, "out of memory");
    im->pub.map = (void *)buf;
    im->pub.file_size = size;
    int rc = parse(&im->pub, buf, size, err);
    if (rc) {
        gguf_free(&im->pub);
        return rc;
    }
    *out = &im->pub;
    return 0;
}

int gguf_open(gguf_file **out, const char *path, latte_err *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, LATTE_E_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, LATTE_E_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, LATTE_E_IO, "'%s' is %s, not a regular file", path,
                       S_ISDIR(st.st_mode) ? "a directory" : "special");
    }
    if (st.st_size == 0) {
        close(fd);
        return err_set(err, LATTE_E_FORMAT, "'%s' is empty (0 bytes), not a GGUF file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return err_set(err, LATTE_E_IO, "cannot map '%s': %s", path, strerror(e));
    gguf_file *gf;
    int rc = gguf_open_memory(&gf, map, size, err);
    if (rc) {
        munmap(map, (size_t)size);
        if (err) { /* prefix the path, keeping one line */
            char msg[sizeof err->msg + 512];
            snprintf(msg, sizeof msg, "%.500s: %s", path, err->msg);
            memcpy(err->msg, msg, sizeof err->msg - 1);
            err->msg[sizeof err->msg - 1] = 0;
        }
        return rc;
    }
    gguf_impl *im = (gguf_impl *)gf;
    im->mapped = true;
    im->map_len = size;
    gf->path = strdup(path);
    if (!gf->path) {
        gguf_free(gf);
        return err_set(err, LATTE_E_NOMEM, "out of memory");
    }
    *out = gf;
    return 0;
}

int gguf_check_data(const gguf_file *gf, latte_err *err) {
    for (uint32_t i = 0; i < gf->n_shards; i++) {
        int rc = gguf_check_data(gf->shards[i], err);
        if (rc) {
            if (err) { /* name the shard, keeping one line */
                char msg[sizeof err->msg + 600];
                snprintf(msg, sizeof msg, "shard %u of %u '%.500s': %s", i + 1, gf->n_shards, gf->shards[i]->path,
                         err->msg);
                memcpy(err->msg, msg, sizeof err->msg - 1);
                err->msg[sizeof err->msg - 1] = 0;
            }
            return rc;
        }
    }
    if (gf->shards) return 0;
    for (uint64_t i = 0; i < gf->n_tensors; i++) {
        const gguf_tensor *t = &gf->tensors[i];
        if (t->data) continue;
        char name[96];
        return err_set(err, LATTE_E_DATA,
                       "tensor '%s' data ends at byte %llu but the file has %llu bytes (the directory needs %llu)",
                       shown(t->name, name, sizeof name), (unsigned long long)(t->offset + t->n_bytes),
                       (unsigned long long)gf->file_size, (unsigned long long)gf->data_needed);
    }
    return 0;
}

/* ---- lookups and typed getters ---- */

bool gguf_str_eq(gguf_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.len == n && memcmp(s.ptr, cstr, n) == 0;
}

const gguf_kv *gguf_find_kv(const gguf_file *gf, const char *key) {
    for (uint64_t i = 0; i < gf->n_kv; i++)
        if (gguf_str_eq(gf->kv[i].key, key)) return &gf->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *gf, const char *name) {
    for (uint64_t i = 0; i < gf->n_tensors; i++)
        if (gguf_str_eq(gf->tensors[i].name, name)) return &gf->tensors[i];
    return NULL;
}

static bool is_uint(gguf_type t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 || t == GGUF_TYPE_UINT64;
}
static bool is_sint(gguf_type t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

static int find_typed(const gguf_file *gf, const char *key, const gguf_kv **kv, latte_err *err) {
    *kv = gguf_find_kv(gf, key);
    if (!*kv) return err_set(err, LATTE_E_MISSING, "metadata key '%s' is missing", key);
    return 0;
}

static int bad_type(const char *key, const gguf_kv *kv, const char *want, latte_err *err) {
    return err_set(err, LATTE_E_FORMAT, "metadata key '%s' has type %s, expected %s", key,
                   gguf_type_name(kv->type), want);
}

/* any integer value as a signed 128-bit-free pair: fits checks against [lo, hi] */
static int get_int(const gguf_file *gf, const char *key, int64_t lo, uint64_t hi, uint64_t *u, int64_t *s,
                   bool *neg, const char *want, latte_err *err) {
    const gguf_kv *kv;
    int rc = find_typed(gf, key, &kv, err);
    if (rc) return rc;
    if (is_uint(kv->type)) {
        if (kv->val.u64 > hi) goto range;
        *neg = false;
        *u = kv->val.u64;
        *s = (int64_t)kv->val.u64;
        return 0;
    }
    if (is_sint(kv->type)) {
        int64_t v = kv->val.i64;
        if (v < lo || (v >= 0 && (uint64_t)v > hi)) goto range;
        *neg = v < 0;
        *s = v;
        *u = (uint64_t)v;
        return 0;
    }
    return bad_type(key, kv, want, err);
range:
    return err_set(err, LATTE_E_FORMAT, "metadata key '%s' value does not fit in %s", key, want);
}

int gguf_get_u32(const gguf_file *gf, const char *key, uint32_t *out, latte_err *err) {
    uint64_t u; int64_t s; bool neg;
    int rc = get_int(gf, key, 0, UINT32_MAX, &u, &s, &neg, "uint32", err);
    if (!rc) *out = (uint32_t)u;
    return rc;
}

int gguf_get_u64(const gguf_file *gf, const char *key, uint64_t *out, latte_err *err) {
    uint64_t u; int64_t s; bool neg;
    int rc = get_int(gf, key, 0, UINT64_MAX, &u, &s, &neg, "uint64", err);
    if (!rc) *out = u;
    return rc;
}

int gguf_get_i32(const gguf_file *gf, const char *key, int32_t *out, latte_err *err) {
    uint64_t u; int64_t s; bool neg;
    int rc = get_int(gf, key, INT32_MIN, INT32_MAX, &u, &s, &neg, "int32", err);
    if (!rc) *out = (int32_t)s;
    return rc;
}

int gguf_get_f32(const gguf_file *gf, const char *key, float *out, latte_err *err) {
    const gguf_kv *kv;
    int rc = find_typed(gf, key, &kv, err);
    if (rc) return rc;
    if (kv->type == GGUF_TYPE_FLOAT32 || kv->type == GGUF_TYPE_FLOAT64) *out = (float)kv->val.f64;
    else if (is_uint(kv->type)) *out = (float)kv->val.u64;
    else if (is_sint(kv->type)) *out = (float)kv->val.i64;
    else return bad_type(key, kv, "a number", err);
    return 0;
}

int gguf_get_bool(const gguf_file *gf, const char *key, bool *out, latte_err *err) {
    const gguf_kv *kv;
    int rc = find_typed(gf, key, &kv, err);
    if (rc) return rc;
    if (kv->type != GGUF_TYPE_BOOL) return bad_type(key, kv, "bool", err);
    *out = kv->val.b;
    return 0;
}

int gguf_get_str(const gguf_file *gf, const char *key, gguf_str *out, latte_err *err) {
    const gguf_kv *kv;
    int rc = find_typed(gf, key, &kv, err);
    if (rc) return rc;
    if (kv->type != GGUF_TYPE_STRING) return bad_type(key, kv, "string", err);
    *out = kv->val.str;
    return 0;
}

int gguf_get_arr(const gguf_file *gf, const char *key, gguf_type elem, const gguf_kv **out, latte_err *err) {
    const gguf_kv *kv;
    int rc = find_typed(gf, key, &kv, err);
    if (rc) return rc;
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != elem)
        return err_set(err, LATTE_E_FORMAT, "metadata key '%s' has type %s%s%s, expected an array of %s", key,
                       gguf_type_name(kv->type), kv->type == GGUF_TYPE_ARRAY ? " of " : "",
                       kv->type == GGUF_TYPE_ARRAY ? gguf_type_name(kv->arr_type) : "", gguf_type_name(elem));
    *out = kv;
    return 0;
}

/* element i of a numeric array, widened; 0 when out of range or not numeric */
static bool arr_elem(const gguf_kv *kv, uint64_t i, int64_t *iv, double *fv) {
    if (kv->type != GGUF_TYPE_ARRAY || i >= kv->arr_n || kv->arr_type >= GGUF_TYPE_COUNT ||
        kv->arr_type == GGUF_TYPE_STRING || kv->arr_type == GGUF_TYPE_ARRAY)
        return false;
    int sz = type_sizes[kv->arr_type];
    uint64_t v = rd_le((const uint8_t *)kv->arr_data + i * sz, sz);
    switch (kv->arr_type) {
    case GGUF_TYPE_INT8: *iv = (int8_t)v; break;
    case GGUF_TYPE_INT16: *iv = (int16_t)v; break;
    case GGUF_TYPE_INT32: *iv = (int32_t)v; break;
    case GGUF_TYPE_FLOAT32: { uint32_t u = (uint32_t)v; float f; memcpy(&f, &u, 4); *fv = f; break; }
    case GGUF_TYPE_FLOAT64: memcpy(fv, &v, 8); break;
    default: *iv = (int64_t)v; break;
    }
    if (kv->arr_type == GGUF_TYPE_FLOAT32 || kv->arr_type == GGUF_TYPE_FLOAT64)
        *iv = (*fv > -9.2e18 && *fv < 9.2e18) ? (int64_t)*fv : 0; /* NaN and huge values give 0 */
    else
        *fv = (double)*iv;
    return true;
}

int32_t gguf_arr_i32(const gguf_kv *kv, uint64_t i) {
    int64_t iv = 0; double fv = 0;
    return arr_elem(kv, i, &iv, &fv) ? (int32_t)iv : 0;
}

uint32_t gguf_arr_u32(const gguf_kv *kv, uint64_t i) {
    int64_t iv = 0; double fv = 0;
    return arr_elem(kv, i, &iv, &fv) ? (uint32_t)iv : 0;
}

float gguf_arr_f32(const gguf_kv *kv, uint64_t i) {
    int64_t iv = 0; double fv = 0;
    return arr_elem(kv, i, &iv, &fv) ? (float)fv : 0.0f;
}
