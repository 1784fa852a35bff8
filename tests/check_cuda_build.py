#!/usr/bin/env python3
"""The CUDA build (make CUDA=1, nvcc for sm_80/86/89/90) compiles and links, into its own
folder (build-cuda-ci, kept between runs so a rerun only rebuilds what changed); its
binaries carry no dynamic PCRE2, utf8proc, Jansson, libedit, libmicrohttpd or cudart (they must run on a GPU machine
that lacks them); then runs its test_cuda_ops, whose PASS/FAIL/SKIP lines pass through (on a
machine without a GPU it prints `SKIP cuda: no GPU`). Without a GPU, also: the CUDA build's
`latte info --plan -ngl 999` keeps everything on the CPU and says why, `latte logits -ngl 999`
runs, and tests/gpu/gpu_checks.py skips in one line. SKIP when nvcc is absent."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import FIX, ROOT, Reporter  # noqa: E402

BUILD = os.environ.get("LATTE_CUDA_BUILD", "build-cuda-ci")
CUDA_HOME = os.environ.get("CUDA_HOME", "/usr/local/cuda")


def no_gpu_checks(report, latte):
    """The CUDA build on a host without a GPU: -ngl places nothing on a GPU and says so, a
    logits run with -ngl 999 works on the CPU, and the GPU checks skip with one line."""
    model = os.path.join(FIX, "ds3-tiny.gguf")
    if not os.path.exists(model):
        print(f"SKIP cuda_build.no_gpu: {model} not found")
        return
    p = subprocess.run([latte, "info", "--plan", "-ngl", "999", model], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, errors="replace")
    report("cuda_build.no_gpu.plan", p.returncode == 0 and "CUDA" not in p.stdout and
           "everything on the CPU" in p.stdout and "no GPU" in p.stdout, p.stdout.strip()[-300:])
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "l.f32")
        p = subprocess.run([latte, "logits", "-m", model, "-ngl", "999", "-c", "64", "-t", "1", "--tokens", "0,5,9",
                            "-o", out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        ok = p.returncode == 0 and os.path.getsize(out) == 3 * 1024 * 4
        report("cuda_build.no_gpu.logits", ok, p.stdout.strip()[-300:])
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "gpu", "gpu_checks.py"), "--latte", latte,
                        "--fixtures", FIX], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = p.stdout.strip().splitlines()
    report("cuda_build.no_gpu.gpu_checks_skip", p.returncode == 0 and len(lines) == 1 and
           lines[0].startswith("SKIP gpu:"), p.stdout.strip()[-300:])


def main():
    report = Reporter()
    nvcc = shutil.which("nvcc") or os.path.join(CUDA_HOME, "bin", "nvcc")
    if not os.access(nvcc, os.X_OK):
        print("SKIP cuda_build: nvcc not found (PATH or CUDA_HOME/bin)")
        return 0
    jobs = os.environ.get("LATTE_JOBS", "2")
    p = subprocess.run(["make", "CUDA=1", f"BUILD_DIR={BUILD}", f"NVCC={nvcc}", f"-j{jobs}", "all"], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    tail = " | ".join(l for l in p.stdout.splitlines()[-6:] if l.strip())
    report("cuda_build.make", p.returncode == 0, f"make CUDA=1 failed: {tail}")
    if p.returncode != 0:
        return 1
    exes = [os.path.join(ROOT, BUILD, n) for n in ("latte", "test_cuda_ops", "bench_cuda_decode")]
    report("cuda_build.binaries", all(os.access(e, os.X_OK) for e in exes), "a CUDA build binary is missing")
    ldd = shutil.which("ldd")
    if ldd:
        for e in exes[:2]:
            out = subprocess.run([ldd, e], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout
            bad = [l.split()[0] for l in out.splitlines()
                   if any(s in l for s in ("pcre2", "utf8proc", "jansson", "libedit", "microhttpd", "cudart"))]
            report(f"cuda_build.static_deps.{os.path.basename(e)}", not bad, f"links dynamically: {bad}")
    t = subprocess.run([exes[1]], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace")
    for line in t.stdout.splitlines():
        if line.startswith(("PASS ", "FAIL ", "SKIP ")):
            print(line)
    report("cuda_build.test_cuda_ops_exit", t.returncode == 0, f"test_cuda_ops exited {t.returncode}")
    if "SKIP cuda: no GPU" in t.stdout:
        no_gpu_checks(report, exes[0])
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
