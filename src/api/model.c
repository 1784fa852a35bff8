/* model.c: loading a model (latte_model_load) and describing it (latte_model_describe).
 * Load order: map and validate the file, read hyper-parameters, the vocabulary, then
 * (unless vocab_only) check that all tensor data is present and bind the weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/cpu/matmul.h"
#include "../quant/quant.h"
#include "internal.h"

static bool cpu_types(uint32_t t) { return cpu_matmul_supports(t); }

/* Reads one byte of every page of tensor data so that the first tokens do not stall on
 * page faults, reporting progress as it goes (large models take a while here). */
static void prefault(const gguf_file *gf, const latte_model_params *p) {
    uint64_t total = 0, done = 0, next = 0;
    for (uint64_t i = 0; i < gf->n_tensors; i++) total += gf->tensors[i].n_bytes;
    volatile unsigned char sink = 0;
    for (uint64_t i = 0; i < gf->n_tensors; i++) {
        const gguf_tensor *t = &gf->tensors[i];
        for (uint64_t off = 0; off < t->n_bytes; off += 4096) sink += ((const unsigned char *)t->data)[off];
        done += t->n_bytes;
        if (p->progress && done >= next) {
            p->progress(0.2f + 0.8f * (float)done / (float)(total ? total : 1), p->progress_user);
            next = done + total / 50;
        }
    }
    (void)sink;
}

/* The placement plan, made once: each file tensor's device (derived matrices follow their
 * source). The plan's warnings go to the log. */
static int place_weights(latte_model *m, const latte_model_params *p, latte_err *err) {
    int n = api_devices(m->devs, PLACE_MAX_DEVICES, err);
    if (n < 0) return n;
    m->n_devs = n;
    place_plan plan;
    place_tensor *ts;
    int rc = api_plan(m, &p->place, m->devs, m->n_devs, &plan, &ts, err);
    if (rc) return rc;
    for (size_t i = 0; i < m->w.n_tensors; i++) m->w.tensors[i].dev = plan.device[i];
    if (p->log && plan.warnings[0]) fputs(plan.warnings, p->log);
    api_plan_free(m, &plan, ts);
    return 0;
}

int latte_model_load(latte_model **out, const latte_model_params *p, latte_err *err) {
    *out = NULL;
    if (!p || !p->path) return err_set(err, LATTE_E_ARG, "no model path given");
    latte_model *m = calloc(1, sizeof *m);
    if (!m) return err_set(err, LATTE_E_NOMEM, "out of memory");
    m->vocab_only = p->vocab_only;
    int rc = gguf_open_model(&m->gf, p->path, err);
    if (rc) goto fail;
    if (p->progress) p->progress(0.1f, p->progress_user);
    latte_err herr = {0};
    rc = hparams_load(&m->hp, m->gf, &herr);
    m->hparams_ok = rc == 0;
    if (rc) snprintf(m->hparams_err, sizeof m->hparams_err, "%s", herr.msg);
    if (m->hparams_ok && m->hp.n_vocab == 0) { /* vocab_size is optional: the embedding's rows */
        const gguf_tensor *te = gguf_find_tensor(m->gf, "token_embd.weight");
        if (te && te->n_dims == 2 && te->ne[1] < (1 << 24)) m->hp.n_vocab = (int)te->ne[1];
    }
    if (rc && !p->vocab_only) {
        *err = herr;
        goto fail;
    }
    if (m->hparams_ok && !m->hp.has_mla && p->mla >= 0 && p->log) {
        fprintf(p->log, "warning: %s has no MLA (architecture %s): -mla %d is ignored, using standard attention\n",
                p->path, m->hp.arch_name, p->mla);
        m->mla_warned = true;
    }
    if (gguf_find_kv(m->gf, "tokenizer.ggml.model") && (rc = tok_vocab_load(&m->vocab, m->gf, err))) {
        if (!p->vocab_only) goto fail;
        snprintf(m->tok_err, sizeof m->tok_err, "%s", err->msg); /* `latte info` still describes it */
        rc = 0;
    }
    gguf_str tmpl;
    if (gguf_find_kv(m->gf, "tokenizer.chat_template") &&
        gguf_get_str(m->gf, "tokenizer.chat_template", &tmpl, NULL) == 0) {
        m->chat_template = malloc(tmpl.len + 1);
        if (!m->chat_template) { rc = err_set(err, LATTE_E_NOMEM, "out of memory"); goto fail; }
        memcpy(m->chat_template, tmpl.ptr, tmpl.len);
        m->chat_template[tmpl.len] = 0;
    }
    if (!p->vocab_only) {
        if ((rc = gguf_check_data(m->gf, err))) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            rc = err_set(err, rc, "%s is truncated: %llu of %llu bytes (%s)", p->path,
                         (unsigned long long)m->gf->file_size, (unsigned long long)m->gf->data_needed, why);
            goto fail;
        }
        if (m->hp.n_vocab == 0) {
            rc = err_set(err, LATTE_E_MISSING, "model is missing tensor 'token_embd.weight'");
            goto fail;
        }
        if ((rc = weights_bind(&m->w, m->gf, &m->hp, cpu_types, err))) goto fail;
        if ((rc = place_weights(m, p, err))) goto fail;
        /* the MLA matrices the asked mode needs but the file lacks, built once here (a context
         * that later asks for another mode derives what it lacks then, also once) */
        if (m->hp.has_mla && (rc = weights_derive_mla(&m->w, &m->hp, p->mla == 0, err))) goto fail;
        prefault(m->gf, p);
        if (m->vocab && tok_n_vocab(m->vocab) > m->hp.n_vocab) {
            rc = err_set(err, LATTE_E_FORMAT, "the vocabulary has %d tokens but the model only %d logits",
                         tok_n_vocab(m->vocab), m->hp.n_vocab);
            goto fail;
        }
    }
    if (p->progress) p->progress(1.0f, p->progress_user);
    *out = m;
    return 0;
fail:
    latte_model_free(m);
    return rc;
}

void latte_model_free(latte_model *m) {
    if (!m) return;
    weights_free(&m->w);
    if (m->vocab) tok_vocab_free(m->vocab);
    free(m->chat_template);
    gguf_free(m->gf);
    free(m);
}

int latte_model_n_vocab(const latte_model *m) {
    if (m->hparams_ok && m->hp.n_vocab) return m->hp.n_vocab;
    return m->vocab ? tok_n_vocab(m->vocab) : 0;
}
int latte_model_n_ctx_train(const latte_model *m) { return m->hparams_ok ? m->hp.n_ctx_train : 0; }
bool latte_model_has_mla(const latte_model *m) { return m->hparams_ok && m->hp.has_mla; }
const char *latte_model_arch(const latte_model *m) { return m->hparams_ok ? m->hp.arch_name : "?"; }
uint64_t latte_model_weight_bytes(const latte_model *m) {
    uint64_t b = 0;
    for (uint64_t i = 0; i < m->gf->n_tensors; i++) b += m->gf->tensors[i].n_bytes;
    return b;
}
