/* place.c: the placement plan (place.h). Order of decisions per tensor: the token
 * embedding and host tables stay on the CPU; the first -ot rule whose regex matches the
 * name (searched anywhere, as llama.cpp does) decides; then --n-cpu-moe; then -ngl (the last
 * N layers on the GPUs, split in contiguous ranges by their memory; the output when
 * N > n_layer); with no -ngl and a GPU present, the automatic fit. A weight type the chosen
 * device cannot multiply falls back to the CPU with a warning. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "place.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

place_kind place_kind_of(const char *name, int *layer) {
    *layer = -1;
    if (!strncmp(name, "token_embd", 10)) return PK_EMBD;
    if (!strncmp(name, "output", 6)) return PK_OUTPUT;
    if (strncmp(name, "blk.", 4)) return PK_OTHER;
    char *end;
    long l = strtol(name + 4, &end, 10);
    if (end == name + 4 || *end != '.' || l < 0 || l > 1000000) return PK_OTHER;
    *layer = (int)l;
    return strstr(end, "_exps") ? PK_EXPS : PK_LAYER;
}

static bool dev_can(const place_device *d, uint32_t type) { return type < 256 && (d->types[type / 64] >> (type % 64)) & 1; }

typedef struct rule {
    pcre2_code *re;
    int dev;
} rule;

static int parse_rules(rule *rules, const place_device *devs, int n_devs, const place_opts *o, latte_err *err) {
    for (int i = 0; i < o->n_overrides; i++) {
        const char *ot = o->overrides[i], *eq = strrchr(ot, '=');
        if (!eq || eq == ot || !eq[1])
            return err_set(err, LATTE_E_ARG, "-ot '%s': expected REGEX=DEVICE", ot);
        rules[i].dev = -1;
        for (int d = 0; d < n_devs; d++)
            if (!strcasecmp(eq + 1, devs[d].name)) rules[i].dev = d;
        if (rules[i].dev < 0) {
            char names[256] = "";
            for (int d = 0; d < n_devs; d++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", d ? ", " : "", devs[d].name);
            return err_set(err, LATTE_E_ARG, "-ot '%s': no device named '%s' (devices here: %s)", ot, eq + 1, names);
        }
        int ec;
        PCRE2_SIZE off;
        rules[i].re = pcre2_compile((PCRE2_SPTR)ot, (PCRE2_SIZE)(eq - ot), 0, &ec, &off, NULL);
        if (!rules[i].re) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(ec, msg, sizeof msg);
            return err_set(err, LATTE_E_ARG, "-ot '%s': bad regex at offset %zu: %s", ot, (size_t)off, (char *)msg);
        }
    }
    return 0;
}

static int rule_match(const rule *rules, int n, const char *name, pcre2_match_data *md) {
    for (int i = 0; i < n; i++)
        if (pcre2_match(rules[i].re, (PCRE2_SPTR)name, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0) return rules[i].dev;
    return -1;
}

/* bytes a layer adds to a device: its non-expert weights (and KV), its experts */
typedef struct layer_need {
    uint64_t base, exps;
} layer_need;

static void warn(place_plan *p, const char *line) {
    size_t n = strlen(p->warnings);
    if (!strstr(p->warnings, line)) snprintf(p->warnings + n, sizeof p->warnings - n, "%s\n", line);
}

/* automatic fit on the GPUs in order (main first): every layer's non-expert part and the
 * output if they fit together, else whole layers from the last down; then routed experts
 * from the last layer down while they fit */
