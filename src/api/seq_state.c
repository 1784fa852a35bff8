/* seq_state.c: one sequence's KV cache (and its token ids) as a self-describing blob, so a
 * server can park a conversation on disk and bring it back without decoding it again.
 * Layout (little-endian, as the host writes it; a blob from a host of the other byte order
 * fails the magic check):
 *   header   (struct below, fixed size)
 *   tokens   int32 [n_pos]
 *   per layer: K rows [n_pos][k row bytes], then V: standard [n_pos][v row bytes]; latent
 *              mode 1 (transposed c) [v_width][n_pos] elements; latent modes 2-3 none.
 * The header names everything the bytes depend on (model, cache kind, MLA mode, widths,
 * types, Hadamard rotation), so loading a blob from another setup is one error that says
 * which fact differs; a checksum over the rest catches truncated or damaged data. Rows are
 * copied through each layer's backend (copy_out / copy_in, then sync): the cache may be
 * device memory. Nothing is written to the cache before the whole blob has been checked. */
#include <stdlib.h>
#include <string.h>

#include "../quant/quant.h"
#include "internal.h"

#define STATE_MAGIC "LATSEQ\x01\x00"
#define STATE_VERSION 1u

typedef struct state_header {
    char magic[8];
    uint32_t version, header_bytes;
    uint64_t model_hash;     /* the tensor directory: names, types, shapes, sizes */
    uint32_t n_vocab, n_layer;
    uint32_t kind, mla_mode; /* kv_kind; 0 standard, 1..3 latent */
    uint32_t transposed, k_hadamard;
    uint32_t type_k, type_v;
    uint64_t k_width, v_width;
    uint32_t n_pos, pad;
    uint64_t payload_bytes;  /* after the header: tokens and cache rows */
    uint64_t payload_hash;
} state_header;

/* FNV-1a, 64-bit, over bytes (used for the directory and the payload). */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}
#define FNV_SEED 0xcbf29ce484222325ull

static uint64_t model_hash(const latte_model *m) {
    const gguf_file *gf = m->gf;
    uint64_t h = fnv(FNV_SEED, &gf->n_tensors, sizeof gf->n_tensors);
    for (uint64_t i = 0; i < gf->n_tensors; i++) {
        const gguf_tensor *t = &gf->tensors[i];
        h = fnv(h, t->name.ptr, (size_t)t->name.len);
        h = fnv(h, &t->type, sizeof t->type);
        h = fnv(h, t->ne, sizeof t->ne);
        h = fnv(h, &t->n_bytes, sizeof t->n_bytes);
    }
    return h;
}

static void header_of(const latte_ctx *c, int n_pos, state_header *h) {
    const kv_cache *kv = &c->g.kv;
    memset(h, 0, sizeof *h);
    memcpy(h->magic, STATE_MAGIC, 8);
    h->version = STATE_VERSION, h->header_bytes = sizeof *h;
    h->model_hash = model_hash(c->model);
    h->n_vocab = (uint32_t)latte_model_n_vocab(c->model), h->n_layer = (uint32_t)kv->n_layer;
    h->kind = kv->kind, h->mla_mode = (uint32_t)c->g.mla_mode;
    h->transposed = kv->transposed, h->k_hadamard = c->g.k_hadamard;
    h->type_k = kv->type_k, h->type_v = kv->n_layer && kv->v[0] ? kv->type_v : 0;
    h->k_width = (uint64_t)kv->k_width, h->v_width = (uint64_t)kv->v_width;
    h->n_pos = (uint32_t)n_pos;
}

/* Bytes of the cache rows of n positions, per layer: K, and V (0 where none). */
static void layer_bytes(const kv_cache *kv, int n, size_t *kb, size_t *vb) {
    *kb = quant_row_bytes(kv->type_k, kv->k_width) * (size_t)n;
    if (!kv->v[0]) *vb = 0;
    else if (kv->transposed) *vb = quant_row_bytes(kv->type_v, 1) * (size_t)n * (size_t)kv->v_width;
    else *vb = quant_row_bytes(kv->type_v, kv->v_width) * (size_t)n;
}

static size_t payload_size(const kv_cache *kv, int n) {
    size_t kb, vb;
    layer_bytes(kv, n, &kb, &vb);
    return sizeof(int32_t) * (size_t)n + (kb + vb) * (size_t)kv->n_layer;
}

