/* pretok.c: pre-tokenizers by tokenizer.ggml.pre name, as Hugging Face tokenizers runs
 * them: a sequence of regex Splits with behaviour "Isolated" (each match and each gap
 * between matches becomes a piece), every split applied to every piece of the previous
 * one, with anchors and lookarounds seeing only the piece. Patterns are the ones in the
 * models' tokenizer.json files (Oniguruma syntax, which PCRE2 with UTF + UCP reads the
 * same way). They compile once per vocabulary (JIT when available); PCRE2_MATCH_INVALID_UTF
 * lets invalid UTF-8 through as unmatched bytes instead of failing. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

#define PRETOK_MAX_RE 6

/* GPT-2's ByteLevel regex (use_regex = true). */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
/* Llama 3 (digits in runs of 1-3) and Qwen2 (single digits). */
#define RE_LLAMA3 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2 "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* DeepSeek-V3 / R1: digits 1-3, then Han + kana runs, then the main rule. */
#define RE_DSV3_MAIN "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+" \
    "|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Kimi-K2 (tokenization_kimi.py's pat_str): Han runs first, then GPT-4o-style words whose
 * letter classes exclude Han. The original writes the exclusion as a class intersection
 * [\p{Lu}...&&[^\p{Han}]] (Oniguruma, Rust regex); PCRE2 spells the same set as a
 * lookahead on each character. */
#define KIMI_UPPER "(?:(?!\\p{Han})[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}])"
#define KIMI_LOWER "(?:(?!\\p{Han})[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}])"
#define KIMI_CONTR "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
#define RE_KIMI_K2 "\\p{Han}+" \
    "|[^\\r\\n\\p{L}\\p{N}]?" KIMI_UPPER "*" KIMI_LOWER "+" KIMI_CONTR \
    "|[^\\r\\n\\p{L}\\p{N}]?" KIMI_UPPER "+" KIMI_LOWER "*" KIMI_CONTR \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* DeepSeek LLM (V2): letters of Latin, Greek, Cyrillic... listed as ranges. */
#define RE_DSLLM_LETTERS "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\\x{1F7D}ᾀ-ᾴᾶ-ᾼ\\x{1FBE}ῂ-ῄῆ-ῌῐ-\\x{1FD3}ῖ-\\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\\x{2126}ℨ\\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+"

typedef struct pretok_def {
    const char *name;
    const char *re[PRETOK_MAX_RE]; /* NULL-terminated */
    bool nfc;
    bool ignore_merges;
} pretok_def;

static const pretok_def PRETOK_DEFS[] = {
    {"deepseek-v3", {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+", RE_DSV3_MAIN, NULL}, false, false},
    {"deepseek-llm", {"[\\r\\n]", RE_DSLLM_LETTERS, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$",
                      "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"}, false, false},
    {"kimi-k2", {RE_KIMI_K2, NULL}, false, false},
    {"qwen2", {RE_QWEN2, NULL}, true, false},
    {"deepseek-r1-qwen", {RE_QWEN2, NULL}, true, false},
    {"llama-bpe", {RE_LLAMA3, NULL}, false, true},
    {"smollm", {"\\p{N}", RE_GPT2, NULL}, false, false},
    {"gpt2", {RE_GPT2, NULL}, false, false},
    /* llama.cpp's fallback for files that name no known pre-tokenizer */
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL},
     false, false},
};

struct tok_pretok {
    const pretok_def *def;
    pcre2_code *re[PRETOK_MAX_RE];
    int n_re;
};

