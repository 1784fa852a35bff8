#!/usr/bin/env python3
"""End-to-end check of `latte logits` on every fixture model in shared/fixtures against the
transformers reference logits: every MLA mode x flash attention off/on x batch/token by token,
several micro-batches (-ub 7), greedy decoding by teacher forcing, cache types, a model without
MLA given -mla, and running past the context size.

Tolerances (shared/fixtures/README.md): relative L2 < 2%, mean KL(ref || latte) < 1e-3 (softmax
in float64), same arg-max in >= 95% of rows. One PASS/FAIL line per combination with figures.
The same set runs on the sanitizer build (LATTE_BUILD=build-san).
Env: LATTE_BUILD (build dir), LATTE_ROOT (repo root), LATTE_FIXTURES (fixture dir), LATTE_JOBS (2).
"""
import json, os, re, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from testlib import FIX, LATTE, ROOT, SAN  # noqa: E402
JOBS = int(os.environ.get("LATTE_JOBS", "2"))
TIMEOUT = 600 if SAN else 120

sys.path.insert(0, os.path.join(ROOT, "tools", "ref"))
from compare import REL_L2_MAX, figures, verdict  # noqa: E402

# model file -> the fixture whose JSON and logits it shares
MODELS = [("ds2lite-tiny", "ds2lite-tiny"), ("ds2lite-tiny-mainline", "ds2lite-tiny"),
          ("ds3-tiny", "ds3-tiny"), ("ds3-tiny-kvb", "ds3-tiny"), ("ds3-nogroup", "ds3-nogroup"),
          ("qwen2-tiny", "qwen2-tiny")]
CTX = ["-c", "256"]


def load_fixture(base):
    with open(os.path.join(FIX, base + ".json")) as f:
        j = json.load(f)
    ref = np.fromfile(os.path.join(FIX, j["logits"]), dtype="<f4").reshape(j["n_tokens"], j["n_vocab"])
    return j, ref


def run_logits(model, tokens, args, tmp, env=None):
    """Run latte logits; returns (returncode, stderr, logits or None)."""
    fd, out = tempfile.mkstemp(suffix=".f32", dir=tmp)
    os.close(fd)
    lists = tokens if tokens and isinstance(tokens[0], list) else [tokens]
    cmd = [LATTE, "logits", "-m", os.path.join(FIX, model + ".gguf"), "-o", out] + CTX + args
    for t in lists:
        cmd += ["--tokens", ",".join(map(str, t))]
    if "-t" not in args:
        cmd += ["-t", "1"]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace", timeout=TIMEOUT, env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired:
        return None, f"timed out after {TIMEOUT}s", None
    logits = None
    if p.returncode == 0 and os.path.exists(out):
        logits = np.fromfile(out, dtype="<f4")
    os.remove(out)
    return p.returncode, p.stderr, logits


def lines(text):
    return [l for l in (text or "").splitlines() if l.strip()]


def why_failed(rc, err):
    if rc is None:
        return err
    tail = lines(err)[-1] if lines(err) else ""
    return f"exit status {rc}: {tail[:200]}"


def case_compare(name, model, base, args, check_warning=False):
    """Compare the logits of one run with the reference."""
    def go(tmp):
        j, ref = load_fixture(base)
        rc, err, got = run_logits(model, j["tokens"], args, tmp)
        if rc != 0 or got is None:
            return False, why_failed(rc, err)
        if got.size != ref.size:
            return False, f"{got.size} logits written, expected {ref.size} ({j['n_tokens']} x {j['n_vocab']})"
        ok, text = verdict(figures(ref, got.reshape(ref.shape)))
        if ok and check_warning:
            mla = [l for l in lines(err) if "mla" in l.lower()]
            if len(mla) != 1:
                return False, f"{len(mla)} stderr lines mention MLA, expected one warning; {text}"
            text += f"; warning: {mla[0].strip()[:120]}"
        return ok, text
    return name, go


def case_multi(name, model, base, args, cuts=(0, 5, 9)):
    """Several sequences in one batch (prefixes of the fixture's tokens of different lengths,
    each its own --tokens list): every sequence's rows match the reference rows."""
    def go(tmp):
        j, ref = load_fixture(base)
        toks = j["tokens"]
        lists = [toks[:len(toks) - c] for c in cuts]
        rc, err, got = run_logits(model, lists, args, tmp)
        if rc != 0 or got is None:
            return False, why_failed(rc, err)
        want = sum(len(t) for t in lists) * j["n_vocab"]
        if got.size != want:
            return False, f"{got.size} logits written, expected {want}"
        got = got.reshape(-1, j["n_vocab"])
        row, texts = 0, []
        for t in lists:
            ok, text = verdict(figures(ref[:len(t)], got[row:row + len(t)]))
            if not ok:
                return False, f"sequence of {len(t)} tokens: {text}"
            row += len(t)
            texts.append(text)
        return True, texts[0]
    return name, go


