/* text.c: the public token, chat and sampling calls, over text/ and sample/. */
#include <stdlib.h>
#include <string.h>

#include "../sample/sample.h"
#include "../text/chat.h"
#include "internal.h"

static int need_vocab(const latte_model *m, latte_err *err) {
    if (m->vocab) return 0;
    if (m->tok_err[0]) return err_set(err, LATTE_E_UNSUPPORTED, "%s", m->tok_err);
    return err_set(err, LATTE_E_MISSING, "the model has no tokenizer");
}

int latte_tokenize(const latte_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                   int32_t **ids, size_t *n_ids, latte_err *err) {
    int rc = need_vocab(m, err);
    if (rc) return rc;
    return tok_encode(m->vocab, text, len, add_special && tok_add_bos(m->vocab), parse_special, ids, n_ids, err);
}

int latte_token_to_bytes(const latte_model *m, int32_t id, char *buf, size_t cap) {
    return m->vocab ? tok_token_bytes(m->vocab, id, buf, cap) : -1;
}

const char *latte_token_text(const latte_model *m, int32_t id) {
    return m->vocab ? tok_token_text(m->vocab, id) : NULL;
}

int32_t latte_token_bos(const latte_model *m) { return m->vocab ? tok_bos(m->vocab) : -1; }

int latte_token_kind_of(const latte_model *m, int32_t id) { return m->vocab ? tok_token_type(m->vocab, id) : -1; }

bool latte_token_is_eog(const latte_model *m, int32_t id) { return m->vocab && tok_is_eog(m->vocab, id); }

/* Renders msgs with the named or the model's template into *out. */
static int render(const latte_model *m, const char *tmpl_name, const latte_chat_msg *msgs, size_t n_msgs,
                  bool add_generation_prompt, chat_text *out, latte_err *err) {
    chat_kind kind;
    int rc = chat_kind_pick(tmpl_name, m->chat_template, &kind, err);
    if (rc) return rc;
    if (n_msgs > 0 && !msgs) return err_set(err, LATTE_E_ARG, "%zu chat messages but no array", n_msgs);
    int32_t bos = latte_token_bos(m);
    const char *bos_text = bos >= 0 ? latte_token_text(m, bos) : "";
    /* latte_chat_msg and chat_msg have the same fields; copy to keep the layers apart */
    chat_msg *cm = malloc(sizeof *cm * (n_msgs ? n_msgs : 1));
    if (!cm) return err_set(err, LATTE_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n_msgs; i++) cm[i] = (chat_msg){msgs[i].role, msgs[i].content};
    rc = chat_render(kind, cm, n_msgs, add_generation_prompt, bos_text ? bos_text : "", out, err);
    free(cm);
    return rc;
}

int latte_chat_format(const latte_model *m, const char *tmpl_name, const latte_chat_msg *msgs, size_t n_msgs,
                      bool add_generation_prompt, char **out, latte_err *err) {
    *out = NULL;
    chat_text t;
    int rc = render(m, tmpl_name, msgs, n_msgs, add_generation_prompt, &t, err);
    if (rc) return rc;
    free(t.plain);
    *out = t.text;
    return 0;
}

int latte_chat_tokenize(const latte_model *m, const char *tmpl_name, const latte_chat_msg *msgs, size_t n_msgs,
                        bool add_generation_prompt, int32_t **ids, size_t *n_ids, char **text, latte_err *err) {
    *ids = NULL;
    *n_ids = 0;
    if (text) *text = NULL;
    int rc = need_vocab(m, err);
    if (rc) return rc;
    chat_text t;
    if ((rc = render(m, tmpl_name, msgs, n_msgs, add_generation_prompt, &t, err))) return rc;
    /* the messages' ranges are plain text: control tokens come from the template alone */
    rc = tok_encode_guarded(m->vocab, t.text, t.len, false, t.plain, t.n_plain, ids, n_ids, err);
    if (!rc && text) {
        *text = t.text;
        t.text = NULL;
    }
    chat_text_free(&t);
    return rc;
}

void latte_chat_split_reasoning(const char *text, size_t len, size_t *think_begin, size_t *think_end,
                                size_t *answer_begin) {
    chat_split_reasoning(text, len, think_begin, think_end, answer_begin);
}

latte_sampler_params latte_sampler_default_params(void) {
    return (latte_sampler_params){.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
                                  .penalty_last_n = 64, .seed = 0xC0FFEE};
}

struct latte_sampler {
    sampler *s;
};

latte_sampler *latte_sampler_init(const latte_sampler_params *p) {
    sample_params sp = {.temp = p->temp, .top_k = p->top_k, .top_p = p->top_p, .min_p = p->min_p,
                        .repeat_penalty = p->repeat_penalty, .penalty_last_n = p->penalty_last_n,
                        .presence_penalty = p->presence_penalty, .frequency_penalty = p->frequency_penalty,
                        .seed = p->seed};
    latte_sampler *ls = malloc(sizeof *ls);
    if (!ls) return NULL;
    ls->s = sample_init(&sp);
    if (!ls->s) { free(ls); return NULL; }
    return ls;
}

void latte_sampler_free(latte_sampler *s) {
    if (!s) return;
    sample_free(s->s);
    free(s);
}

int32_t latte_sampler_sample(latte_sampler *s, const float *logits, int n_vocab) {
    return sample_next(s->s, logits, n_vocab);
}
void latte_sampler_accept(latte_sampler *s, int32_t token) { sample_accept(s->s, token); }
void latte_sampler_reset(latte_sampler *s) { sample_reset(s->s); }
