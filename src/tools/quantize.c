/* quantize.c: `latte quantize`: a GGUF file re-written with other weight types. Keys are
 * copied (general.file_type updated); each tensor's type comes from, in order: the first
 * --override REGEX=TYPE whose regex is found in its name, then the file type's mix
 * (llama-quantize's rules, below), then the fallback where the type's blocks do not fit a
 * row. 1-D tensors (norms, biases) and the MoE router are never converted (the engine reads
 * them as f32), overrides included; tensors already of the chosen type are copied as they are. Rows are converted through f32 by several threads. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../gguf/gguf.h"
#include "../quant/quant.h"
#include "../quant/quantize.h"
#include "tools.h"

/* llama-quantize's file types: name, llama_ftype id, base weight type, mix */
typedef enum { MIX_PURE, MIX_S, MIX_M } mix_kind;
typedef struct ftype {
    const char *name;
    int id;
    uint32_t base;
    mix_kind mix;
} ftype;

static const ftype FTYPES[] = {
    {"F32", 0, QT_F32, MIX_PURE},     {"F16", 1, QT_F16, MIX_PURE},     {"BF16", 32, QT_BF16, MIX_PURE},
    {"Q8_0", 7, QT_Q8_0, MIX_PURE},   {"Q4_0", 2, QT_Q4_0, MIX_S},      {"Q4_1", 3, QT_Q4_1, MIX_S},
    {"Q5_0", 8, QT_Q5_0, MIX_S},      {"Q5_1", 9, QT_Q5_1, MIX_S},      {"Q4_K_S", 14, QT_Q4_K, MIX_S},
    {"Q4_K_M", 15, QT_Q4_K, MIX_M},   {"Q4_K", 15, QT_Q4_K, MIX_M},     {"Q5_K_S", 16, QT_Q5_K, MIX_S},
    {"Q5_K_M", 17, QT_Q5_K, MIX_M},   {"Q5_K", 17, QT_Q5_K, MIX_M},     {"Q6_K", 18, QT_Q6_K, MIX_S},
};
#define N_FTYPES (int)(sizeof FTYPES / sizeof FTYPES[0])

const char *latte_quantize_ftype_name(int i) { return i >= 0 && i < N_FTYPES ? FTYPES[i].name : NULL; }

static const ftype *find_ftype(const char *name) {
    char *end;
    long id = strtol(name, &end, 10);
    for (int i = 0; i < N_FTYPES; i++)
        if (!strcasecmp(FTYPES[i].name, name) || (*name && !*end && id == FTYPES[i].id)) return &FTYPES[i];
    return NULL;
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers and every third between */
static bool more_bits(int il, int n_layer) {
    return il < n_layer / 8 || il >= 7 * n_layer / 8 || (il - n_layer / 8) % 3 == 2;
}

static bool has(const char *name, const char *part) { return strstr(name, part) != NULL; }

/* The mix: output.weight in q6_K (unless the base is q8_0 or a float type); with _M, the
 * value path of attention (attn_v, attn_kv_b, attn_k_b, attn_v_b) and ffn_down (dense,
 * shared and routed experts) in q6_K on the more-bits layers. */
static uint32_t mix_type(const ftype *ft, const char *name, int il, int n_layer) {
    if (ft->mix == MIX_PURE) return ft->base;
    if (!strcmp(name, "output.weight")) return QT_Q6_K;
    if (ft->mix == MIX_M && il >= 0 && more_bits(il, n_layer) &&
        (has(name, "attn_v.") || has(name, "attn_kv_b.") || has(name, "attn_k_b.") || has(name, "attn_v_b.") ||
         has(name, "ffn_down")))
        return QT_Q6_K;
    return ft->base;
}

typedef struct rule {
    pcre2_code *re;
    uint32_t type;
} rule;

static int parse_rules(const latte_quantize_params *p, rule *rules, latte_err *err) {
    for (int i = 0; i < p->n_overrides; i++) {
        const char *o = p->overrides[i], *eq = strrchr(o, '=');
        int t = eq ? quant_type_from_name(eq + 1) : -1;
        if (!eq || eq == o) return err_set(err, LATTE_E_ARG, "--override '%s': expected REGEX=TYPE", o);
        if (t < 0 || !quant_can_quantize((uint32_t)t))
            return err_set(err, LATTE_E_ARG, "--override '%s': '%s' is not a type quantize writes", o, eq + 1);
        int ec;
        PCRE2_SIZE off;
        rules[i].re = pcre2_compile((PCRE2_SPTR)o, (PCRE2_SIZE)(eq - o), 0, &ec, &off, NULL);
        if (!rules[i].re) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(ec, msg, sizeof msg);
            return err_set(err, LATTE_E_ARG, "--override '%s': bad regex at %zu: %s", o, (size_t)off, (char *)msg);
        }
        rules[i].type = (uint32_t)t;
    }
    return 0;
}

