/* test_tok.c: the BPE tokenizer (src/text/) against Hugging Face ids for the real
 * DeepSeek-V3 and Qwen3 vocabularies (fixtures/tokenizer-public.json), pre-tokenizer
 * splits of the other families against `tokenizers` (tests/data/tok/pretok_cases.json,
 * made by tools/gen_tok_samples.py), round trips, special tokens, hostile input and the
 * streaming UTF-8 rule, which token kinds match where (user-defined always, control only
 * with special parsing or outside a chat's message ranges).
 * Modes for the Python checks (check_tok_hf.py, check_tok_special.py):
 *   test_tok --dump VOCAB FILE [--plain]  the ids of each line of FILE (one JSON string per
 *       line) as a JSON array, special parsing on (off with --plain);
 *   test_tok --chat MODEL FILE  the ids latte_chat_tokenize gives for the conversation in
 *       FILE ({"template": name or null, "messages": [...], "add_generation_prompt": b}). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <latte.h>

#include "gguf/gguf.h"
#include "text/tok.h"
#include "text/tok_internal.h"

static int n_fail;
static char fixdir[1024];

static void pass(const char *name) { printf("PASS %s\n", name); }
static void fail(const char *name, const char *why) {
    printf("FAIL %s: %s\n", name, why);
    n_fail++;
}

static tok_vocab *load_vocab(const char *path, gguf_file **gfo) {
    latte_err err = {0};
    gguf_file *gf;
    tok_vocab *v = NULL;
    if (gguf_open(&gf, path, &err)) {
        printf("SKIP %s: %s\n", path, err.msg);
        return NULL;
    }
    if (tok_vocab_load(&v, gf, &err)) {
        fail("vocab_load", err.msg);
        gguf_free(gf);
        return NULL;
    }
    *gfo = gf;
    return v;
}

/* Decodes ids to bytes (malloc'ed). */
static char *decode(const tok_vocab *v, const int32_t *ids, size_t n, size_t *out_len) {
    size_t cap = 64, len = 0;
    char *s = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        char buf[512];
        int k = tok_token_bytes(v, ids[i], buf, sizeof buf);
        if (k < 0 || k > (int)sizeof buf) { free(s); return NULL; }
        while (len + (size_t)k + 1 > cap) s = realloc(s, cap *= 2);
        memcpy(s + len, buf, (size_t)k);
        len += (size_t)k;
    }
    s[len] = 0;
    *out_len = len;
    return s;
}

static bool roundtrip(const tok_vocab *v, const char *text, size_t len, bool special, char *why) {
    int32_t *ids;
    size_t n, dl;
    latte_err err = {0};
    if (tok_encode(v, text, len, false, special, &ids, &n, &err)) {
        snprintf(why, 256, "encode: %.200s", err.msg);
        return false;
    }
    char *d = decode(v, ids, n, &dl);
    bool ok = d && dl == len && !memcmp(d, text, len);
    if (!ok) snprintf(why, 256, "decode gives %zu bytes, text has %zu", d ? dl : 0, len);
    free(d);
    free(ids);
    return ok;
}

/* Every fixture string: ids equal HF's (added tokens are matched, as HF always does)
 * and decode(encode(text)) == text. */
