/* vocab.c: loads a GPT-2 style (byte-level BPE) vocabulary from tokenizer.ggml.* keys
 * into a tok_vocab that owns copies of every token text, a text -> id hash table, the
 * merge table ((left, right) -> rank, merged id), special-token lists and ids, and the
 * compiled pre-tokenizer. Every count and id read from the file is range-checked here;
 * after load the vocab is read-only. Also the per-token accessors. */
#include <stdlib.h>
#include <string.h>

#include "base/checked.h"
#include "tok_internal.h"

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static uint64_t table_size(uint64_t n) {
    uint64_t s = 16;
    while (s < 2 * n) s *= 2;
    return s;
}

int32_t tok_vocab_find(const tok_vocab *v, const char *text, size_t len) {
    for (uint64_t i = hash_bytes(text, len) & v->tok_mask;; i = (i + 1) & v->tok_mask) {
        int32_t id = v->tok_slots[i];
        if (id < 0) return -1;
        if (v->text_len[id] == len && !memcmp(v->arena + v->text_off[id], text, len)) return id;
    }
}

bool tok_merge_find(const tok_vocab *v, int32_t left, int32_t right, int32_t *rank, int32_t *id) {
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint64_t i = hash_pair(key) & v->merge_mask;; i = (i + 1) & v->merge_mask) {
        const tok_merge *m = &v->merges[i];
        if (m->key == UINT64_MAX) return false;
        if (m->key == key) {
            *rank = m->rank;
            *id = m->id;
            return true;
        }
    }
}

/* Copies the token texts into one arena and builds the text -> id table (later
 * duplicates win, as in llama.cpp). */
static int load_tokens(tok_vocab *v, const gguf_kv *kv, latte_err *err) {
    if (kv->arr_n == 0 || kv->arr_n > INT32_MAX - 1)
        return err_set(err, LATTE_E_FORMAT, "tokenizer.ggml.tokens has %llu entries (need 1..%d)",
                       (unsigned long long)kv->arr_n, INT32_MAX - 1);
    v->n_vocab = (int32_t)kv->arr_n;
    uint64_t total = 0;
    for (uint64_t i = 0; i < kv->arr_n; i++)
        if (!ck_add_u64(total, kv->arr_strs[i].len + 1, &total) || total > UINT32_MAX)
            return err_set(err, LATTE_E_FORMAT, "tokenizer.ggml.tokens texts exceed 4 GiB");
    uint64_t slots = table_size(kv->arr_n);
    v->arena = malloc(total);
    v->text_off = malloc(kv->arr_n * sizeof *v->text_off);
    v->text_len = malloc(kv->arr_n * sizeof *v->text_len);
    v->type = malloc(kv->arr_n);
    v->eog = calloc(kv->arr_n, 1);
    v->tok_slots = malloc(slots * sizeof *v->tok_slots);
    if (!v->arena || !v->text_off || !v->text_len || !v->type || !v->eog || !v->tok_slots)
        return err_set(err, LATTE_E_NOMEM, "out of memory for %d tokens", v->n_vocab);
    memset(v->tok_slots, 0xff, slots * sizeof *v->tok_slots);
    v->tok_mask = slots - 1;
    uint32_t off = 0;
    for (int32_t id = 0; id < v->n_vocab; id++) {
        gguf_str s = kv->arr_strs[id];
        memcpy(v->arena + off, s.ptr, s.len);
        v->arena[off + s.len] = '\0';
        v->text_off[id] = off;
        v->text_len[id] = (uint32_t)s.len;
        v->type[id] = TOK_TYPE_NORMAL;
        off += (uint32_t)s.len + 1;
        uint64_t i = hash_bytes(s.ptr, s.len) & v->tok_mask;
        for (;; i = (i + 1) & v->tok_mask) {
            int32_t o = v->tok_slots[i];
            if (o < 0 || (v->text_len[o] == s.len && !memcmp(v->arena + v->text_off[o], s.ptr, s.len)))
                break;
        }
        v->tok_slots[i] = id;
    }
    return 0;
}

static int load_types(tok_vocab *v, const gguf_file *gf, latte_err *err) {
    const gguf_kv *kv = gguf_find_kv(gf, "tokenizer.ggml.token_type");
    if (!kv) return 0; /* all normal */
    if (kv->type != GGUF_TYPE_ARRAY || kv->arr_type != GGUF_TYPE_INT32 || kv->arr_n != (uint64_t)v->n_vocab)
        return err_set(err, LATTE_E_FORMAT,
                       "tokenizer.ggml.token_type must be %d int32 values", v->n_vocab);
    for (int32_t id = 0; id < v->n_vocab; id++) {
        int32_t t = gguf_arr_i32(kv, (uint64_t)id);
        v->type[id] = (uint8_t)(t >= TOK_TYPE_NORMAL && t <= TOK_TYPE_BYTE ? t : TOK_TYPE_NORMAL);
    }
    return 0;
}