def case_devices(name, model, base, place, args):
    """Hybrid placement without a GPU: LATTE_EXTRA_CPU_DEVICES=2 adds CPU1 and CPU2 (host
    memory, a backend each), the -ot rules spread layers, experts and the output over them,
    and activations move between devices at block boundaries. Same kernels, so the logits
    must equal the one-device run bit for bit (and the reference within tolerance)."""
    def go(tmp):
        j, ref = load_fixture(base)
        rc, err, one = run_logits(model, j["tokens"], args, tmp)
        if rc != 0 or one is None:
            return False, why_failed(rc, err)
        rc, err, multi = run_logits(model, j["tokens"], args + place, tmp, env={"LATTE_EXTRA_CPU_DEVICES": "2"})
        if rc != 0 or multi is None:
            return False, why_failed(rc, err)
        if "devices: CPU CPU1 CPU2" not in err:
            return False, "the run did not report the three devices"
        if one.shape != multi.shape or not np.array_equal(one, multi):
            diff = np.abs(one - multi).max() if one.shape == multi.shape else "shape"
            return False, f"placement changed the logits (max |diff| {diff})"
        return verdict(figures(ref, multi.reshape(ref.shape)))
    return name, go


def case_modes_agree(name, model, base, args_a, args_b, rel_max=1e-3, exact_b=None):
    """Two engine runs that must compute the same function (e.g. MLA modes over one lossy
    cache type, where the reference's tolerance does not apply) agree with each other.
    With exact_b (run b's arguments over an f32 cache), the bound also allows twice b's own
    quantization error: the quantizer chooses each block's scale, so a rounding-size change
    in what is cached can move a whole block by one step, and runs that differ in summation
    order may cache different blocks."""
    def go(tmp):
        j, ref = load_fixture(base)
        rc_a, err_a, a = run_logits(model, j["tokens"], args_a, tmp)
        if rc_a != 0 or a is None:
            return False, why_failed(rc_a, err_a)
        rc_b, err_b, b = run_logits(model, j["tokens"], args_b, tmp)
        if rc_b != 0 or b is None:
            return False, why_failed(rc_b, err_b)
        bound = rel_max
        if exact_b is not None:
            rc_e, err_e, e = run_logits(model, j["tokens"], exact_b, tmp)
            if rc_e != 0 or e is None:
                return False, why_failed(rc_e, err_e)
            bound = max(rel_max, 2 * figures(e.reshape(ref.shape), b.reshape(ref.shape))["rel_l2"])
        ok, text = verdict(figures(a.reshape(ref.shape), b.reshape(ref.shape)), bound, bound * bound, 0.9)
        return ok, f"{text} (bound {bound:.2e})"
    return name, go


def case_cache_ladder(name, model, args):
    """Each quantized cache type against the same run over an f32 cache: q8_0 within the
    reference tolerance, and every 2 bits fewer at most 8x the error (the step grows 4x)
    and never less than the finer type's."""
    def go(tmp):
        j, ref = load_fixture(model)
        rc, err, exact = run_logits(model, j["tokens"], args + ["-ctk", "f32", "-ctv", "f32"], tmp)
        if rc != 0 or exact is None:
            return False, why_failed(rc, err)
        errs = []
        for ct in ["q8_0", "q6_0", "q4_0"]:
            rc, err, got = run_logits(model, j["tokens"], args + ["-ctk", ct, "-ctv", ct], tmp)
            if rc != 0 or got is None:
                return False, f"{ct}: {why_failed(rc, err)}"
            errs.append(figures(exact.reshape(ref.shape), got.reshape(ref.shape))["rel_l2"])
        e8, e6, e4 = errs
        ok = e8 < REL_L2_MAX and e8 < e6 <= 8 * e8 and e6 < e4 <= 8 * e6
        return ok, f"relL2 vs f32 cache: q8_0 {e8:.2e}, q6_0 {e6:.2e}, q4_0 {e4:.2e}"
    return name, go


def case_greedy(name, model, base, args):
    """Teacher forcing: argmax of row prompt_len-1+i must equal greedy_continuation[i]."""
    def go(tmp):
        j, _ = load_fixture(base)
        n = j["greedy_prompt_len"]
        cont = j["greedy_continuation"]
        toks = j["tokens"][:n] + cont
        rc, err, got = run_logits(model, toks, args, tmp)
        if rc != 0 or got is None:
            return False, why_failed(rc, err)
        if got.size != len(toks) * j["n_vocab"]:
            return False, f"{got.size} logits written, expected {len(toks) * j['n_vocab']}"
        am = got.reshape(len(toks), j["n_vocab"]).argmax(axis=1)
        pred = [int(am[n - 1 + i]) for i in range(len(cont))]
        if pred != cont:
            k = next(i for i in range(len(cont)) if pred[i] != cont[i])
            return False, f"step {k}: latte picks {pred[k]}, reference {cont[k]} (got {pred}, want {cont})"
        return True, f"{len(cont)} greedy tokens match"
    return name, go


