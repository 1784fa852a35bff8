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

int latte_model_plan(const latte_model *m, const latte_place_params *pp, FILE *out, latte_err *err) {
    if (!m->hparams_ok) return err_set(err, LATTE_E_ARG, "cannot plan placement: %s", m->hparams_err);
    const model_hparams *hp = &m->hp;
    place_device devs[PLACE_MAX_DEVICES];
    memset(&devs[0], 0, sizeof devs[0]);
    snprintf(devs[0].name, sizeof devs[0].name, "CPU");
    devs[0].is_cpu = true;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    devs[0].bytes = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : 0;
    for (uint32_t t = 0; t < 256; t++)
        if (quant_type_info_get(t)) devs[0].types[t / 64] |= 1ull << (t % 64);
    int n_devs = 1, rc;
    if (pp->n_fake > PLACE_MAX_DEVICES - 1) return err_set(err, LATTE_E_ARG, "at most %d fake devices", PLACE_MAX_DEVICES - 1);
    for (int i = 0; i < pp->n_fake; i++) {
        if ((rc = parse_fake(pp->fake_devices[i], &devs[n_devs], err))) return rc;
        for (int d = 0; d < n_devs; d++)
            if (!strcasecmp(devs[d].name, devs[n_devs].name))
                return err_set(err, LATTE_E_ARG, "--fake-device '%s': a device of that name exists", pp->fake_devices[i]);
        n_devs++;
    }
    /* the KV cache per layer for the asked context and mode */
    int mode = hp->has_mla ? (pp->mla < 0 ? 3 : pp->mla) : 0, n_ctx = pp->n_ctx > 0 ? pp->n_ctx : 4096;
    uint32_t tk = pp->type_k < 0 ? QT_F16 : (uint32_t)pp->type_k, tv = pp->type_v < 0 ? QT_F16 : (uint32_t)pp->type_v;
    uint64_t per_tok;
    if (hp->has_mla && mode > 0)
        per_tok = kv_bytes_per_token(1, hp->kv_lora_rank + hp->n_rot_mla, tk, mode == 1 ? hp->kv_lora_rank : 0, QT_F16);
    else if (hp->has_mla)
        per_tok = kv_bytes_per_token(1, (int64_t)hp->n_head * (hp->d_nope + hp->n_rot_mla), tk, (int64_t)hp->n_head * hp->d_v, tv);
    else
        per_tok = kv_bytes_per_token(1, (int64_t)hp->n_head_kv * hp->n_embd_head_k, tk,
                                     (int64_t)hp->n_head_kv * hp->n_embd_head_v, tv);
    const gguf_file *gf = m->gf;
    place_tensor *ts = malloc(sizeof *ts * (size_t)(gf->n_tensors ? gf->n_tensors : 1));
    char **names = calloc((size_t)(gf->n_tensors ? gf->n_tensors : 1), sizeof *names);
    if (!ts || !names) {
        free(ts);
        free(names);
        return err_set(err, LATTE_E_NOMEM, "out of memory");
    }
    rc = 0;
    for (uint64_t i = 0; i < gf->n_tensors && !rc; i++) {
        const gguf_tensor *t = &gf->tensors[i];
        if (!(names[i] = strndup(t->name.ptr, t->name.len))) rc = err_set(err, LATTE_E_NOMEM, "out of memory");
        ts[i] = (place_tensor){names[i], t->type, t->n_bytes};
    }
    place_opts o = {.n_gpu_layers = pp->n_gpu_layers, .n_cpu_moe = pp->n_cpu_moe, .main_gpu = pp->main_gpu,
                    .overrides = pp->overrides, .n_overrides = pp->n_overrides,
                    .kv_bytes_per_layer = per_tok * (uint64_t)n_ctx};
    place_plan plan;
    if (!rc && !(rc = place_plan_make(&plan, devs, n_devs, ts, (int)gf->n_tensors, hp->n_layer, &o, err))) {
        fprintf(out, "context %d tokens, %s, KV cache %.2f MiB per layer\n", n_ctx,
                hp->has_mla ? (mode ? "latent MLA cache" : "MLA mode 0 (per-head K/V)") : "standard attention",
                o.kv_bytes_per_layer / 1048576.0);
        place_plan_print(&plan, ts, out);
        place_plan_free(&plan);
    }
    for (uint64_t i = 0; i < gf->n_tensors; i++) free(names[i]);
    free(names);
    free(ts);
    return rc;
}
