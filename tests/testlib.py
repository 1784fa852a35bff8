"""testlib.py: what the Python checks share: where the repo, the engine binary and the
shared fixtures are (overridable by LATTE_ROOT, LATTE_BUILD, LATTE_SHARED, LATTE_FIXTURES),
and the one-line-per-case protocol of tests/run_tests.py."""
import os

ROOT = os.environ.get("LATTE_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LATTE_BUILD", "build")
LATTE = os.path.join(ROOT, BUILD, "latte")
SHARED = os.environ.get("LATTE_SHARED") or os.path.join(os.path.dirname(ROOT), "shared")
FIX = os.environ.get("LATTE_FIXTURES") or os.path.join(SHARED, "fixtures")
SAN = os.path.basename(os.path.normpath(BUILD)) == "build-san"


class Reporter:
    """report(name, ok, why) prints `PASS name` or `FAIL name: why` and counts failures."""

    def __init__(self):
        self.failed = 0

    def __call__(self, name, ok, why=""):
        if ok:
            print(f"PASS {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {why}")
