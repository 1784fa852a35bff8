/* ctx.c: contexts (a KV cache with one region per sequence) and decoding: a batch of rows
 * from several sequences is checked whole, split into micro-batches (-ub), each micro-batch
 * turned into runs of consecutive tokens of one sequence for the forward pass, and the
 * logits the caller asked for kept in batch order. latte_decode is the one-sequence form. */
#include <stdlib.h>
#include <string.h>

#include "../quant/quant.h"
#include "internal.h"

latte_ctx_params latte_ctx_default_params(void) {
    return (latte_ctx_params){.n_ctx = 0, .n_seq = 1, .n_batch = 2048, .n_ubatch = 512, .n_threads = 0, .mla = -1,
                              .flash_attn = false, .type_k = -1, .type_v = -1};
}

static const char *mode_desc(int mode) {
    switch (mode) {
    case 1: return "MLA mode 1 (latent, transposed cache)";
    case 2: return "MLA mode 2 (latent, rows)";
    case 3: return "MLA mode 3 (latent, fused flash-style)";
    default: return "MLA mode 0 (per-head K/V)";
    }
}

/* grows a per-row host array of the context to n elements */
static int grow(void **p, int *cap, int n, size_t elt) {
    if (n <= *cap) return 0;
    void *q = realloc(*p, (size_t)n * elt);
    if (!q) return LATTE_E_NOMEM;
    *p = q;
    *cap = n;
    return 0;
}

/* Each weight into the memory of the device that runs it, for backends that keep their own
 * copy (a GPU): running out of memory is one error here, naming what to reduce. */
static int load_weights(latte_ctx *c, latte_err *err) {
    const model_weights *w = &c->model->w;
    for (int d = 1; d < PLACE_MAX_DEVICES; d++) {
        backend *be = c->bes[d];
        if (!be || !be->ops->weight_load) continue;
        uint64_t bytes = 0;
        for (size_t i = 0; i < w->n_tensors + w->n_derived; i++) {
            const lt_tensor *t = i < w->n_tensors ? &w->tensors[i] : w->derived[i - w->n_tensors];
            if (t->dev != d || !t->data) continue;
            bytes += t->row_bytes * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]);
            int rc = be->ops->weight_load(be, t);
            if (rc == LATTE_E_NOMEM)
                return err_set(err, rc,
                               "%s: out of memory for the weights placed there (%.2f GiB reached at %s): lower -ngl, "
                               "keep the experts on the CPU (-ot exps=CPU, --n-cpu-moe N) or use a smaller type",
                               c->model->devs[d].name, bytes / 1073741824.0, t->name ? t->name : "?");
            if (rc) return err_set(err, rc, "%s: copying weight %s to the device failed", c->model->devs[d].name,
                                   t->name ? t->name : "?");
        }
    }
    return 0;
}