static int layer_of(const char *name) {
    int il;
    return sscanf(name, "blk.%d.", &il) == 1 ? il : -1;
}

typedef struct src_ctx {
    const gguf_tensor *t;
    size_t row_bytes;
} src_ctx;

static void src_row(void *vctx, int64_t row, float *out) {
    const src_ctx *c = vctx;
    quant_dequant_row(c->t->type, (const uint8_t *)c->t->data + (size_t)row * c->row_bytes, out, c->t->ne[0]);
}

typedef struct plan_row {
    char name[128];
    uint32_t type;
    bool copy;
} plan_row;

static void summary(FILE *f, const gguf_file *gf, const plan_row *pl, gguf_writer *w, const char *out) {
    uint64_t n_by[256] = {0}, bytes_by[256] = {0}, total = 0;
    for (uint64_t i = 0; i < gf->n_tensors; i++) {
        uint32_t t = pl[i].type < 256 ? pl[i].type : 255;
        n_by[t]++;
        bytes_by[t] += gguf_writer_tensor_bytes(w, (int)i);
        total += gguf_writer_tensor_bytes(w, (int)i);
    }
    uint64_t in_bytes = 0;
    for (uint64_t i = 0; i < gf->n_tensors; i++) in_bytes += gf->tensors[i].n_bytes;
    fprintf(f, "quantize: %s: %.2f MiB of tensors (was %.2f MiB)\n", out, total / 1048576.0, in_bytes / 1048576.0);
    for (int t = 0; t < 256; t++)
        if (n_by[t])
            fprintf(f, "  %-6s %5llu tensors %12.2f MiB %5.1f%%\n", quant_type_info_get((uint32_t)t)->name,
                    (unsigned long long)n_by[t], bytes_by[t] / 1048576.0, total ? 100.0 * bytes_by[t] / total : 0);
}