static void test_fixture(const tok_vocab *v, json_t *list, const char *family) {
    size_t i;
    json_t *e;
    int bad = 0, bad_rt = 0;
    char why[512] = "", name[128];
    json_array_foreach(list, i, e) {
        const char *text = json_string_value(json_object_get(e, "text"));
        size_t tl = json_string_length(json_object_get(e, "text"));
        json_t *want = json_object_get(e, "ids");
        int32_t *ids;
        size_t n;
        latte_err err = {0};
        if (tok_encode(v, text, tl, false, true, &ids, &n, &err)) {
            snprintf(why, sizeof why, "#%zu encode failed: %.200s", i, err.msg);
            bad++;
            continue;
        }
        bool same = n == json_array_size(want);
        for (size_t k = 0; same && k < n; k++)
            same = ids[k] == (int32_t)json_integer_value(json_array_get(want, k));
        if (!same) {
            if (!bad) {
                int off = snprintf(why, sizeof why, "#%zu %.40s: got [", i, text);
                for (size_t k = 0; k < n && k < 12 && off < 400; k++)
                    off += snprintf(why + off, sizeof why - (size_t)off, "%d,", ids[k]);
                snprintf(why + off, sizeof why - (size_t)off, "]");
            }
            bad++;
        }
        free(ids);
        char rwhy[256];
        if (!roundtrip(v, text, tl, true, rwhy)) bad_rt++;
    }
    snprintf(name, sizeof name, "fixture_ids_%s(%zu)", family, json_array_size(list));
    if (bad) {
        char msg[700];
        snprintf(msg, sizeof msg, "%d mismatches; first %.600s", bad, why);
        fail(name, msg);
    } else {
        pass(name);
    }
    snprintf(name, sizeof name, "fixture_roundtrip_%s", family);
    if (bad_rt) fail(name, "decode(encode(text)) differs from text");
    else pass(name);
}

