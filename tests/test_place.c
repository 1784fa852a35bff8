/* test_place.c: the placement planner (src/place/) on tensor directories shaped like
 * DeepSeek-V3 (61 layers, 3 dense, 256 experts) and Kimi-K2 (61 layers, 1 dense, 384
 * experts), with fake devices: no GPU; the automatic fit on 24 / 80 / 1000 GiB GPUs; -ngl N;
 * -ngl 999 -ot exps=CPU; --n-cpu-moe; first-match-wins rules; a type the GPU cannot run;
 * bad regexes, unknown devices, -mg past the GPUs and a GPU too small are errors; and the
 * equivalent flags the plan prints, planned again, give the same placement. Expected
 * answers are stated from the rules, not computed by the planner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "place/place.h"

static int n_fail;
#define GiB (1ull << 30)

static void check(const char *name, int ok, const char *why) {
    if (ok) printf("PASS place.%s\n", name);
    else printf("FAIL place.%s: %s\n", name, why), n_fail++;
}

typedef struct model {
    place_tensor t[8192];
    char names[8192][64];
    int n, n_layer;
} model;

static void add(model *m, const char *name, uint32_t type, uint64_t bytes) {
    snprintf(m->names[m->n], sizeof m->names[0], "%s", name);
    m->t[m->n] = (place_tensor){m->names[m->n], type, bytes};
    m->n++;
}

/* Q4_K-ish bytes (4.5 bits per weight) for matrices, f32 for norms */
static uint64_t q4(uint64_t a, uint64_t b) { return a * b * 9 / 16; }

static void make_ds(model *m, int n_layer, int n_dense, int n_exp, int n_head, int d, int ff, int ffe, int vocab) {
    memset(m, 0, sizeof *m);
    m->n_layer = n_layer;
    char nm[64];
    add(m, "token_embd.weight", 12, q4(d, vocab));
    for (int l = 0; l < n_layer; l++) {
#define T(fmt, ty, by) (snprintf(nm, sizeof nm, fmt, l), add(m, nm, ty, by))
        T("blk.%d.attn_norm.weight", 0, 4ull * d);
        T("blk.%d.attn_q_a.weight", 12, q4(d, 1536));
        T("blk.%d.attn_q_a_norm.weight", 0, 4ull * 1536);
        T("blk.%d.attn_q_b.weight", 12, q4(1536, n_head * 192));
        T("blk.%d.attn_kv_a_mqa.weight", 12, q4(d, 576));
        T("blk.%d.attn_kv_a_norm.weight", 0, 4ull * 512);
        T("blk.%d.attn_k_b.weight", 8, (uint64_t)n_head * 128 * 512 * 17 / 16);
        T("blk.%d.attn_v_b.weight", 8, (uint64_t)n_head * 128 * 512 * 17 / 16);
        T("blk.%d.attn_output.weight", 12, q4(n_head * 128, d));
        T("blk.%d.ffn_norm.weight", 0, 4ull * d);
        if (l < n_dense) {
            T("blk.%d.ffn_gate.weight", 12, q4(d, ff));
            T("blk.%d.ffn_up.weight", 12, q4(d, ff));
            T("blk.%d.ffn_down.weight", 12, q4(ff, d));
        } else {
            T("blk.%d.ffn_gate_inp.weight", 0, 4ull * d * n_exp);
            T("blk.%d.exp_probs_b.bias", 0, 4ull * n_exp);
            T("blk.%d.ffn_gate_exps.weight", 12, q4(d, (uint64_t)ffe * n_exp));
            T("blk.%d.ffn_up_exps.weight", 12, q4(d, (uint64_t)ffe * n_exp));
            T("blk.%d.ffn_down_exps.weight", 12, q4((uint64_t)ffe * n_exp, d));
            T("blk.%d.ffn_gate_shexp.weight", 12, q4(d, ffe));
            T("blk.%d.ffn_up_shexp.weight", 12, q4(d, ffe));
            T("blk.%d.ffn_down_shexp.weight", 12, q4(ffe, d));
        }
#undef T
    }
    add(m, "output_norm.weight", 0, 4ull * d);
    add(m, "output.weight", 14, (uint64_t)d * vocab * 210 / 256);
}

