#!/usr/bin/env python3
"""Figures for comparing two logit matrices [n_tokens][n_vocab]: relative L2 error, mean
KL(ref || test) with softmax in float64, and arg-max agreement. Used by the checks.

    python3 tools/ref/compare.py REF.f32 TEST.f32 N_VOCAB
"""
import sys
import numpy as np

# the tolerances a correct engine meets on the fixtures (shared/fixtures/README.md)
REL_L2_MAX = 0.02
KL_MAX = 1e-3
ARGMAX_MIN = 0.95


def log_softmax(x):
    x = np.asarray(x, dtype=np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def figures(ref, test):
    """dict(rel_l2, kl, argmax) for two arrays of the same shape [n][vocab]."""
    ref = np.asarray(ref, dtype=np.float64)
    test = np.asarray(test, dtype=np.float64)
    if ref.shape != test.shape:
        raise ValueError(f"shape {test.shape} differs from the reference {ref.shape}")
    if not np.all(np.isfinite(test)):
        return dict(rel_l2=float("inf"), kl=float("inf"), argmax=0.0)
    rel = float(np.linalg.norm(test - ref) / max(np.linalg.norm(ref), 1e-30))
    lp, lq = log_softmax(ref), log_softmax(test)
    kl = float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=-1)))
    agree = float(np.mean(ref.argmax(axis=-1) == test.argmax(axis=-1)))
    return dict(rel_l2=rel, kl=kl, argmax=agree)


def verdict(f, rel_max=REL_L2_MAX, kl_max=KL_MAX, argmax_min=ARGMAX_MIN):
    """(ok, text) for figures f against the tolerances."""
    text = f"relL2={f['rel_l2']:.2e} KL={f['kl']:.2e} argmax={f['argmax']:.3f}"
    ok = f["rel_l2"] < rel_max and f["kl"] < kl_max and f["argmax"] >= argmax_min
    return ok, text


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip())
        return 2
    n_vocab = int(argv[2])
    a = np.fromfile(argv[0], dtype="<f4").reshape(-1, n_vocab)
    b = np.fromfile(argv[1], dtype="<f4").reshape(-1, n_vocab)
    ok, text = verdict(figures(a, b))
    print(("ok " if ok else "BAD ") + text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
