/* test_seq_state.c: saving one sequence's cache and loading it elsewhere (latte_seq_state_*),
 * on the fixture models: ds3-tiny in MLA modes 1 (latent + transposed copy) and 3 (latent
 * only, also with a q8_0 cache) and 0 (per-head K/V), qwen2-tiny standard attention.
 * A prompt is decoded in sequence 0 and saved; the blob is loaded into sequence 1 of the same
 * context and into sequence 0 of a fresh one. Decoding the same next token alone (a one-row
 * batch, so the same kernels run) must then give bit-identical logits in all three places,
 * and the token ids must come back. Refused, each with its own code, the target sequence
 * left as it was: a truncated blob, a damaged one, one from another MLA mode, cache type or
 * model, and one longer than the target's sequences. About a second in all.
 * LATTE_TEST_NGL=N puts N layers (weights and KV cache) on the GPU of a CUDA build, so the
 * copies go through that backend (tests/gpu runs it so). */
#include <latte.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_fail;

#define NP 10 /* prompt tokens */

typedef struct cfg {
    const char *model;
    int mla, type;        /* the setup saved from */
    int other_mla, other_type; /* a setup whose load must be refused (mla -2: none) */
} cfg;

static latte_model *load(const char *fix, const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.gguf", fix, name);
    latte_model_params mp = {.path = path, .mla = -1};
    const char *ngl = getenv("LATTE_TEST_NGL");
    if (ngl) mp.place.n_gpu_layers = atoi(ngl);
    latte_model *m = NULL;
    latte_err err = {0};
    if (latte_model_load(&m, &mp, &err)) printf("SKIP seq_state.%s: %s\n", name, err.msg);
    return m;
}

static latte_ctx *make_ctx(latte_model *m, int mla, int type, int n_seq, int n_ctx_seq, latte_err *err) {
    latte_ctx_params p = latte_ctx_default_params();
    p.n_ctx = n_ctx_seq * n_seq, p.n_seq = n_seq, p.n_ubatch = 16, p.n_batch = 64, p.n_threads = 1;
    p.mla = mla, p.type_k = type, p.type_v = type;
    latte_ctx *c = NULL;
    return latte_ctx_init(&c, m, &p, err) ? NULL : c;
}

/* Decodes tok at the end of seq as a one-row batch; copies its logits to out. */
static int step(latte_ctx *c, int seq, int32_t tok, float *out, int V, latte_err *err) {
    latte_batch b;
    if (latte_batch_init(&b, 1, err)) return -1;
    latte_batch_add(&b, tok, latte_seq_len(c, seq), seq, true);
    int rc = latte_decode_batch(c, &b, err);
    latte_batch_free(&b);
    if (!rc) memcpy(out, latte_ctx_logits_ith(c, 0), sizeof *out * (size_t)V);
    return rc;
}

/* Loading buf (n bytes) into seq of c must fail with code want and leave seq's length. */
static const char *refused(latte_ctx *c, int seq, const void *buf, size_t n, int want, const char *what, char *why,
                           size_t cap) {
    latte_err err = {0};
    int before = latte_seq_len(c, seq);
    int rc = latte_seq_state_load(c, seq, buf, n, NULL, NULL, &err);
    if (rc != want || latte_seq_len(c, seq) != before || !err.msg[0]) {
        snprintf(why, cap, "%s: code %d (want %d), length %d -> %d: %s", what, rc, want, before, latte_seq_len(c, seq),
                 err.msg);
        return why;
    }
    return NULL;
}