static void auto_fit(place_plan *p, const int *gpus, int n_gpu, const layer_need *need, uint64_t out_bytes, int *layer_dev,
                     int *exps_dev, int *out_dev) {
    uint64_t room[PLACE_MAX_DEVICES];
    for (int g = 0; g < n_gpu; g++) {
        const place_device *d = &p->dev[gpus[g]];
        room[g] = d->bytes > d->reserve ? d->bytes - d->reserve : 0;
    }
    int g = 0;
    uint64_t total = out_bytes;
    for (int il = 0; il < p->n_layer; il++) total += need[il].base;
    uint64_t all_room = 0;
    for (int k = 0; k < n_gpu; k++) all_room += room[k];
    bool all_base = total <= all_room;
    if (all_base && out_bytes <= room[0]) *out_dev = gpus[0], room[0] -= out_bytes;
    for (int il = p->n_layer - 1; il >= 0; il--) { /* non-expert parts */
        while (g < n_gpu && need[il].base > room[g]) g++;
        if (g == n_gpu) break;
        layer_dev[il] = gpus[g];
        room[g] -= need[il].base;
    }
    for (int il = p->n_layer - 1; il >= 0; il--) { /* then routed experts, whole layers */
        if (layer_dev[il] == 0 || !need[il].exps) continue;
        int k = 0;
        while (k < n_gpu && need[il].exps > room[k]) k++;
        if (k == n_gpu) break;
        exps_dev[il] = gpus[k];
        room[k] -= need[il].exps;
    }
}