size_t latte_seq_state_size(const latte_ctx *c, int seq) {
    const kv_cache *kv = &c->g.kv;
    if (seq < 0 || seq >= kv->n_seq) return 0;
    return sizeof(state_header) + payload_size(kv, kv->seq_len[seq]);
}

/* Copies layer il's rows of positions [0, n) of seq between the cache and host memory at
 * p (out: cache to host). Queued; the caller syncs. */
static int copy_layer(kv_cache *kv, int il, int seq, int n, char *p, bool out) {
    backend *be = kv->be[il];
    size_t krow = quant_row_bytes(kv->type_k, kv->k_width), kb, vb;
    layer_bytes(kv, n, &kb, &vb);
    char *k = (char *)kv->k[il] + (size_t)kv_row(kv, seq, 0) * krow;
    int rc = out ? be->ops->copy_out(be, p, k, kb) : be->ops->copy_in(be, k, p, kb);
    p += kb;
    if (rc || !kv->v[il]) return rc;
    if (!kv->transposed) {
        char *v = (char *)kv->v[il] + (size_t)kv_row(kv, seq, 0) * quant_row_bytes(kv->type_v, kv->v_width);
        return out ? be->ops->copy_out(be, p, v, vb) : be->ops->copy_in(be, v, p, vb);
    }
    /* transposed: each of the v_width rows holds this sequence's n elements at its columns */
    size_t es = quant_row_bytes(kv->type_v, 1), ld = es * (size_t)kv->n_rows, w = es * (size_t)n;
    for (int64_t r = 0; r < kv->v_width && !rc; r++, p += w) {
        char *v = (char *)kv->v[il] + (size_t)r * ld + (size_t)kv_row(kv, seq, 0) * es;
        rc = out ? be->ops->copy_out(be, p, v, w) : be->ops->copy_in(be, v, p, w);
    }
    return rc;
}

/* Waits for every layer's backend (each once); returns the first error. */
static int sync_all(latte_ctx *c) {
    int rc = 0;
    for (int d = 0; d < PLACE_MAX_DEVICES; d++)
        if (c->bes[d]) {
            int r = c->bes[d]->ops->sync(c->bes[d]);
            if (!rc) rc = r;
        }
    return rc;
}

int latte_seq_state_save(latte_ctx *c, int seq, const int32_t *tokens, void *buf, size_t cap, size_t *written,
                         latte_err *err) {
    kv_cache *kv = &c->g.kv;
    if (seq < 0 || seq >= kv->n_seq) return err_set(err, LATTE_E_ARG, "sequence %d does not exist", seq);
    int n = kv->seq_len[seq];
    size_t need = latte_seq_state_size(c, seq);
    if (cap < need) return err_set(err, LATTE_E_ARG, "the state of sequence %d needs %zu bytes (buffer has %zu)", seq, need, cap);
    if (n && !tokens) return err_set(err, LATTE_E_ARG, "the token ids of sequence %d are needed to save it", seq);
    state_header h;
    header_of(c, n, &h);
    char *p = (char *)buf + sizeof h;
    memcpy(p, tokens, sizeof(int32_t) * (size_t)n);
    char *q = p + sizeof(int32_t) * (size_t)n;
    size_t kb, vb;
    layer_bytes(kv, n, &kb, &vb);
    int rc = 0;
    for (int il = 0; il < kv->n_layer && !rc; il++, q += kb + vb) rc = copy_layer(kv, il, seq, n, q, true);
    int rs = sync_all(c);
    if (rc || rs) return err_set(err, rc ? rc : rs, "reading the cache of sequence %d failed", seq);
    h.payload_bytes = need - sizeof h;
    h.payload_hash = fnv(FNV_SEED, p, h.payload_bytes);
    memcpy(buf, &h, sizeof h);
    if (written) *written = need;
    return 0;
}

static const char *type_name(uint32_t t) {
    const quant_type_info *qi = quant_type_info_get(t);
    return qi ? qi->name : "?";
}

