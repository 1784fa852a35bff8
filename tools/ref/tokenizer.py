#!/usr/bin/env python3
"""Reference tokenizer: a Hugging Face `tokenizers` Tokenizer built from a GGUF file's vocabulary
(tokenizer.ggml.tokens), merges (tokenizer.ggml.merges) and pre-tokenizer name
(tokenizer.ggml.pre), as a byte-level BPE. Reads metadata with tools/ref/gguf_meta.py, so it
works on truncated files too. Added tokens as a model's tokenizer.json declares them: control
and unknown tokens (token_type 3 and 2) special, user-defined ones (4) not; encode() matches
both in the text, and with parse_special=False only the non-special ones (the library's
encode_special_tokens), as llama.cpp's parse_special does.

Pre-tokenizers (tokenizer.ggml.pre):
- `smollm`: Digits(individual_digits) then ByteLevel(add_prefix_space=False, use_regex=True);
- `qwen2`, `deepseek-r1-qwen`: NFC, then a Split on the Qwen2 regex (Isolated), ByteLevel(no regex);
- `deepseek-v3`: Splits on digit runs of 1-3, CJK runs, then the DeepSeek-V3 regex, ByteLevel;
- `llama-bpe`: the Llama 3 regex;
- `kimi-k2`: tokenization_kimi.py's pat_str (Oniguruma reads its class intersections
  `[...&&[^\p{Han}]]` as written), ByteLevel.

    python3 tools/ref/tokenizer.py MODEL (-p TEXT | -f FILE) [--bos]    # prints ids as JSON
"""
import argparse, json, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_meta import GGUFMeta  # noqa: E402

QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
            r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")
DSV3_DIGITS_RE = r"\p{N}{1,3}"
DSV3_CJK_RE = r"[一-龥぀-ゟ゠-ヿ]+"
DSV3_RE = (r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"
           r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

KIMI_K2_RE = "|".join([
    r"[\p{Han}]+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*"
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"\p{N}{1,3}",
    r" ?[^\s\p{L}\p{N}]+[\r\n]*",
    r"\s*[\r\n]+",
    r"\s+(?!\S)",
    r"\s+",
])


def _pre_tokenizer(pre):
    from tokenizers import pre_tokenizers as pt, Regex
    bl_noregex = pt.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)

    def split(rx):
        return pt.Split(Regex(rx), behavior="isolated", invert=False)

    if pre == "smollm":
        return pt.Sequence([pt.Digits(individual_digits=True),
                            pt.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=True)])
    if pre in ("qwen2", "deepseek-r1-qwen"):
        return pt.Sequence([split(QWEN2_RE), bl_noregex])
    if pre in ("llama-bpe", "llama3"):
        return pt.Sequence([split(LLAMA3_RE), bl_noregex])
    if pre == "kimi-k2":
        return pt.Sequence([split(KIMI_K2_RE), bl_noregex])
    if pre in ("deepseek-v3",):
        return pt.Sequence([split(DSV3_DIGITS_RE), split(DSV3_CJK_RE), split(DSV3_RE), bl_noregex])
    if pre in ("gpt2", "default", None):
        return pt.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=True)
    raise ValueError(f"pre-tokenizer {pre!r} is not known to the reference")


def _normalizer(pre):
    from tokenizers import normalizers
    if pre in ("qwen2", "deepseek-r1-qwen"):
        return normalizers.NFC()
    return None


def build(path):
    """(tokenizer, info) for the GGUF file at path; info has bos_id, eos_id, add_bos, pre, n_vocab."""
    from tokenizers import Tokenizer, AddedToken, decoders
    from tokenizers.models import BPE
    m = GGUFMeta(path)
    if m.get("tokenizer.ggml.model") != "gpt2":
        raise ValueError(f"tokenizer model {m.get('tokenizer.ggml.model')!r} is not byte-level BPE")
    tokens = m.get("tokenizer.ggml.tokens")
    types = m.get("tokenizer.ggml.token_type") or [1] * len(tokens)
    merges = m.get("tokenizer.ggml.merges") or []
    pre = m.get("tokenizer.ggml.pre", "default")
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    pairs = [tuple(x.split(" ", 1)) for x in merges]
    tok = Tokenizer(BPE(vocab=vocab, merges=pairs, fuse_unk=False, byte_fallback=False,
                        ignore_merges=False))
    norm = _normalizer(pre)
    if norm is not None:
        tok.normalizer = norm
    tok.pre_tokenizer = _pre_tokenizer(pre)
    tok.decoder = decoders.ByteLevel()
    special = [AddedToken(tokens[i], special=True, normalized=False)
               for i, ty in enumerate(types) if ty in (2, 3)]
    if special:
        tok.add_special_tokens(special)
    user = [AddedToken(tokens[i], special=False, normalized=False) for i, ty in enumerate(types) if ty == 4]
    if user:
        tok.add_tokens(user)
    info = dict(pre=pre, n_vocab=len(tokens), bos_id=m.get("tokenizer.ggml.bos_token_id"),
                eos_id=m.get("tokenizer.ggml.eos_token_id"),
                add_bos=bool(m.get("tokenizer.ggml.add_bos_token", False)), arch=m.arch,
                tokens=tokens, types=types)
    return tok, info


class RefTokenizer:
    def __init__(self, path):
        self.tok, self.info = build(path)

    def encode(self, text, bos=False, parse_special=True):
        self.tok.encode_special_tokens = not parse_special
        ids = self.tok.encode(text, add_special_tokens=False).ids
        if bos and self.info["bos_id"] is not None:
            ids = [self.info["bos_id"]] + ids
        return ids

    def decode(self, ids):
        return self.tok.decode(ids, skip_special_tokens=False)


def main(argv):
    ap = argparse.ArgumentParser(description="reference tokenizer from a GGUF vocabulary")
    ap.add_argument("model")
    ap.add_argument("-p", "--prompt")
    ap.add_argument("-f", "--file")
    ap.add_argument("--bos", action="store_true", help="prepend BOS when the file asks for it")
    ap.add_argument("--decode", help="comma-separated ids to decode instead")
    args = ap.parse_args(argv)
    t = RefTokenizer(args.model)
    if args.decode:
        sys.stdout.write(t.decode([int(x) for x in args.decode.split(",")]))
        return 0
    if args.file:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    elif args.prompt is not None:
        text = args.prompt
    else:
        ap.error("give -p TEXT or -f FILE")
    print(json.dumps(t.encode(text, bos=args.bos and t.info["add_bos"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