/* Merges are "LEFT RIGHT" strings, rank = position. Merges naming texts that are not in
 * the vocabulary can never fire and are skipped. */
static int load_merges(tok_vocab *v, const gguf_file *gf, latte_err *err) {
    const gguf_kv *kv;
    int rc = gguf_get_arr(gf, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &kv, err);
    if (rc) return rc;
    if (kv->arr_n > INT32_MAX)
        return err_set(err, LATTE_E_FORMAT, "tokenizer.ggml.merges has %llu entries",
                       (unsigned long long)kv->arr_n);
    uint64_t slots = table_size(kv->arr_n);
    v->merges = malloc(slots * sizeof *v->merges);
    char *buf = malloc(1);
    size_t buf_cap = 1;
    if (!v->merges || !buf) {
        free(buf);
        return err_set(err, LATTE_E_NOMEM, "out of memory for %llu merges", (unsigned long long)kv->arr_n);
    }
    for (uint64_t i = 0; i < slots; i++) v->merges[i].key = UINT64_MAX;
    v->merge_mask = slots - 1;
    for (uint64_t r = 0; r < kv->arr_n; r++) {
        gguf_str s = kv->arr_strs[r];
        const char *sp = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sp) continue;
        size_t ll = (size_t)(sp - s.ptr), rl = s.len - ll - 1;
        int32_t l = tok_vocab_find(v, s.ptr, ll), rr = tok_vocab_find(v, sp + 1, rl);
        if (ll + rl > buf_cap) {
            char *nb = realloc(buf, ll + rl);
            if (!nb) { free(buf); return err_set(err, LATTE_E_NOMEM, "out of memory"); }
            buf = nb;
            buf_cap = ll + rl;
        }
        memcpy(buf, s.ptr, ll);
        memcpy(buf + ll, sp + 1, rl);
        int32_t m = tok_vocab_find(v, buf, ll + rl);
        if (l < 0 || rr < 0 || m < 0) continue;
        uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)rr;
        uint64_t i = hash_pair(key) & v->merge_mask;
        while (v->merges[i].key != UINT64_MAX && v->merges[i].key != key) i = (i + 1) & v->merge_mask;
        if (v->merges[i].key == key) continue; /* first (lowest) rank wins */
        v->merges[i] = (tok_merge){key, (int32_t)r, m};
    }
    free(buf);
    return 0;
}

/* An optional token id key; absent or out of range gives -1. */
static int32_t opt_id(const tok_vocab *v, const gguf_file *gf, const char *key) {
    int32_t id;
    if (!gguf_find_kv(gf, key) || gguf_get_i32(gf, key, &id, NULL) || id < 0 || id >= v->n_vocab)
        return -1;
    return id;
}

static int cmp_len_desc(const void *a, const void *b, void *ctx) {
    const tok_vocab *v = ctx;
    uint32_t la = v->text_len[*(const int32_t *)a], lb = v->text_len[*(const int32_t *)b];
    if (la != lb) return la > lb ? -1 : 1;
    return *(const int32_t *)a - *(const int32_t *)b;
}

static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>", "<｜end▁of▁sentence｜>", "<｜EOT｜>",
};

static bool is_special_type(uint8_t t) {
    return t == TOK_TYPE_CONTROL || t == TOK_TYPE_USER_DEFINED || t == TOK_TYPE_UNKNOWN;
}

static int load_specials(tok_vocab *v, const gguf_file *gf, latte_err *err) {
    v->bos = opt_id(v, gf, "tokenizer.ggml.bos_token_id");
    v->eos = opt_id(v, gf, "tokenizer.ggml.eos_token_id");
    v->eot = opt_id(v, gf, "tokenizer.ggml.eot_token_id");
    v->eom = opt_id(v, gf, "tokenizer.ggml.eom_token_id");
    v->pad = opt_id(v, gf, "tokenizer.ggml.padding_token_id");
    v->add_bos = false;
    int rc;
    if (gguf_find_kv(gf, "tokenizer.ggml.add_bos_token") &&
        (rc = gguf_get_bool(gf, "tokenizer.ggml.add_bos_token", &v->add_bos, err)))
        return rc;
    if (v->bos < 0) v->add_bos = false;
    /* the tokens matched whole in text (llama.cpp's list): control, user-defined, unknown */
    size_t n = 0;
    for (int32_t id = 0; id < v->n_vocab; id++)
        n += is_special_type(v->type[id]) && v->text_len[id];
    v->special = malloc((n ? n : 1) * sizeof *v->special);
    if (!v->special) return err_set(err, LATTE_E_NOMEM, "out of memory");
    for (int32_t id = 0; id < v->n_vocab; id++) {
        if (is_special_type(v->type[id]) && v->text_len[id]) v->special[v->n_special++] = id;
        if (v->type[id] != TOK_TYPE_CONTROL) continue;
        for (size_t k = 0; k < sizeof EOG_TEXTS / sizeof EOG_TEXTS[0]; k++)
            if (!strcmp(v->arena + v->text_off[id], EOG_TEXTS[k])) v->eog[id] = 1;
    }
    qsort_r(v->special, v->n_special, sizeof *v->special, cmp_len_desc, v);
    if (v->eos >= 0) v->eog[v->eos] = 1;
    if (v->eot >= 0) v->eog[v->eot] = 1;
    if (v->eom >= 0) v->eog[v->eom] = 1;
    return 0;
}

