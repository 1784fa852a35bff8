#!/usr/bin/env python3
"""The CUDA build (make CUDA=1, nvcc for sm_80/86/89/90) compiles and links, into its own
folder (build-cuda-ci, kept between runs so a rerun only rebuilds what changed); its
binaries carry no dynamic PCRE2, utf8proc, Jansson, libedit, libmicrohttpd or cudart (they must run on a GPU machine
that lacks them); then runs its test_cuda_ops, whose PASS/FAIL/SKIP lines pass through (on a
machine without a GPU it prints `SKIP cuda: no GPU`). SKIP when nvcc is absent."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import ROOT, Reporter  # noqa: E402

BUILD = os.environ.get("LATTE_CUDA_BUILD", "build-cuda-ci")
CUDA_HOME = os.environ.get("CUDA_HOME", "/usr/local/cuda")


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
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
