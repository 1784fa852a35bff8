#!/usr/bin/env python3
"""check_gguf_write.py: files from latte's GGUF writer read by the gguf Python package, and
latte's quantizers bit for bit against the package's (for the types it can quantize:
bf16, q8_0, q4_0, q4_1, q5_0, q5_1; f16 through numpy), and the K-quants (q2_K .. q6_K) read
back through the package's dequantize. build/test_gguf_write PATH leaves a
file whose tensor "f32" holds the source rows and one tensor per type their quantization.
About 1 s."""
import os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import ROOT, BUILD, Reporter

report = Reporter()
try:
    import numpy as np
    import gguf
    from gguf import quants
except ImportError as e:
    print(f"SKIP gguf_python: {e}")
    sys.exit(0)

exe = os.path.join(ROOT, BUILD, "test_gguf_write")
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "w.gguf")
    p = subprocess.run([exe, path], capture_output=True, text=True)
    report("writer_ran", p.returncode == 0 and os.path.exists(path), p.stdout[-500:])
    if not os.path.exists(path):
        sys.exit(1)
    r = gguf.GGUFReader(path)
    kv = {f.name: f for f in r.fields.values()}
    def val(name):
        f = kv[name]
        return f.contents() if hasattr(f, "contents") else f.parts[f.data[0]]
    ok = (val("general.architecture") == "test" and val("test.u32") == 4000000000 and val("test.i32") == -5
          and val("test.u64") == 1 << 40 and abs(val("test.f32") - 0.1) < 1e-7 and val("test.bool") is True
          and list(val("test.arr_i32")) == [-1, 0, 7] and list(val("test.arr_str")) == ["a", "", "ĠHello"])
    report("python_reads_keys", ok, "a key read by the gguf package differs")
    t = {x.name: x for x in r.tensors}
    src = np.array(t["f32"].data, dtype=np.float32).reshape(8, 1024)
    report("python_reads_f32", src.shape == (8, 1024) and np.isfinite(src).all(), "f32 tensor unreadable")
    GT = gguf.GGMLQuantizationType
    for name, qt in [("f16", GT.F16), ("bf16", GT.BF16), ("q8_0", GT.Q8_0), ("q4_0", GT.Q4_0),
                     ("q4_1", GT.Q4_1), ("q5_0", GT.Q5_0), ("q5_1", GT.Q5_1)]:
        ours = np.asarray(t[name].data).view(np.uint8).reshape(-1)
        theirs = np.asarray(quants.quantize(src, qt)).view(np.uint8).reshape(-1)
        same = ours.shape == theirs.shape and np.array_equal(ours, theirs)
        why = ""
        if not same and ours.shape == theirs.shape:
            why = f"{int((ours != theirs).sum())} of {ours.size} bytes differ, first at {int(np.argmax(ours != theirs))}"
        report(f"bits_{name}", same, why or f"sizes {ours.shape} vs {theirs.shape}")
    # the K-quants: the package cannot quantize them but can read them back
    errs = {}
    for name, qt in [("q4_K", GT.Q4_K), ("q5_K", GT.Q5_K), ("q6_K", GT.Q6_K), ("q3_K", GT.Q3_K), ("q2_K", GT.Q2_K)]:
        y = quants.dequantize(np.asarray(t[name].data).view(np.uint8), qt).reshape(8, 1024)
        # the gaussian rows (0, 1, 5-7), outlier blocks left out: the case the bounds are for
        rows = [0, 1, 5, 6, 7]
        blk = np.abs(src[rows]).reshape(-1, 256).max(-1) < 0.15
        ys, xs = y[rows].reshape(-1, 256)[blk], src[rows].reshape(-1, 256)[blk]
        rel = float(np.sqrt(((ys - xs) ** 2).sum() / (xs ** 2).sum()))
        errs[name] = rel
        # bounds: test_gguf_write's per-type estimates (RMS of a rounding grid over ~2.5 sigma)
        bound = {"q4_K": 0.12, "q5_K": 0.06, "q6_K": 0.03, "q3_K": 0.26, "q2_K": 0.60}[name]
        print(f"  {name}: relative RMS error {rel:.4f} through the package (bound {bound})")
        report(f"python_dequant_{name}", rel < bound,
               f"relative RMS error {rel:.4f} through the package's dequantize")
    report("kquant_ranks", errs["q2_K"] > errs["q3_K"] > errs["q4_K"] > errs["q5_K"] > errs["q6_K"], str(errs))
sys.exit(1 if report.failed else 0)