def case_past_context(name, model, base, args):
    """More tokens than -c: non-zero exit (no signal) and one error line, the last on stderr."""
    def go(tmp):
        j, _ = load_fixture(base)
        fd, out = tempfile.mkstemp(suffix=".f32", dir=tmp)
        os.close(fd)
        cmd = [LATTE, "logits", "-m", os.path.join(FIX, model + ".gguf"),
               "--tokens", ",".join(map(str, j["tokens"])), "-o", out, "-c", "8", "-t", "1"] + args
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               errors="replace", timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            return False, f"timed out after {TIMEOUT}s"
        finally:
            if os.path.exists(out):
                os.remove(out)
        errl = lines(p.stderr)
        if p.returncode <= 0:
            return False, f"exit status {p.returncode} (want a non-zero exit, not a signal)"
        # informational lines printed before the failure (the attention mode) are allowed; the
        # failure itself is one line, the last, and nothing else looks like an error
        bad = [l for l in errl if re.search(r"error|abort|assert|sanitizer|panic", l, re.I)]
        if len(bad) != 1 or bad[0] != errl[-1]:
            return False, f"want one error line, last on stderr; got {len(bad)} of {len(errl)}: {errl[-3:]}"
        return True, f"exit {p.returncode}: {errl[-1].strip()[:160]}"
    return name, go


