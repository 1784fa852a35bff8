/* ctx.c: contexts (one timeline with its KV cache) and latte_decode, which splits the
 * tokens into micro-batches (-ub) and keeps the logits the caller asked for. */
#include <stdlib.h>
#include <string.h>

#include "../quant/quant.h"
#include "internal.h"

latte_ctx_params latte_ctx_default_params(void) {
    return (latte_ctx_params){.n_ctx = 0, .n_batch = 2048, .n_ubatch = 512, .n_threads = 0, .mla = -1,
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

int latte_ctx_init(latte_ctx **out, latte_model *m, const latte_ctx_params *pp, latte_err *err) {
    *out = NULL;
    if (m->vocab_only) return err_set(err, LATTE_E_ARG, "the model was loaded without its weights (vocab only)");
    latte_ctx_params p = pp ? *pp : latte_ctx_default_params();
    const model_hparams *hp = &m->hp;
    if (p.mla < -1 || p.mla > 3) return err_set(err, LATTE_E_ARG, "-mla must be 0, 1, 2 or 3 (got %d)", p.mla);
    if (p.n_ctx < 0) return err_set(err, LATTE_E_ARG, "context size must be positive (got %d)", p.n_ctx);
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_ubatch <= 0 || p.n_batch <= 0)
        return err_set(err, LATTE_E_ARG, "batch sizes must be positive (-b %d, -ub %d)", p.n_batch, p.n_ubatch);
    if (p.n_ubatch > p.n_batch) p.n_ubatch = p.n_batch;
    if (p.n_ubatch > p.n_ctx) p.n_ubatch = p.n_ctx;
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
    if ((rc = backend_cpu_init(&c->be, p.n_threads, err))) goto fail;
    if ((rc = graph_init(&c->g, hp, &m->w, c->be, mode, p.flash_attn, p.n_ctx, p.n_ubatch, tk, tv, err))) goto fail;
    c->g.ser_kmin = p.ser_kmin;
    c->g.ser_thresh = p.ser_thresh;
    c->logits_cap_rows = p.n_ubatch;
    c->logits = malloc(sizeof(float) * (size_t)hp->n_vocab * (size_t)c->logits_cap_rows);
    if (!c->logits) { rc = err_set(err, LATTE_E_NOMEM, "out of memory for logits"); goto fail; }
    snprintf(c->desc, sizeof c->desc, "%s%s", hp->has_mla ? mode_desc(mode) : "standard attention",
             p.flash_attn ? ", flash attention" : "");
    *out = c;
    return 0;
fail:
    latte_ctx_free(c);
    return rc;
}

void latte_ctx_free(latte_ctx *c) {
    if (!c) return;
    graph_free(&c->g);
    backend_free(c->be);
    free(c->logits);
    free(c);
}

int latte_decode(latte_ctx *c, const int32_t *tokens, int n, bool all_logits, latte_err *err) {
    if (n <= 0) return err_set(err, LATTE_E_ARG, "nothing to decode");
    if (c->g.kv.n_past + n > c->g.kv.n_ctx)
        return err_set(err, LATTE_E_CTX, "context is full: %d tokens past + %d new exceed the context size %d (-c)",
                       c->g.kv.n_past, n, c->g.kv.n_ctx);
    int V = c->model->hp.n_vocab;
    if (all_logits && n > c->logits_cap_rows) {
        float *nl = realloc(c->logits, sizeof(float) * (size_t)V * (size_t)n);
        if (!nl) return err_set(err, LATTE_E_NOMEM, "out of memory for %d rows of logits", n);
        c->logits = nl;
        c->logits_cap_rows = n;
    }
    for (int i = 0; i < n; i += c->g.n_ubatch) {
        int nb = n - i < c->g.n_ubatch ? n - i : c->g.n_ubatch;
        float *dst = all_logits ? c->logits + (size_t)i * V : c->logits;
        /* without all_logits only the last micro-batch's last row is kept */
        int rc = graph_forward(&c->g, tokens + i, nb, all_logits, dst, err);
        if (rc) return rc;
    }
    c->n_logit_rows = all_logits ? n : 1;
    return 0;
}

const float *latte_ctx_logits(const latte_ctx *c, int i) {
    if (i < 0 || i >= c->n_logit_rows) return NULL;
    return c->logits + (size_t)i * c->model->hp.n_vocab;
}

int latte_ctx_n_past(const latte_ctx *c) { return c->g.kv.n_past; }
int latte_ctx_n_ctx(const latte_ctx *c) { return c->g.kv.n_ctx; }
void latte_ctx_reset(latte_ctx *c) { c->g.kv.n_past = 0; c->n_logit_rows = 0; }
void latte_ctx_truncate(latte_ctx *c, int n_keep) {
    if (n_keep >= 0 && n_keep < c->g.kv.n_past) c->g.kv.n_past = n_keep;
}
uint64_t latte_ctx_kv_bytes(const latte_ctx *c) { return c->g.kv.bytes; }
const char *latte_ctx_attention_desc(const latte_ctx *c) { return c->desc; }
