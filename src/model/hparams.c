/* hparams.c: hyper-parameters from GGUF metadata (keys "<arch>.<name>").
 * Required keys that are missing are errors naming the key; optional keys take the
 * defaults written here. Values are range-checked so later size arithmetic is safe. */
#include "hparams.h"

#include <stdio.h>
#include <string.h>

static const struct { const char *name; model_arch arch; } ARCHES[] = {
    {"llama", ARCH_LLAMA}, {"qwen2", ARCH_QWEN2}, {"deepseek2", ARCH_DEEPSEEK2},
};

const char *hparams_arch_name(model_arch a) {
    for (size_t i = 0; i < sizeof ARCHES / sizeof ARCHES[0]; i++)
        if (ARCHES[i].arch == a) return ARCHES[i].name;
    return "?";
}

typedef struct reader {
    const gguf_file *gf;
    const char *arch;
    latte_err *err;
} reader;

static const char *key(const reader *r, const char *suffix, char *buf, size_t cap) {
    snprintf(buf, cap, "%s.%s", r->arch, suffix);
    return buf;
}

/* required integer in [lo, hi] */
static int req_int(const reader *r, const char *suffix, int lo, int hi, int *out) {
    char k[128];
    uint64_t v;
    int rc = gguf_get_u64(r->gf, key(r, suffix, k, sizeof k), &v, r->err);
    if (rc) return rc;
    if (v < (uint64_t)lo || v > (uint64_t)hi)
        return err_set(r->err, LATTE_E_FORMAT, "metadata %s = %llu is outside [%d, %d]", k,
                       (unsigned long long)v, lo, hi);
    *out = (int)v;
    return 0;
}

/* optional integer: absent keeps *out (the default) */
static int opt_int(const reader *r, const char *suffix, int lo, int hi, int *out) {
    char k[128];
    if (!gguf_find_kv(r->gf, key(r, suffix, k, sizeof k))) return 0;
    return req_int(r, suffix, lo, hi, out);
}

static int opt_f32(const reader *r, const char *suffix, float *out) {
    char k[128];
    if (!gguf_find_kv(r->gf, key(r, suffix, k, sizeof k))) return 0;
    return gguf_get_f32(r->gf, k, out, r->err);
}

static int opt_bool(const reader *r, const char *suffix, bool *out) {
    char k[128];
    if (!gguf_find_kv(r->gf, key(r, suffix, k, sizeof k))) return 0;
    return gguf_get_bool(r->gf, k, out, r->err);
}

static int read_rope(const reader *r, model_hparams *hp) {
    rope_params *rp = &hp->rope;
    rp->pairing = hp->arch == ARCH_QWEN2 ? ROPE_NEOX : ROPE_NORM;
    rp->freq_base = 10000.0f;
    rp->yarn_beta_fast = 32.0f;
    rp->yarn_beta_slow = 1.0f;
    rp->llama3_low_freq = 1.0f;
    rp->llama3_high_freq = 4.0f;
    rp->factor = 1.0f;
    rp->n_ctx_orig = hp->n_ctx_train;
    int rc;
    if ((rc = opt_f32(r, "rope.freq_base", &rp->freq_base))) return rc;
    if (!(rp->freq_base > 0.0f))
        return err_set(r->err, LATTE_E_FORMAT, "metadata %s.rope.freq_base must be positive", r->arch);
    char k[128];
    const gguf_kv *st = gguf_find_kv(r->gf, key(r, "rope.scaling.type", k, sizeof k));
    rp->scaling = ROPE_SCALE_NONE;
    if (st) {
        gguf_str s;
        if ((rc = gguf_get_str(r->gf, k, &s, r->err))) return rc;
        if (gguf_str_eq(s, "none")) rp->scaling = ROPE_SCALE_NONE;
        else if (gguf_str_eq(s, "linear")) rp->scaling = ROPE_SCALE_LINEAR;
        else if (gguf_str_eq(s, "yarn")) rp->scaling = ROPE_SCALE_YARN;
        else if (gguf_str_eq(s, "llama3")) rp->scaling = ROPE_SCALE_LLAMA3;
        else
            return err_set(r->err, LATTE_E_UNSUPPORTED, "unsupported rope scaling type '%.*s' in %s",
                           (int)(s.len > 40 ? 40 : s.len), s.ptr, k);
    }
    if ((rc = opt_f32(r, "rope.scaling.factor", &rp->factor))) return rc;
    if (rp->scaling != ROPE_SCALE_NONE && !(rp->factor >= 1.0f && rp->factor < 1e6f))
        return err_set(r->err, LATTE_E_FORMAT, "metadata %s.rope.scaling.factor = %g is out of range",
                       r->arch, rp->factor);
    if (rp->scaling == ROPE_SCALE_NONE) rp->factor = 1.0f;
    if ((rc = opt_int(r, "rope.scaling.original_context_length", 1, 1 << 30, &rp->n_ctx_orig))) return rc;
    if ((rc = opt_f32(r, "rope.scaling.yarn_log_multiplier", &rp->yarn_log_mul))) return rc;
    if ((rc = opt_f32(r, "rope.scaling.yarn_beta_fast", &rp->yarn_beta_fast))) return rc;
    if ((rc = opt_f32(r, "rope.scaling.yarn_beta_slow", &rp->yarn_beta_slow))) return rc;
    return 0;
}