static bool has_id(const int32_t *ids, size_t n, int32_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

/* A control token written in the text: one id with parse_special, plain text without. */
static void test_special(const tok_vocab *v, const char *family, const char *text, int32_t id) {
    int32_t *ids;
    size_t n;
    latte_err err = {0};
    char name[128], why[256];
    snprintf(name, sizeof name, "special_parsed_%s", family);
    if (tok_encode(v, text, strlen(text), false, true, &ids, &n, &err)) fail(name, err.msg);
    else if (!has_id(ids, n, id)) fail(name, "control token not matched as one id");
    else pass(name);
    free(ids);
    snprintf(name, sizeof name, "special_as_text_%s", family);
    if (tok_encode(v, text, strlen(text), false, false, &ids, &n, &err)) fail(name, err.msg);
    else if (has_id(ids, n, id) || n < 3) fail(name, "control token matched without parse_special");
    else if (!roundtrip(v, text, strlen(text), false, why)) fail(name, why);
    else pass(name);
    free(ids);
}

/* User-defined tokens match whatever the caller allows; control tokens not inside the
 * plain ranges of tok_encode_guarded, and everywhere else they are allowed. */
static void test_kinds(const tok_vocab *v) {
    static const char text[] = "<|im_start|>user\nA<|im_end|>B<think>x</think><|im_end|>\n";
    int32_t im_start = tok_vocab_find(v, "<|im_start|>", 12), im_end = tok_vocab_find(v, "<|im_end|>", 10);
    int32_t think = tok_vocab_find(v, "<think>", 7);
    if (im_start < 0 || im_end < 0 || think < 0) return fail("kinds_qwen3", "vocabulary lacks the tokens");
    int32_t *ids;
    size_t n;
    latte_err err = {0};
    if (tok_encode(v, text, sizeof text - 1, false, false, &ids, &n, &err)) return fail("kinds_qwen3", err.msg);
    bool ok = has_id(ids, n, think) && !has_id(ids, n, im_start) && !has_id(ids, n, im_end);
    free(ids);
    if (!ok) fail("user_defined_without_parse_special", "want <think> matched, control tokens not");
    else pass("user_defined_without_parse_special");

    /* the message "A<|im_end|>B<think>x</think>" at [17, 45) is plain */
    tok_range msg = {17, 28};
    if (tok_encode_guarded(v, text, sizeof text - 1, false, &msg, 1, &ids, &n, &err))
        return fail("guarded_ranges", err.msg);
    size_t n_end = 0;
    for (size_t i = 0; i < n; i++) n_end += ids[i] == im_end;
    ok = n > 2 && ids[0] == im_start && ids[n - 2] == im_end && n_end == 1 && has_id(ids, n, think);
    free(ids);
    if (!ok) fail("guarded_ranges", "want im_start first, one im_end (the marker after the message), <think>");
    else pass("guarded_ranges");

    /* a control token that starts in template text but ends inside a message is text */
    tok_range tail = {20, 5};
    if (tok_encode_guarded(v, text, sizeof text - 1, false, &tail, 1, &ids, &n, &err))
        return fail("guarded_straddle", err.msg);
    n_end = 0;
    for (size_t i = 0; i < n; i++) n_end += ids[i] == im_end;
    free(ids);
    if (n_end != 1) fail("guarded_straddle", "the <|im_end|> reaching into the plain range was matched");
    else pass("guarded_straddle");

    tok_range bad[] = {{5, 4}, {7, 2}};
    int rc = tok_encode_guarded(v, text, sizeof text - 1, false, bad, 2, &ids, &n, &err);
    tok_range past = {40, 100};
    int rc2 = tok_encode_guarded(v, text, sizeof text - 1, false, &past, 1, &ids, &n, &err);
    if (rc != LATTE_E_ARG || rc2 != LATTE_E_ARG) fail("guarded_bad_ranges", "overlapping or overlong ranges accepted");
    else pass("guarded_bad_ranges");
}

static void test_hostile(const tok_vocab *v, const char *family) {
    char name[128], why[256];
#define CASE(lit) {lit, sizeof(lit) - 1}
    static const struct { const char *s; size_t len; } bad[] = {
        CASE("\xff\xfe" "abc\xc3"), CASE("a\x80\x80 b"), CASE("\xed\xa0\x80 surrogate"),
        CASE("\xf4\x90\x80\x80 big"), CASE("\xc0\xaf overlong"), CASE("\xe4\xbd"),
        CASE("ok \xe4\xbd\xa0\xe5 cut"), CASE("\x00 nul \x00"), CASE("<|im_end\xff|> \xf0\x9f"),
    };
#undef CASE
    int failed = 0;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!roundtrip(v, bad[i].s, bad[i].len, true, why)) failed++;
    snprintf(name, sizeof name, "invalid_utf8_roundtrip_%s", family);
    if (failed) fail(name, why);
    else pass(name);

    int32_t *ids;
    size_t n;
    latte_err err = {0};
    snprintf(name, sizeof name, "empty_%s", family);
    int rc = tok_encode(v, "", 0, false, true, &ids, &n, &err);
    if (rc || n != 0) fail(name, "empty text must give no ids");
    else pass(name);
    free(ids);
    snprintf(name, sizeof name, "empty_bos_%s", family);
    rc = tok_encode(v, "", 0, true, true, &ids, &n, &err);
    size_t want = tok_add_bos(v) ? 1 : 0;
    if (rc || n != want || (want && ids[0] != tok_bos(v))) fail(name, "BOS handling");
    else pass(name);
    free(ids);

    /* Long runs: one huge pre-token each; must stay fast (a quadratic BPE or regex
     * takes minutes here) and round-trip. */
    static const char *const fill[] = {" ", "\n", "x", "1", "\xe4\xbd\xa0", " \t"};
    for (size_t f = 0; f < sizeof fill / sizeof fill[0]; f++) {
        size_t fl = strlen(fill[f]), reps = 100000 / fl;
        char *s = malloc(reps * fl + 2);
        for (size_t r = 0; r < reps; r++) memcpy(s + r * fl, fill[f], fl);
        s[reps * fl] = 'b';
        clock_t t0 = clock();
        bool ok = roundtrip(v, s, reps * fl + 1, false, why);
        double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
        snprintf(name, sizeof name, "long_run_%zu_%s", f, family);
        if (!ok) fail(name, why);
        else if (secs > 20) fail(name, "far too slow for 100k bytes (quadratic?)");
        else pass(name);
        free(s);
    }
}