int tok_vocab_load(tok_vocab **out, const gguf_file *gf, latte_err *err) {
    *out = NULL;
    gguf_str model, pre = {"default", 7};
    const gguf_kv *toks;
    int rc = gguf_get_str(gf, "tokenizer.ggml.model", &model, err);
    if (rc) return rc;
    if (!gguf_str_eq(model, "gpt2"))
        return err_set(err, LATTE_E_UNSUPPORTED, "tokenizer.ggml.model '%.*s' is not supported (only gpt2)",
                       (int)(model.len > 64 ? 64 : model.len), model.ptr);
    if (gguf_find_kv(gf, "tokenizer.ggml.pre") && (rc = gguf_get_str(gf, "tokenizer.ggml.pre", &pre, err)))
        return rc;
    if ((rc = gguf_get_arr(gf, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &toks, err))) return rc;
    tok_vocab *v = calloc(1, sizeof *v);
    if (!v) return err_set(err, LATTE_E_NOMEM, "out of memory");
    if ((rc = tok_pretok_init(&v->pre, pre.ptr, pre.len, err)) || (rc = load_tokens(v, toks, err)) ||
        (rc = load_types(v, gf, err)) || (rc = load_merges(v, gf, err)) ||
        (rc = load_specials(v, gf, err))) {
        tok_vocab_free(v);
        return rc;
    }
    v->ignore_merges = tok_pretok_ignore_merges(v->pre);
    for (int b = 0; b < 256; b++) {
        char u[4];
        int n = tok_utf8_encode(tok_byte_to_cp((uint8_t)b), u);
        v->byte_token[b] = tok_vocab_find(v, u, (size_t)n);
    }
    *out = v;
    return 0;
}

void tok_vocab_free(tok_vocab *v) {
    if (!v) return;
    tok_pretok_free(v->pre);
    free(v->arena);
    free(v->text_off);
    free(v->text_len);
    free(v->type);
    free(v->eog);
    free(v->tok_slots);
    free(v->merges);
    free(v->special);
    free(v);
}

static bool id_ok(const tok_vocab *v, int32_t id) { return v && id >= 0 && id < v->n_vocab; }

const char *tok_token_text(const tok_vocab *v, int32_t id) {
    return id_ok(v, id) ? v->arena + v->text_off[id] : NULL;
}

int tok_token_bytes(const tok_vocab *v, int32_t id, char *buf, size_t cap) {
    if (!id_ok(v, id)) return -1;
    const char *t = v->arena + v->text_off[id];
    size_t len = v->text_len[id], n = 0;
    bool raw = v->type[id] == TOK_TYPE_CONTROL || v->type[id] == TOK_TYPE_USER_DEFINED;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int k = raw ? 0 : tok_utf8_decode(t + i, len - i, &cp);
        int b = k > 0 ? tok_cp_to_byte(cp) : -1;
        if (b >= 0) { /* a byte-level symbol */
            if (n < cap) buf[n] = (char)b;
            n++;
            i += (size_t)k;
        } else { /* raw text, or a character outside the byte map: copy it as is */
            size_t step = raw ? len - i : (k > 0 ? (size_t)k : 1);
            for (size_t j = 0; j < step; j++, n++)
                if (n < cap) buf[n] = t[i + j];
            i += step;
        }
    }
    return (int)n;
}

int32_t tok_n_vocab(const tok_vocab *v) { return v->n_vocab; }
int32_t tok_bos(const tok_vocab *v) { return v->bos; }
int32_t tok_eos(const tok_vocab *v) { return v->eos; }
int32_t tok_eot(const tok_vocab *v) { return v->eot; }
bool tok_add_bos(const tok_vocab *v) { return v->add_bos; }
const char *tok_pre_name(const tok_vocab *v) { return tok_pretok_name(v->pre); }
bool tok_is_eog(const tok_vocab *v, int32_t id) { return id_ok(v, id) && v->eog[id]; }
bool tok_is_control(const tok_vocab *v, int32_t id) {
    return id_ok(v, id) && v->type[id] == TOK_TYPE_CONTROL;
}
int tok_token_type(const tok_vocab *v, int32_t id) { return id_ok(v, id) ? v->type[id] : -1; }