static int read_deepseek2(const reader *r, model_hparams *hp) {
    int rc;
    hp->has_mla = true;
    if ((rc = opt_int(r, "attention.q_lora_rank", 0, 1 << 16, &hp->q_lora_rank))) return rc;
    if ((rc = req_int(r, "attention.kv_lora_rank", 1, 1 << 16, &hp->kv_lora_rank))) return rc;
    if ((rc = req_int(r, "rope.dimension_count", 2, 1024, &hp->n_rot_mla))) return rc;
    /* mainline llama.cpp's converter stores the MLA view in key/value_length and the real
     * per-head sizes in *_mla */
    int kl = hp->n_embd_head_k, vl = hp->n_embd_head_v;
    if ((rc = opt_int(r, "attention.key_length_mla", 1, 1 << 16, &kl))) return rc;
    if ((rc = opt_int(r, "attention.value_length_mla", 1, 1 << 16, &vl))) return rc;
    hp->n_embd_head_k = kl;
    hp->n_embd_head_v = vl;
    if (hp->n_rot_mla % 2)
        return err_set(r->err, LATTE_E_FORMAT, "metadata %s.rope.dimension_count = %d must be even", r->arch,
                       hp->n_rot_mla);
    if (kl <= hp->n_rot_mla)
        return err_set(r->err, LATTE_E_FORMAT, "key length %d must exceed %s.rope.dimension_count = %d", kl, r->arch,
                       hp->n_rot_mla);
    hp->d_nope = kl - hp->n_rot_mla;
    hp->d_v = vl;
    hp->rope.n_rot = hp->n_rot_mla;
    if ((rc = opt_int(r, "leading_dense_block_count", 0, hp->n_layer, &hp->n_layer_dense_lead))) return rc;
    if ((rc = opt_int(r, "expert_count", 0, 1 << 16, &hp->n_expert))) return rc;
    if (hp->n_expert > 0) {
        if ((rc = req_int(r, "expert_used_count", 1, hp->n_expert, &hp->n_expert_used))) return rc;
        if ((rc = req_int(r, "expert_feed_forward_length", 1, 1 << 20, &hp->n_ff_exp))) return rc;
        if ((rc = opt_int(r, "expert_shared_count", 0, 1 << 10, &hp->n_expert_shared))) return rc;
    }
    hp->expert_weights_scale = 1.0f;
    if ((rc = opt_f32(r, "expert_weights_scale", &hp->expert_weights_scale))) return rc;
    if ((rc = opt_bool(r, "expert_weights_norm", &hp->expert_weights_norm))) return rc;
    int g = 1; /* llama.cpp ids: 1 softmax, 2 sigmoid */
    if ((rc = opt_int(r, "expert_gating_func", 0, 2, &g))) return rc;
    hp->gating = g == 2 ? GATING_SIGMOID : GATING_SOFTMAX;
    hp->n_expert_group = 1;
    hp->n_expert_group_used = 1;
    if ((rc = opt_int(r, "expert_group_count", 1, hp->n_expert > 0 ? hp->n_expert : 1, &hp->n_expert_group))) return rc;
    if ((rc = opt_int(r, "expert_group_used_count", 1, hp->n_expert_group, &hp->n_expert_group_used))) return rc;
    if (hp->n_expert > 0 && hp->n_expert % hp->n_expert_group)
        return err_set(r->err, LATTE_E_FORMAT, "expert_count %d is not a multiple of expert_group_count %d",
                       hp->n_expert, hp->n_expert_group);
    if (hp->n_expert_group > 1 &&
        hp->n_expert_used > hp->n_expert_group_used * (hp->n_expert / hp->n_expert_group))
        return err_set(r->err, LATTE_E_FORMAT, "expert_used_count %d exceeds the experts of the %d groups used",
                       hp->n_expert_used, hp->n_expert_group_used);
    return 0;
}

