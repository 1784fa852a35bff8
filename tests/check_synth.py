#!/usr/bin/env python3
"""check_synth.py: `latte synth` writes a file that loads and runs. A 2-layer
DeepSeek-V2-Lite-shaped Q8_0 model (the real vocabulary of 102,400 and hidden size 2048, so
1.1 GB: about 30 s to write on the 2-core CI machine, the rest of the file a few seconds):
`latte info` shows the shape, `latte run -n 4` runs, logits are finite and of order 1, the
MLA modes agree (attn_k_b / attn_v_b hold the values of attn_kv_b), the gguf Python package
reads it, and bad arguments are one-line errors."""
import os, subprocess, sys, tempfile, time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import LATTE, Reporter

report = Reporter()
TMP = tempfile.mkdtemp(prefix="latte-synth-")
OUT = os.path.join(TMP, "v2lite-2l.gguf")


def latte(*args, timeout=600):
    p = subprocess.run([LATTE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


t0 = time.time()
rc, out, err = latte("synth", "--like", "deepseek-v2-lite", "--layers", "2", "--type", "q8_0", "-o", OUT, "-t", "2")
secs = time.time() - t0
report("synth_writes", rc == 0 and os.path.getsize(OUT) > 1e9 and "100%" in err, err[-400:])
print(f"  synth deepseek-v2-lite --layers 2 q8_0: {os.path.getsize(OUT) / 2**20:.0f} MiB in {secs:.1f} s"
      if rc == 0 else "  synth failed")
if rc:
    sys.exit(1)

rc, out, err = latte("info", OUT)
want = ["layers:           2", "embedding:        2048", "vocabulary:       102400", "heads:            16 (kv 16), key 192, value 128",
        "64 experts, 6 used, 2 shared, width 1408", "kv_lora_rank 512", "scaling yarn (factor 40)", "1 leading dense"]
miss = [w for w in want if w not in out]
report("info_shape", rc == 0 and not miss, f"missing {miss}: {out[:600]}")

rc, out, err = latte("run", "-m", OUT, "-p", "Hello world", "-n", "4", "--temp", "0", "-c", "128", "-t", "2")
report("run_n4", rc == 0 and "generated:      4 tokens" in err, err[-400:])

lg = {}
for mode in ("0", "3"):
    path = os.path.join(TMP, f"l{mode}.f32")
    rc, out, err = latte("logits", "-m", OUT, "--tokens", "100000,1,2,3,500,9000", "-o", path, "-mla", mode,
                         "-c", "64", "-t", "2")
    lg[mode] = np.fromfile(path, dtype=np.float32).reshape(-1, 102400) if rc == 0 else None
a, b = lg["0"], lg["3"]
ok = a is not None and np.isfinite(a).all() and 0.3 < float(a.std()) < 3
report("logits_finite", ok, "no logits" if a is None else f"finite {np.isfinite(a).all()}, std {a.std():.3g}")
if a is not None and b is not None:
    p, q = log_softmax(a.astype(np.float64)), log_softmax(b.astype(np.float64))
    kl = float((np.exp(p) * (p - q)).sum(-1).mean())
    # the derived matrices are re-quantized copies of the same values: only q8_0 rounding differs
    report("mla_modes_agree", kl < 1e-3 and (a.argmax(-1) == b.argmax(-1)).mean() >= 0.8, f"KL {kl:.3g}")

try:
    import gguf
    r = gguf.GGUFReader(OUT)
    names = {t.name for t in r.tensors}
    need = {"token_embd.weight", "output.weight", "blk.1.ffn_gate_exps.weight", "blk.0.attn_kv_b.weight",
            "blk.0.attn_k_b.weight", "blk.1.ffn_down_shexp.weight"}
    f = r.fields
    ok = need <= names and f["deepseek2.expert_count"].contents() == 64 and len(f["tokenizer.ggml.tokens"].data) == 102400
    report("gguf_python_reads", ok, f"missing {need - names}")
except ImportError as e:
    print(f"SKIP gguf_python_reads: {e}")

os.unlink(OUT)
bad = os.path.join(TMP, "x.gguf")
for name, args, code, word in [
    ("unknown_model", ["--like", "gpt-5", "-o", bad], 2, "deepseek-v2-lite"),
    ("too_many_layers", ["--like", "deepseek-v2-lite", "--layers", "28", "-o", bad], 2, "27"),
    ("bad_type", ["--like", "qwen2-7b", "--type", "q9_0", "-o", bad], 2, "q4_K"),
    ("no_output", ["--like", "qwen2-7b"], 2, "-o"),
    ("unwritable", ["--like", "qwen2-7b", "--layers", "1", "-o", "/nonexistent-dir/x.gguf"], 1, "No such file"),
]:
    rc, out, err = latte("synth", *args)
    report(f"bad_{name}", rc == code and word in err and len(err.strip().splitlines()) == 1 and not os.path.exists(bad),
           f"rc {rc}: {err.strip()!r}")
sys.exit(1 if report.failed else 0)
