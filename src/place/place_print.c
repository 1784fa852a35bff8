/* place_print.c: a plan for people (bytes per device, which layers' parts sit where) and
 * the -ngl / -ot flags that reproduce it: `-ngl 999` when most of the model is on the main
 * GPU (or nothing when it is on the CPU), then one -ot rule per (device, part) for the
 * layers that differ, a rule per tensor where one part of a layer is split. */
#include <stdlib.h>
#include <string.h>

#include "place.h"

#define GIB 1073741824.0

typedef struct sbuf {
    char *p;
    size_t cap, len;
} sbuf;

static void put(sbuf *b, const char *s) {
    size_t n = strlen(s);
    if (b->len + n < b->cap) memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* device of part k (0 = layer tensors, 1 = experts) of layer il, -2 when the part is split,
 * -1 when the layer has no such tensors */
static int part_dev(const place_plan *p, const place_tensor *ts, int il, int part) {
    int dev = -1;
    for (int i = 0; i < p->n_tensors; i++) {
        int l;
        place_kind k = place_kind_of(ts[i].name, &l);
        if (l != il || (k == PK_EXPS) != (part == 1)) continue;
        if (dev == -1) dev = p->device[i];
        else if (dev != p->device[i]) return -2;
    }
    return dev;
}

/* escapes a tensor name for a regex (dots) */
static void put_name(sbuf *b, const char *name) {
    char c[3] = {0};
    for (; *name; name++) {
        c[0] = *name == '.' ? '\\' : *name, c[1] = *name == '.' ? '.' : 0;
        put(b, c);
    }
}

size_t place_plan_flags(const place_plan *p, const place_tensor *ts, char *buf, size_t cap) {
    sbuf b = {buf, cap, 0};
    if (cap) buf[0] = 0;
    /* the base: the device holding most placeable bytes */
    uint64_t on[PLACE_MAX_DEVICES] = {0};
    int out_dev = 0;
    for (int i = 0; i < p->n_tensors; i++) {
        int l;
        place_kind k = place_kind_of(ts[i].name, &l);
        if (k == PK_LAYER || k == PK_EXPS || k == PK_OUTPUT) on[p->device[i]] += ts[i].bytes;
        if (k == PK_OUTPUT) out_dev = p->device[i];
    }
    int base = 0;
    for (int d = 1; d < p->n_devices; d++)
        if (on[d] > on[base]) base = d;
    char tmp[128];
    if (base) put(&b, "-ngl 999");
    for (int part = 1; part >= 0; part--) /* experts first: the layer rule below would match them too */
        for (int d = 0; d < p->n_devices; d++) {
            bool any = false;
            for (int il = 0; il < p->n_layer; il++) {
                int pd = part_dev(p, ts, il, part), p0 = part_dev(p, ts, il, 0);
                /* where the layer's own tensors go without a rule for this part: the layer
                 * rule's device (it matches the experts too), else the base */
                int eff = part == 1 && p0 >= 0 ? p0 : base;
                if (pd != d || pd == eff) continue;
                put(&b, any ? "|" : " -ot \"^blk\\.(");
                snprintf(tmp, sizeof tmp, "%d", il), put(&b, tmp);
                any = true;
            }
            if (any) snprintf(tmp, sizeof tmp, ")\\.%s=%s\"", part ? "ffn_.*_exps" : "", p->dev[d].name), put(&b, tmp);
        }
    for (int i = 0; i < p->n_tensors; i++) { /* layers whose part is split: per tensor */
        int l;
        place_kind k = place_kind_of(ts[i].name, &l);
        if (l < 0 || part_dev(p, ts, l, k == PK_EXPS) != -2 || p->device[i] == base) continue;
        put(&b, " -ot \"^"), put_name(&b, ts[i].name), snprintf(tmp, sizeof tmp, "$=%s\"", p->dev[p->device[i]].name);
        put(&b, tmp);
    }
    if (out_dev != base) snprintf(tmp, sizeof tmp, " -ot \"^output=%s\"", p->dev[out_dev].name), put(&b, tmp);
    if (!b.len) put(&b, "(none: everything on the CPU)");
    if (cap && buf[0] == ' ') memmove(buf, buf + 1, strlen(buf));
    return b.len;
}

void place_plan_print(const place_plan *p, const place_tensor *ts, FILE *out) {
    fprintf(out, "placement (%d device%s):\n", p->n_devices, p->n_devices == 1 ? "" : "s");
    for (int d = 0; d < p->n_devices; d++) {
        fprintf(out, "  %-8s %9.3f GiB (weights %.3f GiB, KV cache %.3f GiB)", p->dev[d].name, p->bytes[d] / GIB,
                (p->bytes[d] - p->kv_bytes[d]) / GIB, p->kv_bytes[d] / GIB);
        if (!p->dev[d].is_cpu) fprintf(out, " of %.3f GiB", p->dev[d].bytes / GIB);
        fputc('\n', out);
    }
    /* per layer: where the layer's own tensors and its routed experts sit, runs of equal layers merged */
    for (int il = 0; il < p->n_layer;) {
        int a = part_dev(p, ts, il, 0), e = part_dev(p, ts, il, 1), j = il + 1;
        while (j < p->n_layer && part_dev(p, ts, j, 0) == a && part_dev(p, ts, j, 1) == e) j++;
        char rng[32];
        snprintf(rng, sizeof rng, j - il > 1 ? "%d-%d" : "%d", il, j - 1);
        fprintf(out, "  layers %-8s attention/norms/shared: %-6s experts: %s\n", rng,
                a == -2 ? "split" : a >= 0 ? p->dev[a].name : "-", e == -2 ? "split" : e >= 0 ? p->dev[e].name : "-");
        il = j;
    }
    for (int i = 0; i < p->n_tensors; i++) {
        int l;
        place_kind k = place_kind_of(ts[i].name, &l);
        if (k == PK_OUTPUT || k == PK_EMBD) fprintf(out, "  %-28s %s\n", ts[i].name, p->dev[p->device[i]].name);
    }
    if (p->warnings[0]) fputs(p->warnings, out);
    size_t n = place_plan_flags(p, ts, NULL, 0);
    char *flags = malloc(n + 1);
    if (flags) {
        place_plan_flags(p, ts, flags, n + 1);
        fprintf(out, "equivalent flags: %s\n", flags);
        free(flags);
    }
}