int hparams_load(model_hparams *hp, const gguf_file *gf, latte_err *err) {
    memset(hp, 0, sizeof *hp);
    gguf_str a;
    int rc = gguf_get_str(gf, "general.architecture", &a, err);
    if (rc) return rc;
    size_t i;
    for (i = 0; i < sizeof ARCHES / sizeof ARCHES[0]; i++)
        if (gguf_str_eq(a, ARCHES[i].name)) break;
    if (i == sizeof ARCHES / sizeof ARCHES[0])
        return err_set(err, LATTE_E_UNSUPPORTED, "unsupported architecture '%.*s' (supported: llama, qwen2, deepseek2)",
                       (int)(a.len > 40 ? 40 : a.len), a.ptr);
    hp->arch = ARCHES[i].arch;
    snprintf(hp->arch_name, sizeof hp->arch_name, "%s", ARCHES[i].name);
    reader r = {gf, ARCHES[i].name, err};
    const int BIG = 1 << 24;
    if ((rc = req_int(&r, "block_count", 1, 4096, &hp->n_layer))) return rc;
    if ((rc = req_int(&r, "embedding_length", 1, 1 << 20, &hp->n_embd))) return rc;
    if ((rc = req_int(&r, "attention.head_count", 1, 1 << 12, &hp->n_head))) return rc;
    hp->n_head_kv = hp->n_head;
    if ((rc = opt_int(&r, "attention.head_count_kv", 1, hp->n_head, &hp->n_head_kv))) return rc;
    if (hp->n_head % hp->n_head_kv)
        return err_set(err, LATTE_E_FORMAT, "head_count %d is not a multiple of head_count_kv %d", hp->n_head,
                       hp->n_head_kv);
    hp->n_ctx_train = 4096;
    if ((rc = opt_int(&r, "context_length", 1, 1 << 30, &hp->n_ctx_train))) return rc;
    hp->n_ff = 0;
    if ((rc = opt_int(&r, "feed_forward_length", 0, BIG, &hp->n_ff))) return rc;
    if ((rc = req_int(&r, "vocab_size", 1, BIG, &hp->n_vocab)) && rc != LATTE_E_MISSING) return rc;
    if (rc == LATTE_E_MISSING) hp->n_vocab = 0; /* taken from the token embedding */
    hp->rms_eps = 1e-5f;
    if ((rc = opt_f32(&r, "attention.layer_norm_rms_epsilon", &hp->rms_eps))) return rc;
    if (!(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f))
        return err_set(err, LATTE_E_FORMAT, "metadata %s.attention.layer_norm_rms_epsilon = %g is out of range (0, 1)",
                       r.arch, hp->rms_eps);
    hp->n_embd_head_k = hp->n_embd / hp->n_head;
    hp->n_embd_head_v = hp->n_embd_head_k;
    if ((rc = opt_int(&r, "attention.key_length", 1, 1 << 16, &hp->n_embd_head_k))) return rc;
    if ((rc = opt_int(&r, "attention.value_length", 1, 1 << 16, &hp->n_embd_head_v))) return rc;
    if ((rc = read_rope(&r, hp))) return rc;
    hp->rope.n_rot = hp->n_embd_head_k;
    if ((rc = opt_int(&r, "rope.dimension_count", 2, hp->n_embd_head_k, &hp->rope.n_rot))) return rc;
    if (hp->arch == ARCH_DEEPSEEK2 && (rc = read_deepseek2(&r, hp))) return rc;
    if (hp->rope.n_rot % 2)
        return err_set(err, LATTE_E_FORMAT, "metadata %s.rope.dimension_count = %d must be even", r.arch, hp->rope.n_rot);
    return 0;
}