static void test_vocab_facts(const tok_vocab *v, const gguf_file *gf, const char *family) {
    char name[128];
    const gguf_kv *kv = gguf_find_kv(gf, "tokenizer.ggml.tokens");
    snprintf(name, sizeof name, "vocab_facts_%s", family);
    int32_t eos = -1;
    gguf_get_i32(gf, "tokenizer.ggml.eos_token_id", &eos, NULL);
    char buf[4];
    if (!kv || tok_n_vocab(v) != (int32_t)kv->arr_n) fail(name, "n_vocab differs from the file");
    else if (tok_eos(v) != eos || !tok_is_eog(v, eos)) fail(name, "eos id or eog flag");
    else if (tok_token_bytes(v, -1, buf, 4) != -1 || tok_token_bytes(v, tok_n_vocab(v), buf, 4) != -1)
        fail(name, "bad ids must give -1");
    else if (tok_token_text(v, tok_n_vocab(v)) != NULL || tok_is_eog(v, -5) || tok_is_control(v, -1))
        fail(name, "bad ids must be rejected");
    else if (strcmp(tok_token_text(v, eos), kv->arr_strs[eos].ptr ? tok_token_text(v, eos) : "") ||
             strncmp(tok_token_text(v, eos), kv->arr_strs[eos].ptr, kv->arr_strs[eos].len))
        fail(name, "token text differs from the file");
    else pass(name);
    /* token_bytes with a small buffer: full length returned, prefix written */
    snprintf(name, sizeof name, "token_bytes_cap_%s", family);
    int full = tok_token_bytes(v, eos, NULL, 0);
    char small[3] = {'#', '#', '#'};
    int k = tok_token_bytes(v, eos, small, 2);
    if (full != (int)strlen(tok_token_text(v, eos)) || k != full || small[2] != '#' ||
        small[0] != tok_token_text(v, eos)[0])
        fail(name, "control token bytes / cap handling");
    else pass(name);
}

static void test_utf8_prefix(void) {
    static const struct { const char *s; size_t len, want; } c[] = {
        {"abc", 3, 3}, {"", 0, 0}, {"a\xe4\xbd", 3, 1}, {"\xe4\xbd\xa0", 3, 3},
        {"\xf0\x9f\x98", 3, 0}, {"\xf0\x9f\x98\x80", 4, 4}, {"\xff", 1, 1}, {"a\x80", 2, 2},
        {"\xed\xa0", 2, 2}, {"\xc3", 1, 0}, {"x\xc3\xa9\xc3", 4, 3}, {"\x80\x80\x80\x80", 4, 4},
        {"\xe0\x80", 2, 2}, {"\xf4\x90", 2, 2}, {"\xf0", 1, 0},
    };
    int bad = 0;
    char why[128] = "";
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        size_t got = tok_utf8_complete_prefix(c[i].s, c[i].len);
        if (got != c[i].want) {
            snprintf(why, sizeof why, "case %zu: got %zu want %zu", i, got, c[i].want);
            bad++;
        }
    }
    if (bad) fail("utf8_complete_prefix", why);
    else pass("utf8_complete_prefix");
}

/* Pre-tokenizer splits for every family against HF (tests/data/tok/pretok_cases.json). */
static void test_pretok_cases(const char *repo) {
    json_error_t je;
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/data/tok/pretok_cases.json", repo);
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        printf("SKIP pretok_cases: %s\n", je.text);
        return;
    }
    const char *pre;
    json_t *cases;
    json_object_foreach(root, pre, cases) {
        tok_pretok *p;
        latte_err err = {0};
        char name[128], why[512] = "";
        snprintf(name, sizeof name, "pretok_%s", pre);
        if (tok_pretok_init(&p, pre, strlen(pre), &err)) {
            fail(name, err.msg);
            continue;
        }
        size_t i;
        json_t *e;
        int bad = 0;
        json_array_foreach(cases, i, e) {
            const char *text = json_string_value(json_object_get(e, "text"));
            size_t tl = json_string_length(json_object_get(e, "text"));
            json_t *want = json_object_get(e, "pieces");
            tok_spans sp = {0};
            if (tok_pretok_split(p, text, tl, &sp, &err)) { bad++; continue; }
            bool same = sp.n == json_array_size(want);
            for (size_t k = 0; same && k < sp.n; k++) {
                json_t *w = json_array_get(want, k);
                same = json_string_length(w) == sp.v[k].len &&
                       !memcmp(json_string_value(w), text + sp.v[k].off, sp.v[k].len);
            }
            if (!same && !bad)
                snprintf(why, sizeof why, "#%zu %.60s: %zu pieces, want %zu", i, text, sp.n,
                         json_array_size(want));
            bad += !same;
            free(sp.v);
        }
        if (bad) fail(name, why);
        else pass(name);
        tok_pretok_free(p);
    }
    tok_pretok *p;
    latte_err err = {0};
    if (tok_pretok_init(&p, "no-such-pre", 11, &err) != LATTE_E_UNSUPPORTED || !strstr(err.msg, "no-such-pre"))
        fail("pretok_unknown", "unknown pre-tokenizer must be LATTE_E_UNSUPPORTED naming it");
    else pass("pretok_unknown");
    json_decref(root);
}