int latte_ctx_init(latte_ctx **out, latte_model *m, const latte_ctx_params *pp, latte_err *err) {
    *out = NULL;
    if (m->vocab_only) return err_set(err, LATTE_E_ARG, "the model was loaded without its weights (vocab only)");
    latte_ctx_params p = pp ? *pp : latte_ctx_default_params();
    const model_hparams *hp = &m->hp;
    if (p.mla < -1 || p.mla > 3) return err_set(err, LATTE_E_ARG, "-mla must be 0, 1, 2 or 3 (got %d)", p.mla);
    if (p.n_ctx < 0) return err_set(err, LATTE_E_ARG, "context size must be positive (got %d)", p.n_ctx);
    if (p.n_seq < 0 || p.n_seq > 65536) return err_set(err, LATTE_E_ARG, "sequences (-np) must be 1..65536 (got %d)", p.n_seq);
    if (p.n_seq == 0) p.n_seq = 1;
    int n_ctx_seq;
    if (p.n_ctx == 0) {
        n_ctx_seq = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
        if ((int64_t)n_ctx_seq * p.n_seq > (1 << 30)) return err_set(err, LATTE_E_ARG, "context too large for %d sequences", p.n_seq);
        p.n_ctx = n_ctx_seq * p.n_seq;
    } else {
        n_ctx_seq = p.n_ctx / p.n_seq;
        if (n_ctx_seq < 1)
            return err_set(err, LATTE_E_ARG, "context of %d tokens cannot be split over %d sequences (-c < -np)", p.n_ctx,
                           p.n_seq);
    }
    if (p.n_ubatch <= 0 || p.n_batch <= 0)
        return err_set(err, LATTE_E_ARG, "batch sizes must be positive (-b %d, -ub %d)", p.n_batch, p.n_ubatch);
    if (p.n_ubatch > p.n_batch) p.n_ubatch = p.n_batch;
    if (p.n_ubatch > p.n_ctx) p.n_ubatch = p.n_ctx;
    if (p.n_threads < 0) return err_set(err, LATTE_E_ARG, "threads must be 0 (one per core) or more (got %d)", p.n_threads);
    uint32_t tk = p.type_k < 0 ? QT_F16 : (uint32_t)p.type_k, tv = p.type_v < 0 ? QT_F16 : (uint32_t)p.type_v;
    int mode = p.mla < 0 ? 3 : p.mla;
    if (!hp->has_mla) {
        if (p.mla >= 0 && p.log && !m->mla_warned)
            fprintf(p.log, "warning: the model has no MLA (architecture %s): -mla %d is ignored, using standard attention\n",
                    hp->arch_name, p.mla);
        mode = 0;
    }
    latte_ctx *c = calloc(1, sizeof *c);
    if (!c) return err_set(err, LATTE_E_NOMEM, "out of memory");
    c->model = m;
    c->p = p;
    int rc;
    if (hp->has_mla && (rc = weights_derive_mla(&m->w, hp, mode == 0, err))) goto fail;
    /* a backend for every device a weight was placed on (the CPU always) */
    bool used[PLACE_MAX_DEVICES] = {[0] = true};
    for (size_t i = 0; i < m->w.n_tensors; i++) used[m->w.tensors[i].dev] = true;
    for (int d = 0; d < m->n_devs && d < PLACE_MAX_DEVICES; d++)
        if (used[d] && (rc = api_device_backend(&m->devs[d], p.n_threads, &c->bes[d], err))) goto fail;
    if (!c->bes[0] && (rc = backend_cpu_init(&c->bes[0], p.n_threads, err))) goto fail;
    c->be = c->bes[0];
    if ((rc = load_weights(c, err))) goto fail;
    if ((rc = graph_init(&c->g, hp, &m->w, c->bes, mode, p.flash_attn, p.n_seq, n_ctx_seq, p.n_ubatch, tk, tv,
                         p.ser_kmin, p.ser_thresh, err)) ||
        (rc = graph_set_k_hadamard(&c->g, p.k_cache_hadamard, err)))
        goto fail;
    int nu = p.n_ubatch;
    c->ub_pos = malloc(sizeof *c->ub_pos * nu);
    c->ub_rows = malloc(sizeof *c->ub_rows * nu);
    c->ub_runs = malloc(sizeof *c->ub_runs * nu);
    c->ub_out = malloc(sizeof *c->ub_out * nu);
    c->seq_seen = calloc((size_t)p.n_seq, sizeof *c->seq_seen);
    if (!c->ub_pos || !c->ub_rows || !c->ub_runs || !c->ub_out || !c->seq_seen) {
        rc = err_set(err, LATTE_E_NOMEM, "out of memory for batch buffers");
        goto fail;
    }
    snprintf(c->desc, sizeof c->desc, "%s%s%s", hp->has_mla ? mode_desc(mode) : "standard attention",
             p.flash_attn ? ", flash attention" : "", p.k_cache_hadamard ? ", Hadamard-rotated K cache" : "");
    *out = c;
    return 0;
fail:
    latte_ctx_free(c);
    return rc;
}

void latte_ctx_free(latte_ctx *c) {
    if (!c) return;
    graph_free(&c->g);
    for (int d = 0; d < PLACE_MAX_DEVICES; d++) backend_free(c->bes[d]);
    free(c->logits);
    free(c->logit_idx);
    free(c->ub_pos);
    free(c->ub_rows);
    free(c->ub_runs);
    free(c->ub_out);
    free(c->seq_seen);
    free(c->one.token);
    free(c->one.pos);
    free(c->one.seq);
    free(c->one.logits);
    free(c);
}

/* ---- batches ---- */

int latte_batch_init(latte_batch *b, int cap, latte_err *err) {
    memset(b, 0, sizeof *b);
    if (cap <= 0) return err_set(err, LATTE_E_ARG, "a batch needs room for at least one token (got %d)", cap);
    b->token = malloc(sizeof *b->token * (size_t)cap);
    b->pos = malloc(sizeof *b->pos * (size_t)cap);
    b->seq = malloc(sizeof *b->seq * (size_t)cap);
    b->logits = malloc(sizeof *b->logits * (size_t)cap);
    if (!b->token || !b->pos || !b->seq || !b->logits) {
        latte_batch_free(b);
        return err_set(err, LATTE_E_NOMEM, "out of memory for a batch of %d tokens", cap);
    }
    b->cap = cap;
    return 0;
}

