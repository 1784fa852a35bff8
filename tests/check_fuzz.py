#!/usr/bin/env python3
"""Bounded libFuzzer run of the GGUF reader (tests/fuzz/fuzz_gguf.c).
Builds build-fuzz/fuzz_gguf with `make fuzz` (clang, -fsanitize=fuzzer,address,undefined),
seeds a corpus with the first 64 KB of each fixture plus a small complete file written
here, runs for LATTE_FUZZ_SECONDS (default 60) and fails on any crash, leak, sanitizer
report or UBSan "runtime error". SKIP when clang or its fuzzer runtime
(Debian: libclang-rt-14-dev) is missing."""
import glob
import os
import shutil
import struct
import subprocess
import sys

ROOT = os.environ.get("LATTE_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("LATTE_SHARED") or os.path.join(ROOT, "..", "shared")
SECONDS = int(os.environ.get("LATTE_FUZZ_SECONDS", "60"))


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def small_gguf():
    """A complete v3 file: a few keys of each kind and tensors f32, f16, q8_0, q4_K with data."""
    kv = [gguf_str("general.architecture") + struct.pack("<I", 8) + gguf_str("llama"),
          gguf_str("general.alignment") + struct.pack("<II", 4, 32),
          gguf_str("llama.rope.freq_base") + struct.pack("<If", 6, 10000.0),
          gguf_str("flag") + struct.pack("<IB", 7, 1),
          gguf_str("ids") + struct.pack("<IIQ", 9, 5, 3) + struct.pack("<3i", -1, 2, 3),
          gguf_str("toks") + struct.pack("<IIQ", 9, 8, 2) + gguf_str("a") + gguf_str("bc")]
    tensors = [("t.f32", [4, 2], 0, 32), ("t.f16", [8], 1, 16), ("t.q8", [32], 8, 34), ("t.q4k", [256], 12, 144)]
    info, off = b"", 0
    for name, ne, typ, nbytes in tensors:
        info += gguf_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        info += struct.pack("<IQ", typ, off)
        off += (nbytes + 31) // 32 * 32
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)) + b"".join(kv) + info
    head += b"\0" * (-len(head) % 32)
    return head + bytes((i * 37) & 0xff for i in range(off))


def main():
    if not shutil.which("clang"):
        print("SKIP fuzz_gguf: clang not installed (Debian: clang-14 libclang-rt-14-dev)")
        return 0
    # CPATH lets clang find include/latte.h whether or not the Makefile's fuzz rule passes -Iinclude
    env = dict(os.environ, CPATH=os.path.join(ROOT, "include"))
    b = subprocess.run(["make", "-s", "fuzz"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if b.returncode != 0:
        if "cannot find" in b.stdout and "fuzzer" in b.stdout.lower():
            print("SKIP fuzz_gguf: clang's libFuzzer runtime is missing (Debian: libclang-rt-14-dev)")
            return 0
        print("FAIL fuzz_build: make fuzz failed: " + " | ".join(b.stdout.strip().splitlines()[-3:]))
        return 1
    print("PASS fuzz_build")
    work = os.path.join(ROOT, "build-fuzz")
    corpus = os.path.join(work, "corpus")
    shutil.rmtree(corpus, ignore_errors=True)
    os.makedirs(corpus)
    for f in sorted(glob.glob(os.path.join(SHARED, "fixtures", "*.gguf"))):
        with open(f, "rb") as src, open(os.path.join(corpus, os.path.basename(f)), "wb") as dst:
            dst.write(src.read(65536))
    with open(os.path.join(corpus, "small.gguf"), "wb") as dst:
        dst.write(small_gguf())
    cmd = [os.path.join(work, "fuzz_gguf"), f"-max_total_time={SECONDS}", "-rss_limit_mb=2048",
           "-timeout=10", "-max_len=65536", "-print_final_stats=1",
           "-artifact_prefix=" + work + "/", corpus]
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       errors="replace", timeout=SECONDS + 120)
    out = r.stdout
    bad = [l for l in out.splitlines() if "runtime error:" in l or "ERROR: AddressSanitizer" in l
           or "ERROR: libFuzzer" in l or "ERROR: LeakSanitizer" in l]
    runs = [l for l in out.splitlines() if l.startswith("stat::number_of_executed_units")]
    if r.returncode != 0 or bad:
        tail = bad[:3] or out.strip().splitlines()[-5:]
        print(f"FAIL fuzz_gguf: exit {r.returncode}: " + " | ".join(tail) + f" (artifacts in {work})")
        return 1
    if not runs or int(runs[0].split(":")[-1]) < 1000:
        print("FAIL fuzz_gguf: the fuzzer ran too few inputs: " + (runs[0] if runs else "no stats"))
        return 1
    print(f"PASS fuzz_gguf ({runs[0].split(':')[-1].strip()} inputs in {SECONDS}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
