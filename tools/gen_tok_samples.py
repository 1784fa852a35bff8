#!/usr/bin/env python3
"""Writes the tokenizer test data under tests/data/tok/:
- samples.txt: a few hundred varied strings (code, numbers, CJK, emoji, whitespace runs,
  mixed scripts, contractions, punctuation, odd Unicode spaces and digits), one JSON string
  per line. tests/check_tok_hf.py encodes them with latte and with Hugging Face `tokenizers`.
- pretok_cases.json: for each pre-tokenizer family, the pieces that the `tokenizers`
  library's pre-tokenizer gives for every sample (taken from its offsets, so pieces are
  original text). tests/test_tok.c checks latte's PCRE2 splits against them.
The pre-tokenizer definitions below restate the families' tokenizer.json sections
(DeepSeek-V3, DeepSeek LLM, Qwen2, Llama 3, SmolLM2, GPT-2).

    python3 tools/gen_tok_samples.py        # rewrites both files (deterministic)
"""
import json, os, random, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "tok")

QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
            r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
DSV3 = [r"\p{N}{1,3}", r"[一-龥぀-ゟ゠-ヿ]+",
        r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"
        r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"]
DSLLM = [r"[\r\n]",
         r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\x{1F7D}ᾀ-ᾴᾶ-ᾼ\x{1FBE}ῂ-ῄῆ-ῌῐ-\x{1FD3}ῖ-\x{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\x{2126}ℨ\x{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
         r"\s?[!-/:-~！-／：-～‘-‟　-。]+", r"\s+$", r"[一-龥ࠀ-一가-퟿]+", r"\p{N}+"]

FIXED = [
    "Hello world", " Hello world", "  Hello  world  ", "hello\nworld", "hello\r\nworld\r\n",
    "I'm", "I'M", "DON'T", "you're", "they've", "we'll", "he'd", "it's", "It'S", "O'Neil's",
    "'s", "'", "''", "don't'", "x's'd", "ſ's", "'ſ", "Kelvin K and k",
    "1", "12", "123", "1234", "12345", "1234567", "3.14159", "-42", "1e10", "0x1F", "1,000,000",
    "٣٤٥ Arabic-Indic", "１２３ fullwidth", "x² y³ ½", "Ⅻ roman", "①②③",
    "你好世界", "你好，世界！", "日本語のテキスト", "カタカナ", "ひらがなとカタカナ", "한국어", "中文English混合123",
    "Привет мир", "Ελληνικά", "שלום", "مرحبا", "हिन्दी", "ไทย ภาษา", "ქართული",
    "😀", "😀😀😀", "👍🏽", "👨‍👩‍👧‍👦 family", "🇫🇷🇯🇵", "a😀b", " 😀 ",
    "e\u0301 decomposed", "Cafe\u0301", "Å vs A\u030a", "\u1100\u1161 jamo",
    "\t", "\t\t", " \t ", "\n", "\n\n\n", " \n ", "\r", "\r\n", "\n\r", "\v\f",
    "a\u00a0b", "a\u3000b", "a\u2028b", "a\u2029b", "a\u0085b", "a\u1680b", "a\u2003b", "a\u202fb",
    "a\u200bb", "a\ufeffb", "a\u001cb", "a\u180eb", "\u00a0\u00a0", " \u3000 ",
    "def f(x):\n    return x * 2\n", "if (a && b) { c++; }", "int main(void) {\n\treturn 0;\n}\n",
    "x = [1, 2, 3]", "print(\"hi\")", "a->b", "a::b", "#include <stdio.h>", "// comment", "/* c */",
    "SELECT * FROM t WHERE id = 42;", "<div class=\"x\">hi</div>", "{\"a\": 1}", "$HOME/.bashrc",
    "https://example.com/a?b=c&d=e#f", "user@example.com", "C:\\Users\\x", "~/path/to/file.txt",
    "!!!", "???", "...", "…", "—", "–", "«quoted»", "“smart”", "‘single’", "(parens)", "[brackets]",
    "a.b.c", "a,b,c", "x+y=z", "100%", "$5.99", "€10", "£3", "¥100", "#hashtag", "@mention",
    "      ", "          x", "x          ", "a     b", "   \n   \n", "\n\n  \n",
    "<|im_start|>user\nhi<|im_end|>", "<|endoftext|>", "<｜begin▁of▁sentence｜>", "<｜User｜>hi<｜Assistant｜>",
    "<think>\nhmm\n</think>", "<|im_start|", "<｜end▁of▁sentence", "<<>>", "<|>",
    "ALLCAPS", "camelCase", "snake_case", "kebab-case", "PascalCase", "SCREAMING_SNAKE",
    "Ünïcödé ẞ ß ﬁ ﬂ", "naïve café", "Zürich", "Łódź", "İstanbul", "ǅ titlecase",
    "x" * 300, " " * 300, "ab" * 200, "1" * 100, "你" * 100, "\n" * 50, "!" * 100,
]

FRAGMENTS = [
    "the", " quick", " brown", "fox", " ", "  ", "\t", "\n", "\r\n", "123", "4567", "3.5", "I'm",
    " don't", "'ll", "你好", "世界", "カナ", "ひら", "한국", "😀", "👍🏽", ",", ".", "!", "?", ";", ":",
    "(", ")", "{", "}", "[", "]", "\"", "'", "-", "_", "=", "+", "*", "/", "\\", "<", ">", "|",
    "é", "e\u0301", "ß", "Ω", "π", "∑", "≤", "\u00a0", "\u3000", "α", "β", "Ж", "ж", "ع", "ה",
    "\u0301", "x", "Y", "Z", "0", "9", "١", "١٢", "&", "%", "$", "#", "@", "~", "`", "^",
    "<|im_end|>", "<｜User｜>", "def", " return", "    ", "http://", ".com",
]


def samples():
    rnd = random.Random(1234)
    out = list(FIXED)
    for _ in range(300):
        k = rnd.randint(1, 12)
        out.append("".join(rnd.choice(FRAGMENTS) for _ in range(k)))
    seen, uniq = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq


def families():
    from tokenizers import pre_tokenizers as pt, Regex

    def split(rx):
        return pt.Split(Regex(rx), behavior="isolated", invert=False)

    bl = pt.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=True)
    return {
        "deepseek-v3": pt.Sequence([split(r) for r in DSV3]),
        "deepseek-llm": pt.Sequence([split(r) for r in DSLLM]),
        "qwen2": split(QWEN2_RE),
        "llama-bpe": split(LLAMA3_RE),
        "smollm": pt.Sequence([pt.Digits(individual_digits=True), bl]),
        "gpt2": bl,
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    ss = samples()
    with open(os.path.join(OUT, "samples.txt"), "w", encoding="utf-8") as f:
        for s in ss:
            f.write(json.dumps(s, ensure_ascii=False) + "\n")
    cases = {}
    for name, p in families().items():
        rows = []
        for s in ss:
            pieces = [s[a:b] for _, (a, b) in p.pre_tokenize_str(s)]
            assert "".join(pieces) == s, (name, s)
            rows.append({"text": s, "pieces": pieces})
        cases[name] = rows
    with open(os.path.join(OUT, "pretok_cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=0)
    print(f"wrote {len(ss)} samples and pre-tokenizer cases for {len(cases)} families to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
