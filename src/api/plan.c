/* plan.c: latte_model_plan: the devices this build and host have (the CPU; GPUs when a GPU
 * backend is built in) plus any fake ones the caller names, the model's tensor directory
 * and the KV cache the context would need, through the placement planner (place/). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../kv/kv.h"
#include "../place/place.h"
#include "../quant/quant.h"
#include "internal.h"

/* "NAME:BYTES" with an optional K/M/G/T (binary) suffix */
static int parse_fake(const char *s, place_device *d, latte_err *err) {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || colon - s >= (long)sizeof d->name)
        return err_set(err, LATTE_E_ARG, "--fake-device '%s': expected NAME:BYTES (e.g. CUDA0:24G)", s);
    char *end;
    double v = strtod(colon + 1, &end);
    double mul = 1;
    switch (*end) {
    case 'K': case 'k': mul = 1024.0, end++; break;
    case 'M': case 'm': mul = 1048576.0, end++; break;
    case 'G': case 'g': mul = 1073741824.0, end++; break;
    case 'T': case 't': mul = 1099511627776.0, end++; break;
    }
    if (end == colon + 1 || *end || !(v > 0) || v * mul > 1e18)
        return err_set(err, LATTE_E_ARG, "--fake-device '%s': the size must be a positive number of bytes (K/M/G/T)", s);
    memset(d, 0, sizeof *d);
    memcpy(d->name, s, (size_t)(colon - s));
    if (!strcasecmp(d->name, "CPU")) return err_set(err, LATTE_E_ARG, "--fake-device '%s': CPU is always there", s);
    d->bytes = (uint64_t)(v * mul);
    d->reserve = d->bytes / 32; /* activations: a rough share until a real backend measures it */
    memset(d->types, 0xff, sizeof d->types);
    return 0;
}

/* the KV cache bytes of one layer for the context p describes */
static uint64_t kv_per_layer(const model_hparams *hp, const latte_place_params *pp) {
    int mode = hp->has_mla ? (pp->mla < 0 ? 3 : pp->mla) : 0, n_ctx = pp->n_ctx > 0 ? pp->n_ctx : 4096;
    uint32_t tk = pp->type_k < 0 ? QT_F16 : (uint32_t)pp->type_k, tv = pp->type_v < 0 ? QT_F16 : (uint32_t)pp->type_v;
    uint64_t per_tok;
    if (hp->has_mla && mode > 0)
        per_tok = kv_bytes_per_token(1, hp->kv_lora_rank + hp->n_rot_mla, tk, mode == 1 ? hp->kv_lora_rank : 0, QT_F16);
    else if (hp->has_mla)
        per_tok = kv_bytes_per_token(1, (int64_t)hp->n_head * (hp->d_nope + hp->n_rot_mla), tk,
                                     (int64_t)hp->n_head * hp->d_v, tv);
    else
        per_tok = kv_bytes_per_token(1, (int64_t)hp->n_head_kv * hp->n_embd_head_k, tk,
                                     (int64_t)hp->n_head_kv * hp->n_embd_head_v, tv);
    return per_tok * (uint64_t)n_ctx;
}

int api_plan(const latte_model *m, const latte_place_params *pp, const place_device *devs, int n_devs, place_plan *plan,
             place_tensor **out_ts, latte_err *err) {
    const gguf_file *gf = m->gf;
    size_t n = gf->n_tensors ? gf->n_tensors : 1;
    place_tensor *ts = calloc(n, sizeof *ts);
    if (!ts) return err_set(err, LATTE_E_NOMEM, "out of memory");
    int rc = 0;
    for (uint64_t i = 0; i < gf->n_tensors && !rc; i++) {
        const gguf_tensor *t = &gf->tensors[i];
        char *name = strndup(t->name.ptr, t->name.len);
        if (!name) rc = err_set(err, LATTE_E_NOMEM, "out of memory");
        ts[i] = (place_tensor){name, t->type, t->n_bytes};
    }
    place_opts o = {.n_gpu_layers = pp->n_gpu_layers, .n_cpu_moe = pp->n_cpu_moe, .main_gpu = pp->main_gpu,
                    .overrides = pp->overrides, .n_overrides = pp->n_overrides,
                    .kv_bytes_per_layer = kv_per_layer(&m->hp, pp)};
    if (!rc) rc = place_plan_make(plan, devs, n_devs, ts, (int)gf->n_tensors, m->hp.n_layer, &o, err);
    if (rc) {
        for (uint64_t i = 0; i < gf->n_tensors; i++) free((char *)ts[i].name);
        free(ts);
        return rc;
    }
    *out_ts = ts;
    return 0;
}

void api_plan_free(const latte_model *m, place_plan *plan, place_tensor *ts) {
    for (uint64_t i = 0; ts && i < m->gf->n_tensors; i++) free((char *)ts[i].name);
    free(ts);
    place_plan_free(plan);
}

int latte_model_plan(const latte_model *m, const latte_place_params *pp, FILE *out, latte_err *err) {
    if (!m->hparams_ok) return err_set(err, LATTE_E_ARG, "cannot plan placement: %s", m->hparams_err);
    place_device devs[PLACE_MAX_DEVICES];
    int n_devs = api_devices(devs, PLACE_MAX_DEVICES, err), rc;
    if (n_devs < 0) return n_devs;
    if (pp->n_fake > PLACE_MAX_DEVICES - n_devs) return err_set(err, LATTE_E_ARG, "at most %d fake devices", PLACE_MAX_DEVICES - n_devs);
    for (int i = 0; i < pp->n_fake; i++) {
        if ((rc = parse_fake(pp->fake_devices[i], &devs[n_devs], err))) return rc;
        for (int d = 0; d < n_devs; d++)
            if (!strcasecmp(devs[d].name, devs[n_devs].name))
                return err_set(err, LATTE_E_ARG, "--fake-device '%s': a device of that name exists", pp->fake_devices[i]);
        n_devs++;
    }
    place_plan plan;
    place_tensor *ts;
    if ((rc = api_plan(m, pp, devs, n_devs, &plan, &ts, err))) return rc;
    const model_hparams *hp = &m->hp;
    int mode = hp->has_mla ? (pp->mla < 0 ? 3 : pp->mla) : 0;
    fprintf(out, "context %d tokens, %s, KV cache %.2f MiB per layer\n", pp->n_ctx > 0 ? pp->n_ctx : 4096,
            hp->has_mla ? (mode ? "latent MLA cache" : "MLA mode 0 (per-head K/V)") : "standard attention",
            kv_per_layer(hp, pp) / 1048576.0);
    place_plan_print(&plan, ts, out);
    api_plan_free(m, &plan, ts);
    return 0;
}

int latte_model_n_devices(const latte_model *m) { return m->n_devs > 0 ? m->n_devs : 1; }
const char *latte_model_device_name(const latte_model *m, int i) {
    return i >= 0 && i < m->n_devs ? m->devs[i].name : i == 0 ? "CPU" : NULL;
}
