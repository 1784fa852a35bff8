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
    snprintf(out->backends, sizeof out->backends, "CPU");
    for (size_t i = 0; !m->vocab_only && i < m->w.n_tensors; i++) {
        int d = m->w.tensors[i].dev;
        if (d > 0 && d < m->n_devs && !strncmp(m->devs[d].name, "CUDA", 4))
            snprintf(out->backends, sizeof out->backends, "CUDA");
    }
    if (m->hparams_ok) {
        out->n_ctx_train = m->hp.n_ctx_train;
        out->n_expert = m->hp.n_expert;
        out->n_expert_used = m->hp.n_expert_used;
    }
}

int latte_ctx_mla_mode(const latte_ctx *c) { return c->model->hp.has_mla ? c->g.mla_mode : -1; }

void latte_system_info(char *buf, size_t cap) {
    __builtin_cpu_init();
    const struct {
        const char *name;
        bool have;
    } f[] = {{"avx", __builtin_cpu_supports("avx")},           {"avx2", __builtin_cpu_supports("avx2")},
             {"fma", __builtin_cpu_supports("fma")},           {"f16c", __builtin_cpu_supports("f16c")},
             {"avx512f", __builtin_cpu_supports("avx512f")},   {"avx512bw", __builtin_cpu_supports("avx512bw")},
             {"avx512vl", __builtin_cpu_supports("avx512vl")}, {"avx512dq", __builtin_cpu_supports("avx512dq")},
             {"avx512vnni", __builtin_cpu_supports("avx512vnni")}};
    size_t len = (size_t)snprintf(buf, cap, "CPU features:");
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].have && len < cap) len += (size_t)snprintf(buf + len, cap - len, " %s", f[i].name);
    /* the same rule as backend/cpu/matmul.c's CPUID pick */
    bool avx2 = f[1].have && f[2].have && f[3].have;
    bool avx512 = avx2 && f[4].have && f[5].have && f[6].have && f[7].have && f[8].have;
    if (len < cap)
        snprintf(buf + len, cap - len, "\nCPU kernels:  %s\nbackends:     cpu (built without CUDA)",
                 avx512 ? "AVX-512 VNNI" : avx2 ? "AVX2" : "scalar reference");
}
