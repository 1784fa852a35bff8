/* gguf_split.c: a model split into shards NAME-00001-of-0000N.gguf (llama.cpp's gguf-split
 * layout: every shard is a whole GGUF file with keys split.no, split.count and
 * split.tensors.count; the first shard carries the model's metadata). Given any shard, finds
 * the others by name, opens each with every check of gguf_open, checks that they belong
 * together, and presents them as one gguf_file whose tensors point into their own shard. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../base/checked.h"
#include "gguf_internal.h"

#define SPLIT_SUFFIX_LEN 20 /* "-00001-of-00003.gguf" */
#define SPLIT_MAX 99999

typedef struct split_keys {
    uint32_t no, count;
    uint64_t n_tensors;
} split_keys;

/* The split.* keys of gf; *present is false when the file is not split (no split.count). */
static int read_split_keys(const gguf_file *gf, split_keys *k, bool *present, latte_err *err) {
    *present = gguf_find_kv(gf, "split.count") != NULL;
    if (!*present) return 0;
    int rc = gguf_get_u32(gf, "split.count", &k->count, err);
    if (!rc) rc = gguf_get_u32(gf, "split.no", &k->no, err);
    if (!rc) rc = gguf_get_u64(gf, "split.tensors.count", &k->n_tensors, err);
    if (rc) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err ? err->msg : "bad split keys");
        return err_set(err, rc, "'%.500s': %s", gf->path, why);
    }
    if (k->count == 0 || k->count > SPLIT_MAX || k->no >= k->count)
        return err_set(err, LATTE_E_FORMAT, "'%.500s': split.no %u and split.count %u are not a shard of a split",
                       gf->path, k->no, k->count);
    return 0;
}

/* Parses the "-%05d-of-%05d.gguf" tail of path into its 1-based number and count; returns
 * the prefix length, or 0 when the name does not end that way. */
static size_t parse_shard_name(const char *path, uint32_t *no1, uint32_t *count) {
    size_t n = strlen(path);
    if (n <= SPLIT_SUFFIX_LEN) return 0;
    const char *s = path + n - SPLIT_SUFFIX_LEN;
    unsigned a = 0, b = 0;
    for (int i = 0; i < SPLIT_SUFFIX_LEN; i++) {
        char c = s[i];
        bool digit = (i >= 1 && i <= 5) || (i >= 10 && i <= 14);
        if (digit ? (c < '0' || c > '9') : c != "-00000-of-00000.gguf"[i]) return 0;
        if (i >= 1 && i <= 5) a = a * 10 + (unsigned)(c - '0');
        if (i >= 10 && i <= 14) b = b * 10 + (unsigned)(c - '0');
    }
    *no1 = a;
    *count = b;
    return n - SPLIT_SUFFIX_LEN;
}

/* Opens shard i (0-based) of count whose name starts with prefix[0..plen); checks its keys. */
static int open_shard(gguf_file **out, const char *prefix, size_t plen, uint32_t i, const split_keys *want,
                      latte_err *err) {
    char path[4200];
    if (plen > 4096) return err_set(err, LATTE_E_ARG, "split model path is too long (%zu bytes)", plen);
    snprintf(path, sizeof path, "%.*s-%05u-of-%05u.gguf", (int)plen, prefix, i + 1, want->count);
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return err_set(err, LATTE_E_IO, "split model: shard %u of %u is missing: '%.500s' does not exist", i + 1,
                       want->count, path);
    int rc = gguf_open(out, path, err);
    if (rc) return rc;
    split_keys k;
    bool present;
    if ((rc = read_split_keys(*out, &k, &present, err))) return rc;
    if (!present || k.count != want->count || k.no != i || k.n_tensors != want->n_tensors)
        return err_set(err, LATTE_E_FORMAT,
                       "split model: '%.500s' does not belong with the other shards (it says split.no %u, split.count "
                       "%u, split.tensors.count %llu; expected %u, %u, %llu)",
                       path, present ? k.no : 0, present ? k.count : 0, present ? (unsigned long long)k.n_tensors : 0,
                       i, want->count, (unsigned long long)want->n_tensors);
    return 0;
}

