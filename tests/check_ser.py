#!/usr/bin/env python3
"""Smart expert reduction (-ser Kmin,t) end to end on the trained tiny-mla model (4 of 16
experts per token, sigmoid gating with normalised weights): -ser K,1 with K = the experts per
token is the identity (logits equal bit for bit to no -ser), -ser 2,1 and -ser 1,1 change the
result (fewer experts) without breaking it (relative L2 well under 1). -ser on a dense model
changes nothing and says so in one warning."""
import os, subprocess, sys, tempfile

import numpy as np

from testlib import LATTE, SHARED, FIX, Reporter

MODEL = os.path.join(SHARED, "models", "tiny-mla.gguf")
TOKENS = "1,450,3000,12,77,5,900,31,2000,17,400,401,402,9,88,1200,64,3,5,8"


def logits(model, extra, tmp):
    out = os.path.join(tmp, "l.f32")
    p = subprocess.run([LATTE, "logits", "-m", model, "--tokens", TOKENS, "-o", out, "-t", "2"] + extra,
                       capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        return None, p.stderr.strip().splitlines()[-1:]
    return np.fromfile(out, dtype="<f4"), ""


def main():
    report = Reporter()
    if not os.path.exists(MODEL):
        print(f"SKIP ser: no model at {MODEL}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        base, err = logits(MODEL, [], tmp)
        if base is None:
            report("ser base run", False, err)
            return 1
        same, err = logits(MODEL, ["-ser", "4,1"], tmp)
        report("ser 4,1 (all experts) is the identity", same is not None and np.array_equal(base, same), err)
        for k in (2, 1):
            got, err = logits(MODEL, ["-ser", f"{k},1"], tmp)
            if got is None:
                report(f"ser {k},1", False, err)
                continue
            rel = float(np.linalg.norm(got - base) / np.linalg.norm(base))
            report(f"ser {k},1 changes the result (rel L2 {rel:.3f})", 1e-3 < rel < 0.6, f"rel L2 {rel}")
        dense = os.path.join(FIX, "qwen2-tiny.gguf")
        if os.path.exists(dense):
            toks = "1,2,3,4,5"
            outs, warned = [], 0
            for extra in ([], ["-ser", "1,1"]):
                out = os.path.join(tmp, f"d{len(extra)}.f32")
                p = subprocess.run([LATTE, "logits", "-m", dense, "--tokens", toks, "-o", out] + extra,
                                   capture_output=True, text=True, timeout=120)
                outs.append(np.fromfile(out, dtype="<f4") if p.returncode == 0 else None)
                warned += sum("-ser" in l and "warning" in l for l in p.stderr.splitlines())
            report("ser on a dense model changes nothing, one warning", outs[0] is not None and outs[1] is not None
                   and np.array_equal(outs[0], outs[1]) and warned == 1, f"runs ok, {warned} warnings")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