static place_device cpu_dev(void) {
    place_device d = {.name = "CPU", .is_cpu = true, .bytes = 2048 * GiB};
    memset(d.types, 0xff, sizeof d.types);
    return d;
}

static place_device gpu(const char *name, uint64_t gib) {
    place_device d = {.bytes = gib * GiB, .reserve = GiB};
    snprintf(d.name, sizeof d.name, "%s", name);
    memset(d.types, 0xff, sizeof d.types);
    return d;
}

static int dev_of(const place_plan *p, const model *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->t[i].name, name)) return p->device[i];
    return -9;
}

/* every tensor of layer l of a kind (0 layer, 1 experts) on device d */
static int layer_on(const place_plan *p, const model *m, int l, int exps, int d) {
    for (int i = 0; i < m->n; i++) {
        int il;
        place_kind k = place_kind_of(m->t[i].name, &il);
        if (il == l && (k == PK_EXPS) == exps && p->device[i] != d) return 0;
    }
    return 1;
}

static int plan(place_plan *p, const model *m, place_device *devs, int nd, place_opts o, latte_err *err) {
    o.kv_bytes_per_layer = o.kv_bytes_per_layer ? o.kv_bytes_per_layer : 1152ull * 8192; /* latent f16, 8k tokens */
    return place_plan_make(p, devs, nd, m->t, m->n, m->n_layer, &o, err);
}

/* parses the printed equivalent flags and plans again: same device for every tensor */
static int flags_roundtrip(const place_plan *p, const model *m, place_device *devs, int nd) {
    char buf[8192], *rules[64];
    place_plan_flags(p, m->t, buf, sizeof buf);
    place_opts o = {.n_gpu_layers = -1};
    if (!strncmp(buf, "-ngl 999", 8)) o.n_gpu_layers = 999;
    else if (strstr(buf, "(none")) o.n_gpu_layers = 0;
    int n = 0;
    for (char *s = strstr(buf, "-ot \""); s && n < 64; s = strstr(s, "-ot \"")) {
        s += 5;
        char *e = strchr(s, '"');
        *e = 0;
        rules[n++] = s;
        s = e + 1;
    }
    if (o.n_gpu_layers < 0) o.n_gpu_layers = 0;
    o.overrides = (const char *const *)rules, o.n_overrides = n;
    place_plan q;
    latte_err err;
    if (plan(&q, m, devs, nd, o, &err)) return printf("  roundtrip: %s\n", err.msg), 0;
    int same = 1;
    for (int i = 0; i < m->n; i++) same &= q.device[i] == p->device[i];
    place_plan_free(&q);
    return same;
}

