#!/usr/bin/env python3
"""latte's tokenizer against Hugging Face `tokenizers` on tests/data/tok/samples.txt, for
the vocabulary-only GGUF files in ../shared/fixtures (DeepSeek-V3 and Qwen3). The HF side
is tools/ref/tokenizer.py (a `tokenizers` Tokenizer built from the GGUF vocab, merges and
pre-tokenizer); latte's ids come from `build/test_tok --dump VOCAB FILE` (added tokens
matched, no BOS). One case per vocabulary: PASS when every sample gives the same ids."""
import json, os, subprocess, sys

ROOT = os.environ.get("LATTE_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LATTE_BUILD", "build")
FIX = os.path.join(ROOT, "..", "shared", "fixtures")
SAMPLES = os.path.join(ROOT, "tests", "data", "tok", "samples.txt")
sys.path.insert(0, os.path.join(ROOT, "tools", "ref"))


def main():
    failed = 0
    try:
        from tokenizer import RefTokenizer
    except Exception as e:  # tokenizers or the reference missing
        print(f"SKIP tok_hf: reference tokenizer unavailable ({e})")
        return 0
    with open(SAMPLES, encoding="utf-8") as f:
        texts = [json.loads(line) for line in f if line.strip()]
    exe = os.path.join(ROOT, BUILD, "test_tok")
    for name in ("deepseek_v3", "qwen3"):
        vocab = os.path.join(FIX, f"vocab-{name}.gguf")
        case = f"tok_hf_{name}({len(texts)} samples)"
        if not os.path.exists(vocab) or not os.access(exe, os.X_OK):
            print(f"SKIP {case}: missing {vocab if not os.path.exists(vocab) else exe}")
            continue
        p = subprocess.run([exe, "--dump", vocab, SAMPLES], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            print(f"FAIL {case}: test_tok --dump exit {p.returncode}: {p.stderr.strip()[-200:]}")
            failed += 1
            continue
        ours = [json.loads(line) for line in p.stdout.splitlines()]
        ref = RefTokenizer(vocab)
        bad = [i for i, t in enumerate(texts) if i >= len(ours) or ours[i] != ref.encode(t)]
        if len(ours) != len(texts) or bad:
            i = bad[0] if bad else len(ours)
            got = ours[i] if i < len(ours) else None
            print(f"FAIL {case}: {len(bad)} differ; first {texts[i]!r}: latte {got} hf {ref.encode(texts[i])}")
            failed += 1
        else:
            print(f"PASS {case}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