static int cmp_tensor_name(const void *a, const void *b) {
    const gguf_tensor *x = *(const gguf_tensor *const *)a, *y = *(const gguf_tensor *const *)b;
    size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int c = memcmp(x->name.ptr, y->name.ptr, n);
    return c ? c : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

/* Every tensor of the shards once, in shard order, and exactly split.tensors.count of them. */
static int merge_tensors(gguf_file *m, uint64_t want, latte_err *err) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < m->n_shards; i++)
        if (!ck_add_u64(total, m->shards[i]->n_tensors, &total)) total = UINT64_MAX;
    if (total != want)
        return err_set(err, LATTE_E_FORMAT, "split model: the %u shards hold %llu tensors but split.tensors.count is %llu",
                       m->n_shards, (unsigned long long)total, (unsigned long long)want);
    m->tensors = calloc(total ? total : 1, sizeof *m->tensors);
    const gguf_tensor **sorted = calloc(total ? total : 1, sizeof *sorted);
    if (!m->tensors || !sorted) {
        free(sorted);
        return err_set(err, LATTE_E_NOMEM, "out of memory merging %llu tensors", (unsigned long long)total);
    }
    for (uint32_t i = 0; i < m->n_shards; i++) {
        const gguf_file *s = m->shards[i];
        for (uint64_t j = 0; j < s->n_tensors; j++) {
            gguf_tensor *t = &m->tensors[m->n_tensors++];
            *t = s->tensors[j];
            t->shard = i;
        }
    }
    for (uint64_t j = 0; j < total; j++) sorted[j] = &m->tensors[j];
    qsort(sorted, total, sizeof *sorted, cmp_tensor_name);
    for (uint64_t j = 1; j < total; j++) {
        if (cmp_tensor_name(&sorted[j - 1], &sorted[j]) == 0) {
            const gguf_tensor *a = sorted[j - 1], *b = sorted[j];
            int rc = err_set(err, LATTE_E_FORMAT, "split model: tensor '%.*s' is in shard %u and again in shard %u",
                             (int)(a->name.len > 200 ? 200 : a->name.len), a->name.ptr, a->shard + 1, b->shard + 1);
            free(sorted);
            return rc;
        }
    }
    free(sorted);
    return 0;
}

/* The whole split, given shard `given` (already open, keys k) of the split named prefix. */
static int open_all(gguf_file **out, gguf_file *given, const split_keys *k, size_t plen, latte_err *err) {
    gguf_file *m = gguf_alloc();
    if (!m) return err_set(err, LATTE_E_NOMEM, "out of memory");
    m->shards = calloc(k->count, sizeof *m->shards);
    if (!m->shards) {
        gguf_free(m);
        return err_set(err, LATTE_E_NOMEM, "out of memory");
    }
    m->n_shards = k->count;
    m->shards[k->no] = given;
    int rc = 0;
    for (uint32_t i = 0; i < k->count && !rc; i++)
        if (i != k->no) rc = open_shard(&m->shards[i], given->path, plen, i, k, err);
    if (!rc) rc = merge_tensors(m, k->n_tensors, err);
    if (!rc && !(m->path = strdup(m->shards[0]->path))) rc = err_set(err, LATTE_E_NOMEM, "out of memory");
    if (rc) {
        gguf_free(m); /* frees the shards opened so far, the given one too */
        return rc;
    }
    const gguf_file *first = m->shards[0];
    m->version = first->version;
    m->n_kv = first->n_kv;
    m->kv = first->kv;
    m->alignment = first->alignment;
    m->data_offset = first->data_offset;
    for (uint32_t i = 0; i < m->n_shards; i++) {
        m->file_size += m->shards[i]->file_size;
        m->data_needed += m->shards[i]->data_needed > m->shards[i]->file_size ? m->shards[i]->data_needed
                                                                              : m->shards[i]->file_size;
    }
    *out = m;
    return 0;
}

int gguf_open_model(gguf_file **out, const char *path, latte_err *err) {
    *out = NULL;
    gguf_file *gf;
    int rc = gguf_open(&gf, path, err);
    if (rc) return rc;
    split_keys k;
    bool present;
    if ((rc = read_split_keys(gf, &k, &present, err))) {
        gguf_free(gf);
        return rc;
    }
    if (!present || k.count == 1) {
        *out = gf;
        return 0;
    }
    uint32_t no1 = 0, count = 0;
    size_t plen = parse_shard_name(path, &no1, &count);
    if (plen == 0 || no1 != k.no + 1 || count != k.count) {
        rc = err_set(err, LATTE_E_FORMAT,
                     "'%.500s' is shard %u of %u of a split model, but its name does not end in -%05u-of-%05u.gguf, "
                     "so the other shards cannot be found",
                     path, k.no + 1, k.count, k.no + 1, k.count);
        gguf_free(gf);
        return rc;
    }
    return open_all(out, gf, &k, plen, err);
}