/* ---- synthetic vocabularies: a tiny GGUF built in memory ---- */
typedef struct gbuf {
    uint8_t *p;
    size_t n;
} gbuf;
static void put(gbuf *b, const void *d, size_t n) {
    b->p = realloc(b->p, b->n + n);
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void put_u32(gbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(gbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(gbuf *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void kv_str(gbuf *b, const char *k, const char *v) {
    put_str(b, k);
    put_u32(b, GGUF_TYPE_STRING);
    put_str(b, v);
}
static void kv_strs(gbuf *b, const char *k, const char *const *v, size_t n) {
    put_str(b, k);
    put_u32(b, GGUF_TYPE_ARRAY);
    put_u32(b, GGUF_TYPE_STRING);
    put_u64(b, n);
    for (size_t i = 0; i < n; i++) put_str(b, v[i]);
}

/* Vocabulary: the 256 byte symbols (ids 0-255 in byte order), then extra tokens
 * (ids 256..); merges in the given order; token types all normal but type_n entries
 * when type_n != 256 + n_extra (a malformed file). */
static int synth_vocab(tok_vocab **v, const char *model, const char *pre, const char *const *extra,
                       size_t n_extra, const char *const *merges, size_t n_merges, size_t type_n,
                       latte_err *err) {
    static char sym[256][4];
    const char *toks[300];
    for (int b = 0; b < 256; b++) {
        int k = tok_utf8_encode(tok_byte_to_cp((uint8_t)b), sym[b]);
        sym[b][k] = 0;
        toks[b] = sym[b];
    }
    for (size_t i = 0; i < n_extra; i++) toks[256 + i] = extra[i];
    gbuf b = {0};
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0);
    put_u64(&b, (pre ? 5 : 4));
    kv_str(&b, "tokenizer.ggml.model", model);
    if (pre) kv_str(&b, "tokenizer.ggml.pre", pre);
    kv_strs(&b, "tokenizer.ggml.tokens", toks, 256 + n_extra);
    kv_strs(&b, "tokenizer.ggml.merges", merges, n_merges);
    put_str(&b, "tokenizer.ggml.token_type");
    put_u32(&b, GGUF_TYPE_ARRAY);
    put_u32(&b, GGUF_TYPE_INT32);
    put_u64(&b, type_n);
    for (size_t i = 0; i < type_n; i++) put_u32(&b, i == 256 + n_extra - 1 && n_extra > 2 ? 3 : 1);
    gguf_file *gf;
    int rc = gguf_open_memory(&gf, b.p, b.n, err);
    if (!rc) {
        rc = tok_vocab_load(v, gf, err);
        gguf_free(gf);
    }
    free(b.p);
    return rc;
}

static bool ids_are(const tok_vocab *v, const char *text, const int32_t *want, size_t nw) {
    int32_t *ids;
    size_t n;
    latte_err err = {0};
    if (tok_encode(v, text, strlen(text), false, true, &ids, &n, &err)) return false;
    bool ok = n == nw;
    for (size_t i = 0; ok && i < n; i++) ok = ids[i] == want[i];
    free(ids);
    return ok;
}

static void test_synthetic(void) {
    latte_err err = {0};
    tok_vocab *v = NULL;
    static const char *const ex[] = {"ab", "bc", "aa", "<ctl>"};
    static const char *const m_bc_first[] = {"b c", "a b", "a a"};
    static const char *const m_ab_first[] = {"a b", "b c", "a a"};
    int rc = synth_vocab(&v, "llama", "gpt2", ex, 4, m_ab_first, 3, 260, &err);
    if (rc != LATTE_E_UNSUPPORTED || !strstr(err.msg, "llama")) fail("synth_model_unsupported", err.msg);
    else pass("synth_model_unsupported");
    tok_vocab_free(v);
    v = NULL;
    rc = synth_vocab(&v, "gpt2", "weird-pre", ex, 4, m_ab_first, 3, 260, &err);
    if (rc != LATTE_E_UNSUPPORTED || !strstr(err.msg, "weird-pre")) fail("synth_pre_unsupported", err.msg);
    else pass("synth_pre_unsupported");
    tok_vocab_free(v);
    v = NULL;
    rc = synth_vocab(&v, "gpt2", "gpt2", ex, 4, m_ab_first, 3, 100, &err);
    if (rc != LATTE_E_FORMAT) fail("synth_token_type_count", "short token_type array accepted");
    else pass("synth_token_type_count");
    tok_vocab_free(v);
    v = NULL;
    /* merge ranks decide: "abc" is ab+c when "a b" ranks first, a+bc otherwise */
    if (synth_vocab(&v, "gpt2", "gpt2", ex, 4, m_ab_first, 3, 260, &err)) {
        fail("synth_load", err.msg);
        return;
    }
    const int32_t a = 'a', b = 'b', c = 'c', AB = 256, BC = 257, AA = 258, CTL = 259;
    int32_t w1[] = {AB, c}, w2[] = {AA, a}, w3[] = {AA, AA}, w4[] = {a, CTL, b};
    if (!ids_are(v, "abc", w1, 2)) fail("synth_rank_ab", "abc should be [ab, c]");
    else pass("synth_rank_ab");
    if (!ids_are(v, "aaa", w2, 2) || !ids_are(v, "aaaa", w3, 2)) fail("synth_leftmost_tie", "aaa should be [aa, a]");
    else pass("synth_leftmost_tie");
    if (!ids_are(v, "a<ctl>b", w4, 3) || !tok_is_control(v, CTL)) fail("synth_control", "<ctl> as one id");
    else pass("synth_control");
    if (tok_bos(v) != -1 || tok_add_bos(v) || strcmp(tok_pre_name(v), "gpt2"))
        fail("synth_defaults", "no bos key: bos -1, add_bos false");
    else pass("synth_defaults");
    tok_vocab_free(v);
    v = NULL;
    if (synth_vocab(&v, "gpt2", NULL, ex, 4, m_bc_first, 3, 260, &err)) {
        fail("synth_load_default", err.msg);
        return;
    }
    int32_t w5[] = {a, BC};
    if (!ids_are(v, "abc", w5, 2)) fail("synth_rank_bc", "abc should be [a, bc]");
    else if (strcmp(tok_pre_name(v), "default")) fail("synth_rank_bc", "missing pre should be default");
    else pass("synth_rank_bc");
    tok_vocab_free(v);
}

static int dump(const char *vocab, const char *file, bool parse_special) {
    gguf_file *gf;
    tok_vocab *v = load_vocab(vocab, &gf);
    FILE *f = fopen(file, "r");
    if (!v || !f) return 1;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *s = json_loads(line, JSON_DECODE_ANY, &je);
        if (!json_is_string(s)) { fprintf(stderr, "bad line: %s\n", je.text); return 1; }
        int32_t *ids;
        size_t n;
        latte_err err = {0};
        if (tok_encode(v, json_string_value(s), json_string_length(s), false, parse_special, &ids, &n, &err)) {
            fprintf(stderr, "encode: %s\n", err.msg);
            return 1;
        }
        printf("[");
        for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
        printf("]\n");
        free(ids);
        json_decref(s);
    }
    free(line);
    fclose(f);
    tok_vocab_free(v);
    gguf_free(gf);
    return 0;
}

/* Prints the ids of latte_chat_tokenize for the conversation in file, through the public API. */
static int chat_dump(const char *model, const char *file) {
    json_error_t je;
    json_t *c = json_load_file(file, 0, &je);
    if (!c) { fprintf(stderr, "%s: %s\n", file, je.text); return 1; }
    latte_model_params mp = {.path = model, .vocab_only = true, .mla = -1};
    latte_model *m;
    latte_err err = {0};
    if (latte_model_load(&m, &mp, &err)) { fprintf(stderr, "load: %s\n", err.msg); return 1; }
    json_t *msgs = json_object_get(c, "messages");
    size_t n_msgs = json_array_size(msgs);
    latte_chat_msg *lm = calloc(n_msgs + 1, sizeof *lm);
    for (size_t i = 0; i < n_msgs; i++) {
        lm[i].role = json_string_value(json_object_get(json_array_get(msgs, i), "role"));
        lm[i].content = json_string_value(json_object_get(json_array_get(msgs, i), "content"));
    }
    int32_t *ids;
    size_t n;
    int rc = latte_chat_tokenize(m, json_string_value(json_object_get(c, "template")), lm, n_msgs,
                                 json_is_true(json_object_get(c, "add_generation_prompt")), &ids, &n, NULL, &err);
    if (rc) fprintf(stderr, "chat: %s\n", err.msg);
    else {
        printf("[");
        for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
        printf("]\n");
        free(ids);
    }
    free(lm);
    latte_model_free(m);
    json_decref(c);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if ((argc == 4 || argc == 5) && !strcmp(argv[1], "--dump"))
        return dump(argv[2], argv[3], !(argc == 5 && !strcmp(argv[4], "--plain")));
    if (argc == 4 && !strcmp(argv[1], "--chat")) return chat_dump(argv[2], argv[3]);
    const char *root = getenv("LATTE_ROOT");
    snprintf(fixdir, sizeof fixdir, "%s/../shared/fixtures", root ? root : ".");
    char path[1200];
    test_utf8_prefix();
    test_synthetic();
    test_pretok_cases(root ? root : ".");
    snprintf(path, sizeof path, "%s/tokenizer-public.json", fixdir);
    json_error_t je;
    json_t *fx = json_load_file(path, 0, &je);
    if (!fx) printf("SKIP fixtures: %s\n", je.text);
    static const struct { const char *key, *file, *special; int32_t special_id; } fam[] = {
        {"deepseek_v3", "vocab-deepseek_v3.gguf", "<｜begin▁of▁sentence｜>Hi<｜User｜>", 0},
        {"qwen3", "vocab-qwen3.gguf", "<|im_start|>user\nHi<|im_end|>\n", 151645},
    };
    for (size_t f = 0; f < 2; f++) {
        gguf_file *gf;
        snprintf(path, sizeof path, "%s/%s", fixdir, fam[f].file);
        tok_vocab *v = load_vocab(path, &gf);
        if (!v) continue;
        test_vocab_facts(v, gf, fam[f].key);
        if (fx) test_fixture(v, json_object_get(fx, fam[f].key), fam[f].key);
        test_special(v, fam[f].key, fam[f].special, fam[f].special_id);
        test_hostile(v, fam[f].key);
        if (f == 1) test_kinds(v);
        tok_vocab_free(v);
        gguf_free(gf);
    }
    if (fx) printf("SKIP fixture_ids_llama3_1: no vocabulary file for it here\n");
    json_decref(fx);
    return n_fail ? 1 : 0;
}