int place_plan_make(place_plan *p, const place_device *devs, int n_devs, const place_tensor *ts, int n_ts, int n_layer,
                    const place_opts *o, latte_err *err) {
    memset(p, 0, sizeof *p);
    if (n_devs < 1 || n_devs > PLACE_MAX_DEVICES || !devs[0].is_cpu)
        return err_set(err, LATTE_E_ARG, "the device list must start with the CPU (got %d devices)", n_devs);
    p->n_devices = n_devs, p->n_tensors = n_ts, p->n_layer = n_layer;
    memcpy(p->dev, devs, sizeof *devs * (size_t)n_devs);
    int gpus[PLACE_MAX_DEVICES], n_gpu = 0;
    for (int d = 1; d < n_devs; d++)
        if (!devs[d].is_cpu) gpus[n_gpu++] = d;
    if (o->main_gpu < 0 || (o->main_gpu > 0 && o->main_gpu >= n_gpu))
        return err_set(err, LATTE_E_ARG, "-mg %d: there %s %d GPU%s", o->main_gpu, n_gpu == 1 ? "is" : "are", n_gpu,
                       n_gpu == 1 ? "" : "s");
    if (n_gpu && o->main_gpu) { /* the main GPU first */
        int m = gpus[o->main_gpu];
        memmove(gpus + 1, gpus, sizeof *gpus * (size_t)o->main_gpu);
        gpus[0] = m;
    }
    p->device = calloc((size_t)(n_ts > 0 ? n_ts : 1), sizeof *p->device);
    p->kv_device = calloc((size_t)(n_layer > 0 ? n_layer : 1), sizeof *p->kv_device);
    int *layer_dev = calloc((size_t)(n_layer > 0 ? n_layer : 1) * 2, sizeof *layer_dev), *exps_dev = layer_dev + n_layer;
    layer_need *need = calloc((size_t)(n_layer > 0 ? n_layer : 1), sizeof *need);
    rule *rules = calloc((size_t)(o->n_overrides > 0 ? o->n_overrides : 1), sizeof *rules);
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    int rc = 0;
    if (!p->device || !p->kv_device || !layer_dev || !need || !rules || !md) {
        rc = err_set(err, LATTE_E_NOMEM, "out of memory planning placement");
        goto done;
    }
    if ((rc = parse_rules(rules, devs, n_devs, o, err))) goto done;
    /* per-layer defaults from -ngl or the automatic fit (0 = CPU) */
    uint64_t out_bytes = 0;
    for (int i = 0; i < n_ts; i++) {
        int l;
        place_kind k = place_kind_of(ts[i].name, &l);
        if (k == PK_OUTPUT) out_bytes += ts[i].bytes;
        if (l >= 0 && l < n_layer) *(k == PK_EXPS ? &need[l].exps : &need[l].base) += ts[i].bytes;
    }
    for (int il = 0; il < n_layer; il++) need[il].base += o->kv_bytes_per_layer;
    int out_dev = 0;
    if (n_gpu == 0) {
        if (o->n_gpu_layers > 0) warn(p, "warning: no GPU in this build or host: -ngl is ignored, every weight stays on the CPU");
        if (o->n_cpu_moe > 0) warn(p, "warning: no GPU in this build or host: --n-cpu-moe changes nothing, every weight stays on the CPU");
    } else if (o->n_gpu_layers >= 0) { /* last N layers, contiguous ranges over the GPUs by memory */
        int first = o->n_gpu_layers >= n_layer ? 0 : n_layer - o->n_gpu_layers;
        uint64_t mem = 0, acc = 0;
        for (int g = 0; g < n_gpu; g++) mem += devs[gpus[g]].bytes;
        int g = 0;
        for (int il = first; il < n_layer; il++) {
            uint64_t share = mem ? (uint64_t)((double)(il - first) / (double)(n_layer - first) * (double)mem) : 0;
            while (g + 1 < n_gpu && share >= acc + devs[gpus[g]].bytes) acc += devs[gpus[g++]].bytes;
            layer_dev[il] = exps_dev[il] = gpus[g];
        }
        if (o->n_gpu_layers > n_layer) out_dev = gpus[0];
    } else {
        auto_fit(p, gpus, n_gpu, need, out_bytes, layer_dev, exps_dev, &out_dev);
    }
    for (int il = 0; il < n_layer && il < o->n_cpu_moe; il++) exps_dev[il] = 0;
    /* per tensor: rules first, then the layer defaults; types a device cannot run -> CPU */
    for (int i = 0; i < n_ts; i++) {
        int l, d;
        place_kind k = place_kind_of(ts[i].name, &l);
        if (k == PK_EMBD || k == PK_OTHER) d = 0;
        else if ((d = rule_match(rules, o->n_overrides, ts[i].name, md)) >= 0) (void)0;
        else if (k == PK_OUTPUT) d = out_dev;
        else d = l < n_layer ? (k == PK_EXPS ? exps_dev[l] : layer_dev[l]) : 0;
        if (d && !dev_can(&devs[d], ts[i].type)) {
            char line[200];
            snprintf(line, sizeof line, "warning: %s has no kernel for tensor type id %u: such tensors stay on the CPU",
                     devs[d].name, ts[i].type);
            warn(p, line);
            d = 0;
        }
        p->device[i] = d;
        p->bytes[d] += ts[i].bytes;
        /* a layer's KV cache sits with its attention (the q/kv projections) */
        if (k == PK_LAYER && l < n_layer && (strstr(ts[i].name, "attn_kv_a") || strstr(ts[i].name, "attn_k.")))
            p->kv_device[l] = d;
    }
    for (int il = 0; il < n_layer; il++) {
        p->bytes[p->kv_device[il]] += o->kv_bytes_per_layer;
        p->kv_bytes[p->kv_device[il]] += o->kv_bytes_per_layer;
    }
    for (int d = 1; d < n_devs; d++)
        if (p->bytes[d] + devs[d].reserve > devs[d].bytes) {
            rc = err_set(err, LATTE_E_NOMEM,
                         "%s: the plan puts %.2f GiB there (weights and KV cache, plus %.2f GiB for activations) but it "
                         "has %.2f GiB: use fewer -ngl layers, -ot exps=CPU, --n-cpu-moe, or a smaller -c",
                         devs[d].name, p->bytes[d] / 1073741824.0, devs[d].reserve / 1073741824.0,
                         devs[d].bytes / 1073741824.0);
            goto done;
        }
done:
    for (int i = 0; rules && i < o->n_overrides; i++) pcre2_code_free(rules[i].re);
    free(rules);
    pcre2_match_data_free(md);
    free(layer_dev);
    free(need);
    if (rc) place_plan_free(p);
    return rc;
}

void place_plan_free(place_plan *p) {
    free(p->device);
    free(p->kv_device);
    p->device = p->kv_device = NULL;
}