void latte_batch_free(latte_batch *b) {
    free(b->token);
    free(b->pos);
    free(b->seq);
    free(b->logits);
    memset(b, 0, sizeof *b);
}

int latte_batch_add(latte_batch *b, int32_t token, int32_t pos, int32_t seq, bool logits) {
    if (b->n_tokens >= b->cap) return LATTE_E_ARG;
    int i = b->n_tokens++;
    b->token[i] = token, b->pos[i] = pos, b->seq[i] = seq, b->logits[i] = logits;
    return 0;
}

/* Checks the whole batch before anything runs: sequence ids, contiguous runs, positions
 * continuing each sequence, room in each sequence's region. */
static int batch_check(latte_ctx *c, const latte_batch *b, latte_err *err) {
    const kv_cache *kv = &c->g.kv;
    if (b->n_tokens <= 0) return err_set(err, LATTE_E_ARG, "nothing to decode");
    memset(c->seq_seen, 0, sizeof *c->seq_seen * (size_t)kv->n_seq);
    for (int i = 0; i < b->n_tokens; i++) {
        int s = b->seq[i];
        if (s < 0 || s >= kv->n_seq)
            return err_set(err, LATTE_E_ARG, "batch row %d: sequence %d does not exist (the context has %d)", i, s, kv->n_seq);
        bool cont = i > 0 && b->seq[i - 1] == s;
        if (!cont && c->seq_seen[s])
            return err_set(err, LATTE_E_ARG, "batch row %d: the rows of sequence %d are not contiguous", i, s);
        int want = kv->seq_len[s] + (cont ? b->pos[i - 1] + 1 - kv->seq_len[s] : 0);
        if (b->pos[i] != want)
            return err_set(err, LATTE_E_ARG, "batch row %d: sequence %d continues at position %d, not %d", i, s, want,
                           b->pos[i]);
        if (b->pos[i] >= kv->n_ctx_seq)
            return err_set(err, LATTE_E_CTX,
                           "context is full: sequence %d would reach %d tokens, past its context of %d (-c / -np)", s,
                           b->pos[i] + 1, kv->n_ctx_seq);
        c->seq_seen[s] = 1;
    }
    return 0;
}

/* Decodes rows [i0, i0 + n) of a checked batch as one micro-batch. */
static int decode_ubatch(latte_ctx *c, const latte_batch *b, int i0, int n, latte_err *err) {
    kv_cache *kv = &c->g.kv;
    int V = c->model->hp.n_vocab, n_runs = 0, n_out = 0, first_out = -1;
    for (int i = 0; i < n; i++) {
        int r = i0 + i, s = b->seq[r];
        c->ub_pos[i] = b->pos[r];
        c->ub_rows[i] = kv_row(kv, s, b->pos[r]);
        if (i == 0 || b->seq[r - 1] != s)
            c->ub_runs[n_runs++] = (attn_run){.tok0 = i, .n_tok = 0, .pos0 = b->pos[r], .kv0 = kv_row(kv, s, 0)};
        c->ub_runs[n_runs - 1].n_tok++;
        if (b->logits[r]) {
            if (first_out < 0) first_out = c->logit_idx[r];
            c->ub_out[n_out++] = i;
        }
    }
    graph_batch gb = {.n = n, .tokens = b->token + i0, .pos = c->ub_pos, .kv_rows = c->ub_rows, .runs = c->ub_runs,
                      .n_runs = n_runs, .out_rows = c->ub_out, .n_out = n_out};
    int rc = graph_forward(&c->g, &gb, n_out ? c->logits + (size_t)first_out * V : NULL, err);
    if (rc) return rc;
    for (int k = 0; k < n_runs; k++) { /* the sequences now hold these tokens */
        const attn_run *run = &c->ub_runs[k];
        kv->seq_len[b->seq[i0 + run->tok0]] = run->pos0 + run->n_tok;
    }
    return 0;
}