def build_cases():
    cases = []
    modes = [0, 1, 2, 3]
    fas = [False, True]
    incs = [False, True]
    for model, base in MODELS:
        for mla in modes:
            for fa in fas:
                for inc in incs:
                    for t in [1, 2]:
                        args = ["-mla", str(mla), "-t", str(t)] + (["-fa"] if fa else []) + \
                            (["--incremental"] if inc else [])
                        name = f"{model} mla{mla} fa{'on' if fa else 'off'} {'incr' if inc else 'batch'} t{t}"
                        cases.append(case_compare(name, model, base, args))
                # three sequences of different lengths in one batch, and one token of each per step
                for inc in incs:
                    args = ["-mla", str(mla), "-t", "2", "-ub", "16"] + (["-fa"] if fa else []) + \
                        (["--incremental"] if inc else [])
                    name = f"{model} mla{mla} fa{'on' if fa else 'off'} 3 sequences {'incr' if inc else 'batch'}"
                    cases.append(case_multi(name, model, base, args))
        cases.append(case_compare(f"{model} mla3 faon ub7", model, base, ["-mla", "3", "-fa", "-ub", "7"]))
        cases.append(case_compare(f"{model} mla0 faoff ub7", model, base, ["-mla", "0", "-ub", "7", "-b", "16"]))
        cases.append(case_greedy(f"{model} greedy mla0", model, base, ["-mla", "0"]))
        cases.append(case_greedy(f"{model} greedy mla3 faon", model, base, ["-mla", "3", "-fa"]))
    # hybrid placement over CPU, CPU1, CPU2: layers apart, experts apart, output apart, automatic
    placements = [("layers 0,2 on CPU1, experts CPU2, output CPU2",
                   ["-ot", r"blk\.[02]\.=CPU1", "-ot", "exps=CPU2", "-ot", "^output=CPU2"]),
                  ("-ngl 999 -ot exps=CPU", ["-ngl", "999", "-ot", "exps=CPU"]),
                  ("-ngl 1 on CPU1, rest CPU", ["-ngl", "1"]),
                  ("automatic fit", [])]
    for model, base in MODELS:
        for label, place in placements:
            for mla, fa, inc in [(3, True, False), (0, False, True), (1, False, False)]:
                args = ["-mla", str(mla), "-t", "2"] + (["-fa"] if fa else []) + (["--incremental"] if inc else [])
                cases.append(case_devices(f"{model} devices {label} mla{mla} {'incr' if inc else 'batch'}",
                                          model, base, place, args))
    # cache types
    for ct in ["f32", "f16"]:
        for mla in [0, 1, 3]:
            cases.append(case_compare(f"ds3-tiny mla{mla} ctk/ctv {ct}", "ds3-tiny", "ds3-tiny",
                                      ["-mla", str(mla), "-ctk", ct, "-ctv", ct]))
        cases.append(case_compare(f"qwen2-tiny ctk/ctv {ct}", "qwen2-tiny", "qwen2-tiny",
                                  ["-ctk", ct, "-ctv", ct]))
    # lossy cache types: within the reference's tolerance where the model allows it (the
    # random MLA fixtures amplify latent rounding: bf16 on c alone moves their logits ~8%, as
    # numpy shows), and every MLA mode computes the same function over the same cache type
    for ct in ["bf16", "q8_0"]:
        cases.append(case_compare(f"qwen2-tiny ctk/ctv {ct}", "qwen2-tiny", "qwen2-tiny", ["-ctk", ct, "-ctv", ct]))
    for ct in ["bf16", "q8_0"]:
        for mla in [1, 2]:
            cases.append(case_modes_agree(f"ds3-tiny ctk {ct} mla{mla} = mla3", "ds3-tiny", "ds3-tiny",
                                          ["-mla", str(mla), "-ctk", ct], ["-mla", "3", "-ctk", ct],
                                          rel_max=2e-2 if mla == 1 else 1e-3, exact_b=["-mla", "3", "-ctk", "f32"]))
    cases.append(case_compare("ds3-tiny mla3 ctk q8_0", "ds3-tiny", "ds3-tiny", ["-mla", "3", "-ctk", "q8_0"]))
    # q6_0 and q4_0 move ds3-tiny's logits past the linear regime (q6_0 20% where q8_0 is 1%):
    # the smaller-gain ds2lite-tiny and qwen2-tiny fixtures check them
    for a, b in [(["-mla", "1"], ["-mla", "3"]), (["-mla", "2"], ["-mla", "3"]), (["-mla", "0", "-fa"], ["-mla", "0"])]:
        q6 = ["-ctk", "q6_0", "-ctv", "q6_0"]
        cases.append(case_modes_agree(f"ds2lite-tiny ctk q6_0 {' '.join(a)} = {' '.join(b)}", "ds2lite-tiny",
                                      "ds2lite-tiny", a + q6, b + q6, rel_max=1e-3,
                                      exact_b=b + ["-ctk", "f32", "-ctv", "f32"]))
    for model, args in [("qwen2-tiny", []), ("ds2lite-tiny", ["-mla", "3"]), ("ds2lite-tiny", ["-mla", "0", "-fa"]),
                        ("ds2lite-tiny", ["-mla", "2"])]:
        cases.append(case_cache_ladder(f"{' '.join([model] + args)} cache types q8_0 < q6_0 < q4_0", model, args))
    # --k-cache-hadamard rotates keys and queries alike (and the latent output back): over an
    # f32 cache the function is unchanged up to rounding, in every mode, FA on and off
    for model in ["ds3-tiny", "ds2lite-tiny", "qwen2-tiny"]:
        for mla, fa in [(0, False), (0, True), (1, False), (2, True), (3, False), (3, True)]:
            if model == "qwen2-tiny" and mla:
                continue
            args = ["-mla", str(mla), "-ctk", "f32", "-ctv", "f32"] + (["-fa"] if fa else [])
            cases.append(case_modes_agree(f"{model} -khad identity mla{mla}{' fa' if fa else ''}", model, model,
                                          args + ["-khad"], args, rel_max=1e-4))
    # a model without MLA given -mla: one warning, standard attention
    cases.append(case_compare("qwen2-tiny mla3 warns once", "qwen2-tiny", "qwen2-tiny",
                              ["-mla", "3"], check_warning=True))
    # running past the context size
    cases.append(case_past_context("ds3-tiny past -c 8 batch", "ds3-tiny", "ds3-tiny", ["-mla", "3"]))
    cases.append(case_past_context("qwen2-tiny past -c 8 incr", "qwen2-tiny", "qwen2-tiny", ["--incremental"]))
    cases.append(case_past_context("ds2lite-tiny past -c 8 mla0", "ds2lite-tiny", "ds2lite-tiny", ["-mla", "0"]))
    return cases


def main():
    if not os.path.isdir(FIX):
        print(f"SKIP fixtures: no fixture folder at {FIX}")
        return 0
    if not os.access(LATTE, os.X_OK):
        msg = f"fixtures: no engine binary at {LATTE} (run make)"
        if os.environ.get("CI") == "true":
            print("FAIL " + msg)
            return 1
        print("SKIP " + msg)
        return 0
    cases = build_cases()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="latte-fix-") as tmp:
        def run(case):
            name, go = case
            try:
                ok, text = go(tmp)
            except Exception as e:  # a broken case is a failure of that case, not of the file
                ok, text = False, f"{type(e).__name__}: {e}"
            return name, ok, text
        with ThreadPoolExecutor(max_workers=JOBS) as ex:
            for name, ok, text in ex.map(run, cases):
                print(f"{'PASS' if ok else 'FAIL'} {name}{': ' if not ok else ' '}{text}", flush=True)
                failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