static void suite(const char *mname, model *m, int n_dense) {
    char name[128], why[512];
    latte_err err;
    place_plan p;
    int L = m->n_layer;
    place_device devs[4] = {cpu_dev(), gpu("CUDA0", 24), gpu("CUDA1", 24)};
    /* no GPU: everything on the CPU, -ngl warns */
    snprintf(name, sizeof name, "%s no GPU", mname);
    int rc = plan(&p, m, devs, 1, (place_opts){.n_gpu_layers = 20}, &err);
    int all_cpu = !rc;
    for (int i = 0; !rc && i < m->n; i++) all_cpu &= p.device[i] == 0;
    check(name, all_cpu && strstr(p.warnings, "-ngl is ignored"), rc ? err.msg : p.warnings);
    if (!rc) place_plan_free(&p);
    /* automatic fit on 24 GiB: all attention/shared on the GPU, experts only in a suffix of layers */
    static const int sizes[] = {24, 80, 1000};
    for (int si = 0; si < 3; si++) {
        int gib = sizes[si];
        devs[1] = gpu("CUDA0", (uint64_t)gib);
        snprintf(name, sizeof name, "%s auto fit %d GiB", mname, gib);
        if ((rc = plan(&p, m, devs, 2, (place_opts){.n_gpu_layers = -1}, &err))) {
            check(name, 0, err.msg);
            continue;
        }
        int ok = p.bytes[1] + GiB <= (uint64_t)gib * GiB, first_gpu_exps = L;
        for (int l = 0; l < L; l++) ok &= layer_on(&p, m, l, 0, 1);
        for (int l = L - 1; l >= n_dense && layer_on(&p, m, l, 1, 1); l--) first_gpu_exps = l;
        for (int l = n_dense; l < first_gpu_exps; l++) ok &= layer_on(&p, m, l, 1, 0);
        ok &= dev_of(&p, m, "token_embd.weight") == 0 && dev_of(&p, m, "output.weight") == 1;
        if (gib == 1000) ok &= first_gpu_exps == n_dense; /* everything fits */
        if (gib == 24) ok &= first_gpu_exps > n_dense;    /* a V3/K2 does not */
        snprintf(why, sizeof why, "GPU %.1f GiB, experts on the GPU from layer %d", p.bytes[1] / (double)GiB, first_gpu_exps);
        check(name, ok, why);
        snprintf(name, sizeof name, "%s auto fit %d GiB flags", mname, gib);
        check(name, flags_roundtrip(&p, m, devs, 2), "the printed flags plan differently");
        place_plan_free(&p);
    }
    devs[1] = gpu("CUDA0", 80);
    /* -ngl 999 -ot exps=CPU: the hybrid recipe */
    const char *ot_exps[] = {"exps=CPU"};
    snprintf(name, sizeof name, "%s -ngl 999 -ot exps=CPU", mname);
    if (!(rc = plan(&p, m, devs, 2, (place_opts){.n_gpu_layers = 999, .overrides = ot_exps, .n_overrides = 1}, &err))) {
        int ok = dev_of(&p, m, "output.weight") == 1 && dev_of(&p, m, "token_embd.weight") == 0;
        for (int l = 0; l < L; l++) ok &= layer_on(&p, m, l, 0, 1) && layer_on(&p, m, l, 1, 0);
        check(name, ok, "attention on CUDA0, experts on the CPU expected");
        snprintf(name, sizeof name, "%s -ngl 999 -ot exps=CPU flags", mname);
        check(name, flags_roundtrip(&p, m, devs, 2), "the printed flags plan differently");
        place_plan_free(&p);
    } else check(name, 0, err.msg);
    /* -ngl 10 on a big GPU: the last 10 layers, output stays on the CPU */
    devs[1] = gpu("CUDA0", 1000);
    snprintf(name, sizeof name, "%s -ngl 10", mname);
    if (!(rc = plan(&p, m, devs, 2, (place_opts){.n_gpu_layers = 10}, &err))) {
        int ok = dev_of(&p, m, "output.weight") == 0;
        for (int l = 0; l < L; l++) ok &= layer_on(&p, m, l, 0, l >= L - 10) && layer_on(&p, m, l, 1, l >= L - 10);
        check(name, ok, "layers 51-60 on CUDA0 expected");
        place_plan_free(&p);
    } else check(name, 0, err.msg);
    /* --n-cpu-moe 50 with -ngl 999 */
    snprintf(name, sizeof name, "%s --n-cpu-moe 50", mname);
    if (!(rc = plan(&p, m, devs, 2, (place_opts){.n_gpu_layers = 999, .n_cpu_moe = 50}, &err))) {
        int ok = 1;
        for (int l = n_dense; l < L; l++) ok &= layer_on(&p, m, l, 1, l >= 50) && layer_on(&p, m, l, 0, 1);
        check(name, ok, "experts of layers < 50 on the CPU expected");
        snprintf(name, sizeof name, "%s --n-cpu-moe 50 flags", mname);
        check(name, flags_roundtrip(&p, m, devs, 2), "the printed flags plan differently");
        place_plan_free(&p);
    } else check(name, 0, err.msg);
    /* first match wins; device names are case-blind; two GPUs */
    devs[1] = gpu("CUDA0", 80), devs[2] = gpu("CUDA1", 80);
    const char *ot2[] = {"blk\\.5\\.=CPU", "blk\\.[0-9]\\.=cuda1", "attn=CUDA0"};
    snprintf(name, sizeof name, "%s first match wins", mname);
    if (!(rc = plan(&p, m, devs, 3, (place_opts){.n_gpu_layers = 0, .overrides = ot2, .n_overrides = 3}, &err))) {
        int ok = layer_on(&p, m, 5, 0, 0) && layer_on(&p, m, 7, 0, 2) && dev_of(&p, m, "blk.20.attn_q_b.weight") == 1 &&
                 dev_of(&p, m, "blk.20.ffn_norm.weight") == 0;
        check(name, ok, "blk.5 on CPU, blk.7 on CUDA1, blk.20 attention on CUDA0 expected");
        place_plan_free(&p);
    } else check(name, 0, err.msg);
    /* a type the GPU cannot multiply stays on the CPU with one warning */
    place_device picky = gpu("CUDA0", 1000);
    picky.types[0] &= ~(1ull << 14);
    place_device d2[2] = {cpu_dev(), picky};
    snprintf(name, sizeof name, "%s unsupported type falls back", mname);
    if (!(rc = plan(&p, m, d2, 2, (place_opts){.n_gpu_layers = 999}, &err))) {
        check(name, dev_of(&p, m, "output.weight") == 0 && strstr(p.warnings, "type id 14") &&
                        dev_of(&p, m, "blk.3.attn_q_b.weight") == 1, p.warnings);
        place_plan_free(&p);
    } else check(name, 0, err.msg);
    /* errors */
    const char *bad_re[] = {"blk[=CUDA0"}, *bad_dev[] = {"exps=CUDA7"}, *bad_form[] = {"exps"};
    struct { const char *what; place_opts o; int nd; const char *want; } errs[] = {
        {"bad regex", {.n_gpu_layers = -1, .overrides = bad_re, .n_overrides = 1}, 2, "bad regex"},
        {"unknown device", {.n_gpu_layers = -1, .overrides = bad_dev, .n_overrides = 1}, 2, "no device named 'CUDA7'"},
        {"no =DEVICE", {.n_gpu_layers = -1, .overrides = bad_form, .n_overrides = 1}, 2, "expected REGEX=DEVICE"},
        {"-mg past the GPUs", {.n_gpu_layers = -1, .main_gpu = 1}, 2, "-mg 1"},
        {"GPU too small", {.n_gpu_layers = 999}, 2, "use fewer -ngl"},
    };
    devs[1] = gpu("CUDA0", 24);
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
        snprintf(name, sizeof name, "%s error %s", mname, errs[i].what);
        err.msg[0] = 0;
        rc = plan(&p, m, devs, errs[i].nd, errs[i].o, &err);
        if (!rc) place_plan_free(&p);
        snprintf(why, sizeof why, "rc %d: %.480s", rc, err.msg);
        check(name, rc != 0 && strstr(err.msg, errs[i].want) && !strchr(err.msg, '\n'), why);
    }
}

int main(void) {
    static model m;
    make_ds(&m, 61, 3, 256, 128, 7168, 18432, 2048, 129280); /* DeepSeek-V3 */
    suite("deepseek-v3", &m, 3);
    make_ds(&m, 61, 1, 384, 64, 7168, 18432, 2048, 163840); /* Kimi-K2 */
    suite("kimi-k2", &m, 1);
    return n_fail ? 1 : 0;
}
