#!/usr/bin/env python3
"""The one test runner. Runs every C test program (build/test_*) and every Python
check (tests/check_*.py); each prints one line per case, `PASS name` or
`FAIL name: why` (and `SKIP name: why`). Ends with `N passed, N failed`.

LATTE_BUILD=build-san runs the same suite over the sanitizer build; --san runs it
over build/ and then over build-san/ (AddressSanitizer + UBSan), one tally for both.
Arguments filter groups by substring (e.g. `run_tests.py gguf fixtures`)."""
import os, re, subprocess, sys, glob, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LATTE_BUILD", "build")


def groups(build):
    for exe in sorted(glob.glob(os.path.join(ROOT, build, "test_*"))):
        if os.access(exe, os.X_OK) and not exe.endswith(".d"):
            yield os.path.basename(exe), [exe]
    for py in sorted(glob.glob(os.path.join(ROOT, "tests", "check_*.py"))):
        yield os.path.basename(py), [sys.executable, py]


def main():
    filt = [a for a in sys.argv[1:] if not a.startswith("--")]
    builds = [BUILD, "build-san"] if "--san" in sys.argv else [BUILD]
    passed = failed = skipped = 0
    for build in builds:
        p, f, s = run_build(build, filt)
        passed, failed, skipped = passed + p, failed + f, skipped + s
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 1 if failed else 0


# the fuzz target is built with sanitizers of its own: one run is enough
SAN_SKIP = {"check_fuzz.py"}


def run_build(build, filt):
    passed = failed = skipped = 0
    env = dict(os.environ, LATTE_BUILD=build, LATTE_ROOT=ROOT)
    for name, cmd in groups(build):
        if filt and not any(f in name for f in filt):
            continue
        if build != BUILD and name in SAN_SKIP:
            continue
        t0 = time.time()
        print(f"== [{build}] {name}", flush=True)
        p = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="replace")
        gp = gf = 0
        for line in p.stdout.splitlines():
            if line.startswith("PASS "):
                gp += 1
            elif line.startswith("FAIL "):
                gf += 1
                print("  " + line)
            elif line.startswith("SKIP "):
                skipped += 1
                print("  " + line)
        if p.returncode != 0 and gf == 0:
            gf += 1
            print(f"  FAIL {name}: exit status {p.returncode}")
            print("\n".join("    " + l for l in p.stdout.splitlines()[-15:]))
        print(f"   {gp} passed, {gf} failed ({time.time() - t0:.1f}s)", flush=True)
        passed += gp
        failed += gf
    return passed, failed, skipped


if __name__ == "__main__":
    sys.exit(main())
