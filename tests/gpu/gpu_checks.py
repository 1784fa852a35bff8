#!/usr/bin/env python3
"""gpu_checks.py: the engine on a GPU against the same binary on the CPU, end to end.

For each fixture model: `latte logits` with every weight on the GPU (-ngl 999) in every MLA
mode x flash attention off/on, token by token (--incremental), several micro-batches (-ub 7),
two sequences in one batch, other cache types, and hybrid placement (-ot exps=CPU: attention
on the GPU, routed experts on the CPU); each compared with the CPU's logits (-ngl 0) and with
the transformers reference, within the fixture tolerances (relative L2 < 2%, mean KL < 1e-3,
arg-max >= 95%). Then the trained tiny-mla model: GPU vs CPU logits on a text, and
`latte bench` tok/s both ways. Pure Python (the GPU machine may lack numpy).

Without a GPU (the CI), it prints one `SKIP gpu: ...` line and exits 0.

    python3 tests/gpu/gpu_checks.py --latte build-cuda/latte --fixtures DIR [--tiny-mla FILE] [--out DIR]
"""
import argparse, array, json, math, os, subprocess, sys, tempfile, time

REL_L2_MAX, KL_MAX, ARGMAX_MIN = 0.02, 1e-3, 0.95
failed = 0


def report(name, ok, text):
    global failed
    if not ok:
        failed += 1
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' if text else ''}{text}", flush=True)


def figures(ref, test, V):
    """rel L2, mean KL(ref || test) (softmax in float64), arg-max agreement."""
    if len(ref) != len(test):
        return dict(rel_l2=math.inf, kl=math.inf, argmax=0.0)
    if any(not math.isfinite(x) for x in test):
        return dict(rel_l2=math.inf, kl=math.inf, argmax=0.0)
    num = sum((a - b) ** 2 for a, b in zip(ref, test))
    den = sum(a * a for a in ref)
    rows, kl, agree = len(ref) // V, 0.0, 0
    for i in range(rows):
        r, t = ref[i * V:(i + 1) * V], test[i * V:(i + 1) * V]
        mr, mt = max(r), max(t)
        lr = math.log(sum(math.exp(x - mr) for x in r))
        lt = math.log(sum(math.exp(x - mt) for x in t))
        kl += sum(math.exp(a - mr - lr) * ((a - mr - lr) - (b - mt - lt)) for a, b in zip(r, t))
        agree += r.index(mr) == t.index(mt)
    return dict(rel_l2=math.sqrt(num / max(den, 1e-30)), kl=kl / rows, argmax=agree / rows)


def verdict(f):
    text = f"relL2={f['rel_l2']:.2e} KL={f['kl']:.2e} argmax={f['argmax']:.3f}"
    return f["rel_l2"] < REL_L2_MAX and f["kl"] < KL_MAX and f["argmax"] >= ARGMAX_MIN, text


def read_f32(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a.tolist()


def logits(latte, model, token_lists, args, tmp, timeout=60):
    """(rc, stderr, logits list or None)"""
    fd, out = tempfile.mkstemp(suffix=".f32", dir=tmp)
    os.close(fd)
    cmd = [latte, "logits", "-m", model, "-o", out, "-c", "256"] + args
    for t in token_lists:
        cmd += ["--tokens", ",".join(map(str, t))]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout}s", None
    res = read_f32(out) if p.returncode == 0 and os.path.getsize(out) else None
    os.remove(out)
    return p.returncode, p.stderr, res


def gpu_present(latte, model):
    p = subprocess.run([latte, "info", "--plan", "-ngl", "999", model], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, errors="replace")
    return "CUDA0" in p.stdout, p.stdout