int tok_pretok_init(tok_pretok **out, const char *name, size_t name_len, latte_err *err) {
    *out = NULL;
    const pretok_def *def = NULL;
    for (size_t i = 0; i < sizeof PRETOK_DEFS / sizeof PRETOK_DEFS[0]; i++)
        if (strlen(PRETOK_DEFS[i].name) == name_len && !memcmp(PRETOK_DEFS[i].name, name, name_len))
            def = &PRETOK_DEFS[i];
    if (!def)
        return err_set(err, LATTE_E_UNSUPPORTED, "tokenizer.ggml.pre '%.*s' is not supported",
                       (int)(name_len > 64 ? 64 : name_len), name);
    tok_pretok *p = calloc(1, sizeof *p);
    if (!p) return err_set(err, LATTE_E_NOMEM, "out of memory for the pre-tokenizer");
    p->def = def;
    for (int i = 0; i < PRETOK_MAX_RE && def->re[i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        p->re[i] = pcre2_compile((PCRE2_SPTR)def->re[i], PCRE2_ZERO_TERMINATED,
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
        if (!p->re[i]) {
            char msg[128];
            pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
            tok_pretok_free(p);
            return err_set(err, LATTE_E_FORMAT, "pre-tokenizer %s: regex %d at %zu: %s",
                           def->name, i, (size_t)eo, msg);
        }
        pcre2_jit_compile(p->re[i], PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
        p->n_re = i + 1;
    }
    *out = p;
    return 0;
}

void tok_pretok_free(tok_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n_re; i++) pcre2_code_free(p->re[i]);
    free(p);
}

const char *tok_pretok_name(const tok_pretok *p) { return p->def->name; }
bool tok_pretok_nfc(const tok_pretok *p) { return p->def->nfc; }
bool tok_pretok_ignore_merges(const tok_pretok *p) { return p->def->ignore_merges; }

/* Splits one piece text[off, off+len) with re: matches and gaps, in order, into out. */
static int split_piece(const pcre2_code *re, pcre2_match_data *md, const char *text,
                       size_t off, size_t len, tok_spans *out, latte_err *err) {
    const PCRE2_SPTR subj = (PCRE2_SPTR)(text + off);
    size_t pos = 0, gap = 0; /* gap: start of the text not yet emitted */
    while (pos < len) {
        int rc = pcre2_match(re, subj, len, pos, 0, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            char msg[128];
            pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof msg);
            return err_set(err, LATTE_E_FORMAT, "pre-tokenizer regex failed at byte %zu: %s",
                           off + pos, msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { /* empty match: HF ignores it; step one character past it */
            uint32_t cp;
            int n = tok_utf8_decode(text + off + ms, len - ms, &cp);
            pos = ms + (n > 0 ? (size_t)n : 1);
            continue;
        }
        if (ms > gap && tok_spans_push(out, off + gap, ms - gap)) goto nomem;
        if (tok_spans_push(out, off + ms, me - ms)) goto nomem;
        gap = pos = me;
    }
    if (len > gap && tok_spans_push(out, off + gap, len - gap)) goto nomem;
    return 0;
nomem:
    return err_set(err, LATTE_E_NOMEM, "out of memory splitting text");
}

int tok_pretok_split(const tok_pretok *p, const char *text, size_t len, tok_spans *out,
                     latte_err *err) {
    if (len == 0) return 0;
    tok_spans a = {0}, b = {0};
    int rc = 0;
    pcre2_match_data *md = pcre2_match_data_create(8, NULL);
    if (!md || tok_spans_push(&a, 0, len)) {
        rc = err_set(err, LATTE_E_NOMEM, "out of memory splitting text");
        goto done;
    }
    for (int r = 0; r < p->n_re; r++) {
        b.n = 0;
        for (size_t i = 0; i < a.n && !rc; i++)
            rc = split_piece(p->re[r], md, text, a.v[i].off, a.v[i].len, &b, err);
        if (rc) goto done;
        tok_spans t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < a.n && !rc; i++)
        if (tok_spans_push(out, a.v[i].off, a.v[i].len))
            rc = err_set(err, LATTE_E_NOMEM, "out of memory splitting text");
done:
    pcre2_match_data_free(md);
    free(a.v);
    free(b.v);
    return rc;
}