/* Compares the saved header with this context's; fills err naming the first difference. */
static int header_check(const latte_ctx *c, const state_header *s, size_t n, latte_err *err) {
    if (n < sizeof *s || memcmp(s->magic, STATE_MAGIC, 8))
        return err_set(err, LATTE_E_FORMAT, "not a latte sequence state (bad magic or shorter than its header)");
    if (s->version != STATE_VERSION || s->header_bytes != sizeof *s)
        return err_set(err, LATTE_E_FORMAT, "sequence state version %u is not supported (this build reads %u)", s->version,
                       STATE_VERSION);
    state_header h;
    header_of(c, 0, &h);
    if (s->model_hash != h.model_hash || s->n_vocab != h.n_vocab || s->n_layer != h.n_layer)
        return err_set(err, LATTE_E_ARG, "the sequence state was saved from another model (%u layers, vocabulary %u)",
                       s->n_layer, s->n_vocab);
    if (s->kind != h.kind || s->mla_mode != h.mla_mode || s->transposed != h.transposed)
        return err_set(err, LATTE_E_ARG, "the sequence state was saved with MLA mode %u, this context uses mode %u",
                       s->mla_mode, h.mla_mode);
    if (s->type_k != h.type_k || s->type_v != h.type_v)
        return err_set(err, LATTE_E_ARG, "the sequence state has a %s/%s cache, this context a %s/%s one (-ctk/-ctv)",
                       type_name(s->type_k), type_name(s->type_v), type_name(h.type_k), type_name(h.type_v));
    if (s->k_hadamard != h.k_hadamard)
        return err_set(err, LATTE_E_ARG, "the sequence state was saved %s --k-cache-hadamard, this context runs %s it",
                       s->k_hadamard ? "with" : "without", h.k_hadamard ? "with" : "without");
    if (s->k_width != h.k_width || s->v_width != h.v_width)
        return err_set(err, LATTE_E_ARG, "the sequence state has cache rows of %llu/%llu values, this context %llu/%llu",
                       (unsigned long long)s->k_width, (unsigned long long)s->v_width, (unsigned long long)h.k_width,
                       (unsigned long long)h.v_width);
    int n_ctx = c->g.kv.n_ctx_seq;
    if (s->n_pos > (uint32_t)n_ctx)
        return err_set(err, LATTE_E_CTX, "the sequence state holds %u positions, a sequence here has %d", s->n_pos, n_ctx);
    size_t want = sizeof *s + payload_size(&c->g.kv, (int)s->n_pos);
    if (s->payload_bytes != want - sizeof *s || n != want)
        return err_set(err, LATTE_E_FORMAT, "the sequence state is %zu bytes, %u positions need %zu (truncated?)", n,
                       s->n_pos, want);
    return 0;
}

int latte_seq_state_load(latte_ctx *c, int seq, const void *buf, size_t n, int32_t *tokens, int *n_tokens,
                         latte_err *err) {
    kv_cache *kv = &c->g.kv;
    if (seq < 0 || seq >= kv->n_seq) return err_set(err, LATTE_E_ARG, "sequence %d does not exist", seq);
    state_header s;
    if (n >= sizeof s) memcpy(&s, buf, sizeof s);
    else memset(&s, 0, sizeof s);
    int rc = header_check(c, &s, n, err);
    if (rc) return rc;
    const char *p = (const char *)buf + sizeof s;
    if (fnv(FNV_SEED, p, s.payload_bytes) != s.payload_hash)
        return err_set(err, LATTE_E_FORMAT, "the sequence state is damaged (checksum mismatch)");
    int np = (int)s.n_pos, V = (int)s.n_vocab;
    for (int i = 0; i < np; i++) {
        int32_t t;
        memcpy(&t, p + sizeof t * (size_t)i, sizeof t);
        if (t < 0 || t >= V) return err_set(err, LATTE_E_FORMAT, "the sequence state holds token id %d (vocabulary %d)", t, V);
        if (tokens) tokens[i] = t;
    }
    const char *q = p + sizeof(int32_t) * (size_t)np;
    size_t kb, vb;
    layer_bytes(kv, np, &kb, &vb);
    for (int il = 0; il < kv->n_layer && !rc; il++, q += kb + vb) rc = copy_layer(kv, il, seq, np, (char *)q, false);
    int rs = sync_all(c);
    if (rc || rs) {
        kv->seq_len[seq] = 0; /* partly written: hold nothing rather than a mix */
        return err_set(err, rc ? rc : rs, "writing the cache of sequence %d failed", seq);
    }
    kv->seq_len[seq] = np;
    if (n_tokens) *n_tokens = np;
    return 0;
}