static const char *run_cfg(latte_model *m, latte_model *other_model, const cfg *k, char *why, size_t cap) {
    latte_err err = {0};
    int V = latte_model_n_vocab(m);
    int32_t toks[NP + 1], back[64];
    uint32_t x = 777u;
    for (int i = 0; i <= NP; i++) x = x * 1664525u + 1013904223u, toks[i] = (int32_t)((x >> 8) % (uint32_t)V);
    float *l0 = malloc(sizeof(float) * 3 * (size_t)V), *l1 = l0 + V, *l2 = l1 + V;
    latte_ctx *a = make_ctx(m, k->mla, k->type, 2, 32, &err), *f = NULL, *o = NULL;
    void *blob = NULL;
    const char *fail = NULL;
    latte_batch b = {0};
    if (!a || latte_batch_init(&b, NP, &err)) { fail = "context"; goto out; }
    for (int i = 0; i < NP; i++) latte_batch_add(&b, toks[i], i, 0, false);
    if (latte_decode_batch(a, &b, &err)) { fail = "prompt"; goto out; }
    size_t size = latte_seq_state_size(a, 0), written = 0;
    if (!(blob = malloc(size))) { fail = "out of memory"; goto out; }
    if (latte_seq_state_save(a, 0, toks, blob, size - 1, &written, &err) != LATTE_E_ARG) { fail = "small buffer accepted"; goto out; }
    err.msg[0] = 0;
    if (latte_seq_state_save(a, 0, toks, blob, size, &written, &err) || written != size) { fail = "save"; goto out; }
    /* into sequence 1 of the same context */
    int n_back = 0;
    if (latte_seq_state_load(a, 1, blob, size, back, &n_back, &err) || n_back != NP || latte_seq_len(a, 1) != NP ||
        memcmp(back, toks, sizeof *toks * NP)) { fail = "load into seq 1"; goto out; }
    if (step(a, 0, toks[NP], l0, V, &err) || step(a, 1, toks[NP], l1, V, &err)) { fail = "next token"; goto out; }
    if (memcmp(l0, l1, sizeof *l0 * (size_t)V)) { fail = "seq 1 logits differ from seq 0's"; goto out; }
    /* into a fresh context (one sequence, another size) */
    if (!(f = make_ctx(m, k->mla, k->type, 1, 24, &err))) { fail = "fresh context"; goto out; }
    if (latte_seq_state_load(f, 0, blob, size, NULL, NULL, &err) || latte_seq_len(f, 0) != NP) { fail = "load fresh"; goto out; }
    if (step(f, 0, toks[NP], l2, V, &err)) { fail = "next token (fresh)"; goto out; }
    if (memcmp(l0, l2, sizeof *l0 * (size_t)V)) { fail = "fresh context's logits differ from seq 0's"; goto out; }
    /* refusals: a's sequence 1 now holds NP + 1 positions and must keep them */
    if ((fail = refused(a, 1, blob, size - 1, LATTE_E_FORMAT, "truncated by one byte", why, cap)) ||
        (fail = refused(a, 1, blob, 20, LATTE_E_FORMAT, "truncated inside the header", why, cap)) ||
        (fail = refused(a, 1, blob, 0, LATTE_E_FORMAT, "empty", why, cap)))
        goto out;
    ((unsigned char *)blob)[size - 3] ^= 0x10;
    fail = refused(a, 1, blob, size, LATTE_E_FORMAT, "damaged", why, cap);
    ((unsigned char *)blob)[size - 3] ^= 0x10;
    if (fail) goto out;
    latte_ctx *s = make_ctx(m, k->mla, k->type, 1, NP - 1, &err);
    if (!s) { fail = "short context"; goto out; }
    fail = refused(s, 0, blob, size, LATTE_E_CTX, "longer than the sequence", why, cap);
    latte_ctx_free(s);
    if (fail) goto out;
    if (!(o = make_ctx(m, k->other_mla, k->other_type, 1, 32, &err))) { fail = "other setup's context"; goto out; }
    if ((fail = refused(o, 0, blob, size, LATTE_E_ARG, "another MLA mode or cache type", why, cap))) goto out;
    latte_ctx_free(o);
    o = NULL;
    if (other_model) {
        if (!(o = make_ctx(other_model, -1, 1, 1, 32, &err))) { fail = "other model's context"; goto out; }
        if ((fail = refused(o, 0, blob, size, LATTE_E_ARG, "another model", why, cap))) goto out;
    }
out:
    if (fail && fail != why) snprintf(why, cap, "%s: %s", fail, err.msg), fail = why;
    latte_batch_free(&b);
    free(blob);
    free(l0);
    latte_ctx_free(a);
    latte_ctx_free(f);
    latte_ctx_free(o);
    return fail;
}

int main(void) {
    const char *fix = getenv("LATTE_FIXTURES");
    char dir[1024];
    if (!fix) {
        const char *root = getenv("LATTE_ROOT");
        snprintf(dir, sizeof dir, "%s/../shared/fixtures", root ? root : ".");
        fix = dir;
    }
    /* ggml type ids: 0 f32, 1 f16, 8 q8_0 */
    static const cfg cfgs[] = {
        {"ds3-tiny", 1, 1, 3, 1},   {"ds3-tiny", 3, 1, 1, 1}, {"ds3-tiny", 3, 8, 3, 1},
        {"ds3-tiny", 0, 1, 0, 0},   {"qwen2-tiny", -1, 1, -1, 0},
    };
    latte_model *ds3 = load(fix, "ds3-tiny"), *qwen = load(fix, "qwen2-tiny");
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        const cfg *k = &cfgs[i];
        bool is_ds3 = !strcmp(k->model, "ds3-tiny");
        latte_model *m = is_ds3 ? ds3 : qwen, *other = is_ds3 ? qwen : ds3;
        if (!m) continue;
        char name[128], why[800];
        snprintf(name, sizeof name, "seq_state.%s mla%d type%d", k->model, k->mla, k->type);
        const char *f = run_cfg(m, other, k, why, sizeof why);
        if (f) printf("FAIL %s: %s\n", name, f), n_fail++;
        else printf("PASS %s\n", name);
    }
    latte_model_free(ds3);
    latte_model_free(qwen);
    return n_fail ? 1 : 0;
}
