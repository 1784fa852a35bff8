/* info.c: facts about the model, the context and the build that front ends show (`latte
 * bench` table and bandwidth line, `latte --version`, warnings about flags that do nothing
 * for a model). Reads only what the load already checked; prints nothing. */
#include <stdio.h>
#include <string.h>

#include "../quant/quant.h"
#include "internal.h"

static bool name_has(const gguf_tensor *t, const char *s) {
    size_t n = strlen(s);
    for (uint64_t i = 0; i + n <= t->name.len; i++)
        if (!memcmp(t->name.ptr + i, s, n)) return true;
    return false;
}

static bool name_is(const gguf_tensor *t, const char *s) { return gguf_str_eq(t->name, s); }

/* Bytes of tensor t one generated token reads: one row of the token embedding (unless it is
 * also the output matrix), n_expert_used / n_expert of each routed-expert tensor, else all. */
static double bytes_per_token(const latte_model *m, const gguf_tensor *t, bool tied) {
    const model_hparams *hp = &m->hp;
    if (name_is(t, "token_embd.weight") && !tied && t->n_dims == 2 && t->ne[1] > 0)
        return (double)t->n_bytes / (double)t->ne[1];
    if (name_has(t, "_exps.") && m->hparams_ok && hp->n_expert > 0)
        return (double)t->n_bytes * hp->n_expert_used / hp->n_expert;
    return (double)t->n_bytes;
}

void latte_model_get_info(const latte_model *m, latte_model_info *out) {
    memset(out, 0, sizeof *out);
    const gguf_file *gf = m->gf;
    out->arch = latte_model_arch(m);
    gguf_str name;
    if (gguf_find_kv(gf, "general.name") && !gguf_get_str(gf, "general.name", &name, NULL) && name.len)
        snprintf(out->name, sizeof out->name, "%.*s", (int)(name.len < 127 ? name.len : 127), name.ptr);
    else {
        const char *base = gf->path ? strrchr(gf->path, '/') : NULL;
        snprintf(out->name, sizeof out->name, "%s", base ? base + 1 : gf->path ? gf->path : "?");
    }
    bool tied = gguf_find_tensor(gf, "output.weight") == NULL;
    uint64_t by_type[64] = {0};
    double per_tok = 0;
    for (uint64_t i = 0; i < gf->n_tensors; i++) {
        const gguf_tensor *t = &gf->tensors[i];
        out->n_params += t->n_elems;
        out->weight_bytes += t->n_bytes;
        per_tok += bytes_per_token(m, t, tied);
        if (t->type < 64 && t->n_dims >= 2) by_type[t->type] += t->n_bytes;
    }
    out->bytes_per_token = (uint64_t)per_tok;
    uint32_t best = 0;
    for (uint32_t t = 1; t < 64; t++)
        if (by_type[t] > by_type[best]) best = t;
    snprintf(out->type_name, sizeof out->type_name, "%s", by_type[best] ? quant_type_info_get(best)->name : "?");
    for (char *p = out->type_name; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    out->has_mla = latte_model_has_mla(m);
    if (m->hparams_ok) {
        out->n_ctx_train = m->hp.n_ctx_train;
        out->n_expert = m->hp.n_expert;
        out->n_expert_used = m->hp.n_expert_used;
    }
}

int latte_ctx_mla_mode(const latte_ctx *c) { return c->model->hp.has_mla ? c->g.mla_mode : -1; }

void latte_system_info(char *buf, size_t cap) {
    static const char *const feats[] = {"avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                                        "avx512vnni"};
    __builtin_cpu_init();
    bool have[9];
    size_t len = 0;
    len += (size_t)snprintf(buf, cap, "CPU features:");
    for (int i = 0; i < 9; i++) {
        /* __builtin_cpu_supports needs a literal; the table above names them in this order */
        switch (i) {
        case 0: have[i] = __builtin_cpu_supports("avx"); break;
        case 1: have[i] = __builtin_cpu_supports("avx2"); break;
        case 2: have[i] = __builtin_cpu_supports("fma"); break;
        case 3: have[i] = __builtin_cpu_supports("f16c"); break;
        case 4: have[i] = __builtin_cpu_supports("avx512f"); break;
        case 5: have[i] = __builtin_cpu_supports("avx512bw"); break;
        case 6: have[i] = __builtin_cpu_supports("avx512vl"); break;
        case 7: have[i] = __builtin_cpu_supports("avx512dq"); break;
        default: have[i] = __builtin_cpu_supports("avx512vnni"); break;
        }
        if (have[i] && len < cap) len += (size_t)snprintf(buf + len, cap - len, " %s", feats[i]);
    }
    /* the same rule as backend/cpu/matmul.c's CPUID pick */
    bool avx2 = have[1] && have[2] && have[3];
    bool avx512 = avx2 && have[4] && have[5] && have[6] && have[7] && have[8];
    if (len < cap)
        snprintf(buf + len, cap - len, "\nCPU kernels:  %s\nbackends:     cpu (built without CUDA)",
                 avx512 ? "AVX-512 VNNI" : avx2 ? "AVX2" : "scalar reference");
}