def fixture_checks(latte, fix, tmp):
    models = [("ds2lite-tiny", "ds2lite-tiny"), ("ds3-tiny", "ds3-tiny"), ("qwen2-tiny", "qwen2-tiny")]
    for name, base in models:
        path = os.path.join(fix, name + ".gguf")
        if not os.path.exists(path):
            print(f"SKIP gpu.{name}: {path} not found")
            continue
        with open(os.path.join(fix, base + ".json")) as f:
            j = json.load(f)
        V, toks = j["n_vocab"], j["tokens"]
        ref = read_f32(os.path.join(fix, j["logits"]))
        mla = name != "qwen2-tiny"
        cases = []  # (label, args shared by GPU and CPU runs, GPU-only args)
        for mode in ([0, 1, 2, 3] if mla else [None]):
            for fa in ("off", "on"):
                a = (["-mla", str(mode)] if mode is not None else []) + ["-fa", fa]
                cases.append((f"mla{mode if mode is not None else '-'}.fa{fa}", a, ["-ngl", "999"]))
        m3 = ["-mla", "3"] if mla else []
        cases += [("incremental", m3 + ["--incremental"], ["-ngl", "999"]),
                  ("ub7", m3 + ["-ub", "7"], ["-ngl", "999"]),
                  ("ctk_f32", m3 + ["-ctk", "f32", "-ctv", "f32"], ["-ngl", "999"]),
                  ("ctk_q8_0", m3 + ["-ctk", "q8_0"], ["-ngl", "999"]),
                  ("ctk_bf16", (["-mla", "2"] if mla else []) + ["-ctk", "bf16", "-ctv", "bf16"], ["-ngl", "999"])]
        if mla:
            cases += [(f"hybrid_exps_cpu.mla{m}", ["-mla", str(m)], ["-ngl", "999", "-ot", "exps=CPU"])
                      for m in (0, 3)]
            cases += [("ngl1.mla3", ["-mla", "3"], ["-ngl", "1"])]
        for label, shared, gpu_only in cases:
            t0 = time.time()
            rc_c, err_c, cpu = logits(latte, path, [toks], shared + ["-ngl", "0"], tmp)
            rc_g, err_g, gpu = logits(latte, path, [toks], shared + gpu_only, tmp)
            dt = time.time() - t0
            if cpu is None or gpu is None:
                why = (err_g or err_c or "").strip().splitlines()[-3:]
                report(f"gpu.{name}.{label}", False, f"rc cpu {rc_c} gpu {rc_g}: {' | '.join(why)}")
                continue
            ok1, t1 = verdict(figures(cpu, gpu, V))
            ok2, t2 = verdict(figures(ref, gpu, V))
            # a rounded cache may swap near-tied experts of the random fixtures against the
            # f32 reference (fixtures/README.md); GPU vs CPU is what must hold there
            strict_ref = "ctk_q8_0" not in label and "bf16" not in label
            report(f"gpu.{name}.{label}", ok1 and (ok2 or not strict_ref),
                   f"vs CPU {t1}; vs reference {t2} ({dt:.1f}s)")
        # two sequences in one batch, each equal to itself alone on the GPU
        half = len(toks) // 2
        rc, err, both = logits(latte, path, [toks[:half], toks[half:]], m3 + ["-ngl", "999"], tmp)
        _, _, a = logits(latte, path, [toks[:half]], m3 + ["-ngl", "999"], tmp)
        _, _, b = logits(latte, path, [toks[half:]], m3 + ["-ngl", "999"], tmp)
        if both is None or a is None or b is None:
            report(f"gpu.{name}.two_seqs", False, (err or "").strip()[-200:])
        else:
            ok, t = verdict(figures(a + b, both, V))
            report(f"gpu.{name}.two_seqs", ok, t)


def tiny_mla_checks(latte, model, tmp):
    if not model or not os.path.exists(model):
        print(f"SKIP gpu.tiny_mla: {model} not found")
        return
    p = subprocess.run([latte, "tokenize", "-m", model, "-p",
                        "To create a new table, use the following command. The database keeps every row in a page"
                        " of eight kilobytes, and an index points at the rows by their position."],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    toks = [int(l.split()[0]) for l in p.stdout.splitlines() if l.split() and l.split()[0].isdigit()]
    if not toks:
        toks = list(range(100, 164))
    for mode in (0, 1, 2, 3):
        for fa in ("off", "on"):
            shared = ["-mla", str(mode), "-fa", fa]
            _, err_c, cpu = logits(latte, model, [toks], shared + ["-ngl", "0"], tmp)
            _, err_g, gpu = logits(latte, model, [toks], shared + ["-ngl", "999"], tmp)
            if cpu is None or gpu is None:
                report(f"gpu.tiny_mla.mla{mode}.fa{fa}", False, (err_g or err_c).strip()[-200:])
                continue
            ok, t = verdict(figures(cpu, gpu, len(cpu) // len(toks)))
            report(f"gpu.tiny_mla.mla{mode}.fa{fa}", ok, f"vs CPU {t} ({len(toks)} tokens)")
    bench(latte, model)


def bench(latte, model):
    """tok/s of prompt processing and generation: all on the GPU, all on the CPU, hybrid"""
    for label, flags in (("GPU", ["-ngl", "999"]), ("CPU", ["-ngl", "0"]),
                         ("hybrid", ["-ngl", "999", "-ot", "exps=CPU"])):
        p = subprocess.run([latte, "bench", "-m", model, "-p", "512", "-n", "128", "-r", "3", "-mla", "3", "-fa", "1"]
                           + flags, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
        print(f"bench {label} ({' '.join(flags)}), rc {p.returncode}:\n{p.stdout}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--latte", default="build-cuda/latte")
    ap.add_argument("--fixtures", default=os.environ.get("LATTE_FIXTURES", "../shared/fixtures"))
    ap.add_argument("--tiny-mla", default=None)
    ap.add_argument("--only", choices=["fixtures", "tiny"], default=None)
    a = ap.parse_args()
    probe = os.path.join(a.fixtures, "ds3-tiny.gguf")
    if not os.path.exists(a.latte):
        print(f"SKIP gpu: {a.latte} not built (make CUDA=1)")
        return 0
    if not os.path.exists(probe) and a.tiny_mla:
        probe = a.tiny_mla
    have, plan = gpu_present(a.latte, probe)
    if not have:
        print("SKIP gpu: no CUDA device (latte info --plan -ngl 999 places nothing on CUDA0)")
        return 0
    print(plan, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if a.only in (None, "fixtures"):
            fixture_checks(a.latte, a.fixtures, tmp)
            if not (a.tiny_mla and os.path.exists(a.tiny_mla)) and os.path.exists(probe):
                bench(a.latte, probe)
        if a.only in (None, "tiny"):
            tiny_mla_checks(a.latte, a.tiny_mla, tmp)
    print(f"gpu checks: {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