int latte_decode_batch(latte_ctx *c, const latte_batch *b, latte_err *err) {
    int rc = batch_check(c, b, err);
    if (rc) return rc;
    int V = c->model->hp.n_vocab, n_out = 0;
    if (grow((void **)&c->logit_idx, &c->logit_idx_cap, b->n_tokens, sizeof *c->logit_idx))
        return err_set(err, LATTE_E_NOMEM, "out of memory for a batch of %d tokens", b->n_tokens);
    for (int i = 0; i < b->n_tokens; i++) c->logit_idx[i] = b->logits[i] ? n_out++ : -1;
    if (n_out > c->logits_cap_rows) {
        float *nl = realloc(c->logits, sizeof(float) * (size_t)V * (size_t)n_out);
        if (!nl) return err_set(err, LATTE_E_NOMEM, "out of memory for %d rows of logits", n_out);
        c->logits = nl;
        c->logits_cap_rows = n_out;
    }
    c->n_logit_rows = 0;
    c->n_batch_rows = 0;
    for (int i = 0; i < b->n_tokens; i += c->g.n_ubatch) {
        int nb = b->n_tokens - i < c->g.n_ubatch ? b->n_tokens - i : c->g.n_ubatch;
        if ((rc = decode_ubatch(c, b, i, nb, err))) return rc;
    }
    c->n_logit_rows = n_out;
    c->n_batch_rows = b->n_tokens;
    return 0;
}

const float *latte_ctx_logits_ith(const latte_ctx *c, int i) {
    if (i < 0 || i >= c->n_batch_rows || c->logit_idx[i] < 0) return NULL;
    return c->logits + (size_t)c->logit_idx[i] * c->model->hp.n_vocab;
}

int latte_decode(latte_ctx *c, const int32_t *tokens, int n, bool all_logits, latte_err *err) {
    if (n <= 0) return err_set(err, LATTE_E_ARG, "nothing to decode");
    latte_batch *b = &c->one;
    if (n > b->cap) {
        latte_batch_free(b);
        if (latte_batch_init(b, n, err)) return LATTE_E_NOMEM;
    }
    b->n_tokens = 0;
    int p0 = c->g.kv.seq_len[0];
    for (int i = 0; i < n; i++) latte_batch_add(b, tokens[i], p0 + i, 0, all_logits || i == n - 1);
    return latte_decode_batch(c, b, err);
}

const float *latte_ctx_logits(const latte_ctx *c, int k) {
    if (k < 0 || k >= c->n_logit_rows) return NULL;
    return c->logits + (size_t)k * c->model->hp.n_vocab;
}

/* ---- sequences ---- */

int latte_ctx_n_past(const latte_ctx *c) { return c->g.kv.seq_len[0]; }
int latte_ctx_n_ctx(const latte_ctx *c) { return c->g.kv.n_ctx_seq; }
int latte_ctx_n_seq(const latte_ctx *c) { return c->g.kv.n_seq; }
int latte_ctx_n_threads(const latte_ctx *c) { return backend_cpu_threads(c->be); }

void latte_ctx_reset(latte_ctx *c) {
    for (int s = 0; s < c->g.kv.n_seq; s++) c->g.kv.seq_len[s] = 0;
    c->n_logit_rows = 0;
    c->n_batch_rows = 0;
}

void latte_ctx_truncate(latte_ctx *c, int n_keep) {
    if (n_keep >= 0 && n_keep < c->g.kv.seq_len[0]) c->g.kv.seq_len[0] = n_keep;
}

int latte_seq_len(const latte_ctx *c, int seq) {
    return seq >= 0 && seq < c->g.kv.n_seq ? c->g.kv.seq_len[seq] : -1;
}

int latte_seq_truncate(latte_ctx *c, int seq, int n_keep, latte_err *err) {
    if (seq < 0 || seq >= c->g.kv.n_seq) return err_set(err, LATTE_E_ARG, "sequence %d does not exist", seq);
    if (n_keep < 0 || n_keep > c->g.kv.seq_len[seq])
        return err_set(err, LATTE_E_ARG, "cannot keep %d tokens of sequence %d (it has %d)", n_keep, seq,
                       c->g.kv.seq_len[seq]);
    c->g.kv.seq_len[seq] = n_keep;
    return 0;
}

int latte_seq_copy(latte_ctx *c, int src, int dst, int n, latte_err *err) {
    kv_cache *kv = &c->g.kv;
    if (src < 0 || src >= kv->n_seq || dst < 0 || dst >= kv->n_seq)
        return err_set(err, LATTE_E_ARG, "sequence %d or %d does not exist (the context has %d)", src, dst, kv->n_seq);
    if (n < 0 || n > kv->seq_len[src])
        return err_set(err, LATTE_E_ARG, "cannot copy %d tokens of sequence %d (it has %d)", n, src, kv->seq_len[src]);
    return kv_seq_copy(kv, src, dst, n, err);
}

uint64_t latte_ctx_kv_bytes(const latte_ctx *c) { return c->g.kv.bytes; }
const char *latte_ctx_attention_desc(const latte_ctx *c) { return c->desc; }