int latte_quantize(const latte_quantize_params *p, latte_err *err) {
    const ftype *ft = p->ftype ? find_ftype(p->ftype) : NULL;
    if (!ft) {
        char names[256] = "";
        for (int i = 0; i < N_FTYPES; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", FTYPES[i].name);
        return err_set(err, LATTE_E_ARG, "unknown type '%s' (known: %s)", p->ftype ? p->ftype : "", names);
    }
    if (p->n_overrides < 0 || p->n_overrides > 256) return err_set(err, LATTE_E_ARG, "too many --override rules");
    rule rules[256] = {{0}};
    gguf_file *gf = NULL;
    gguf_writer *w = NULL;
    plan_row *pl = NULL;
    int rc = parse_rules(p, rules, err);
    if (!rc) rc = gguf_open(&gf, p->in, err);
    if (!rc) rc = gguf_check_data(gf, err);
    uint32_t n_layer = 0;
    gguf_str arch = {0};
    if (!rc && !gguf_get_str(gf, "general.architecture", &arch, NULL)) {
        char k[96];
        snprintf(k, sizeof k, "%.*s.block_count", (int)(arch.len > 40 ? 40 : arch.len), arch.ptr);
        gguf_get_u32(gf, k, &n_layer, NULL);
    }
    if (!rc && !(w = gguf_writer_init())) rc = err_set(err, LATTE_E_NOMEM, "out of memory");
    if (!rc && !(pl = calloc(gf->n_tensors ? gf->n_tensors : 1, sizeof *pl)))
        rc = err_set(err, LATTE_E_NOMEM, "out of memory");
    for (uint64_t i = 0; !rc && i < gf->n_kv; i++) {
        const gguf_kv *kv = &gf->kv[i];
        if (gguf_str_eq(kv->key, "general.file_type") || gguf_str_eq(kv->key, "general.quantization_version"))
            continue;
        rc = gguf_writer_copy_kv(w, kv, err);
    }
    if (!rc) rc = gguf_writer_add_u32(w, "general.file_type", (uint32_t)ft->id, err);
    if (!rc) rc = gguf_writer_add_u32(w, "general.quantization_version", 2, err);
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    if (!rc && !md) rc = err_set(err, LATTE_E_NOMEM, "out of memory");
    tools_progress pr = {p->progress, p->progress_user, 0, 0};
    for (uint64_t i = 0; !rc && i < gf->n_tensors; i++) {
        const gguf_tensor *t = &gf->tensors[i];
        plan_row *r = &pl[i];
        snprintf(r->name, sizeof r->name, "%.*s", (int)(t->name.len < 127 ? t->name.len : 127), t->name.ptr);
        bool weight = t->n_dims >= 2 && t->ne[1] > 1 && !has(r->name, "ffn_gate_inp.") && !has(r->name, "_norm.");
        uint32_t type = t->type;
        int k = weight ? 0 : p->n_overrides; /* overrides, like the mix, apply to weights only */
        for (; k < p->n_overrides; k++)
            if (pcre2_match(rules[k].re, (PCRE2_SPTR)r->name, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0) break;
        if (k < p->n_overrides) type = tools_fit_type(rules[k].type, t->ne[0]);
        else if (weight && p->pure) type = tools_fit_type(ft->base, t->ne[0]);
        else if (weight) type = tools_fit_type(mix_type(ft, r->name, layer_of(r->name), (int)n_layer), t->ne[0]);
        r->type = type;
        r->copy = type == t->type;
        if (!r->copy && !quant_type_info_get(t->type)->can_dequant)
            rc = err_set(err, LATTE_E_UNSUPPORTED, "tensor '%s': cannot read type %s to convert it", r->name,
                         quant_type_info_get(t->type)->name);
        int idx = rc ? rc : gguf_writer_add_tensor(w, r->name, t->n_dims, t->ne, type, err);
        if (idx < 0) rc = idx;
        else pr.total += gguf_writer_tensor_bytes(w, idx);
    }
    if (!rc) rc = gguf_writer_begin(w, p->out, err);
    for (uint64_t i = 0; !rc && i < gf->n_tensors; i++) {
        const gguf_tensor *t = &gf->tensors[i];
        if (pl[i].copy) {
            rc = gguf_writer_write_tensor(w, t->data, err);
            pr.done += t->n_bytes;
            if (!rc && pr.fn) pr.fn(pr.done, pr.total, pl[i].name, pr.user);
        } else {
            src_ctx c = {t, quant_row_bytes(t->type, t->ne[0])};
            rc = tools_write_rows(w, pl[i].type, t->ne[0], (int64_t)(t->n_elems / (uint64_t)t->ne[0]), src_row, &c,
                                  p->n_threads, &pr, pl[i].name, err);
        }
    }
    if (!rc) rc = gguf_writer_finish(w, err);
    if (!rc && p->summary) summary(p->summary, gf, pl, w, p->out);
    pcre2_match_data_free(md);
    for (int i = 0; i < p->n_overrides && i < 256; i++) pcre2_code_free(rules[i].re);
    gguf_writer_free(w);
    gguf_free(gf);
    free(pl);
    return rc;
}
