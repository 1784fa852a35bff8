#!/usr/bin/env python3
"""End-to-end checks of `latte run` on the random fixtures (ds3-tiny, qwen2-tiny) and the
trained tiny-mla model: greedy output equals the arg-max chain of `latte logits`, a seed
repeats and different seeds differ, -n limits, --stop cuts before the stop string, a full
context stops cleanly, bad flags exit 2 with one line, timings on stderr, --chat.
Env: LATTE_BUILD, LATTE_ROOT, LATTE_SHARED."""
import os, re, subprocess, sys, tempfile

import numpy as np

from testlib import LATTE, ROOT, SHARED, Reporter  # noqa: E402
from testlib import FIX  # noqa: E402
TINY_MLA = os.path.join(SHARED, "models", "tiny-mla.gguf")
ENG = ["-c", "512", "-t", "2"]
PROMPT = "hello world, this is a test"

sys.path.insert(0, os.path.join(ROOT, "tools", "ref"))
from gguf_meta import GGUFMeta  # noqa: E402

report = Reporter()


def latte(*args, timeout=120):
    p = subprocess.run([LATTE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def run(model, *args):
    return latte("run", "-m", model, "-p", PROMPT, *ENG, *args)


def byte_decoder():
    """GPT-2's byte-level BPE alphabet, inverted: vocabulary character -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def whole_chars(b):
    """b without a UTF-8 character the end cut in half (run never prints half a character)."""
    for back in range(1, min(4, len(b)) + 1):
        c = b[-back]
        if c & 0xC0 == 0x80:
            continue
        need = 1 if c < 0x80 else 2 if c & 0xE0 == 0xC0 else 3 if c & 0xF0 == 0xE0 else 4 if c & 0xF8 == 0xF0 else 1
        return b[:-back] if need > back else b
    return b


def greedy_chain(model, n):
    """Token ids of the greedy continuation of PROMPT, one `latte logits` call per step."""
    rc, out, err = latte("tokenize", "-m", model, "-p", PROMPT, "--ids")
    ids = [int(x) for x in out.decode().strip()[1:-1].split(",")]
    with tempfile.TemporaryDirectory() as td:
        path = os.path.join(td, "l.f32")
        for _ in range(n):
            rc, _, err = latte("logits", "-m", model, "--tokens", ",".join(map(str, ids)), "-o", path, *ENG)
            if rc:
                raise RuntimeError(err.strip())
            ids.append(int(np.fromfile(path, dtype="<f4")[-1024:].argmax()))
    return ids[-n:]


def check_model(name):
    model = os.path.join(FIX, name + ".gguf")
    meta = GGUFMeta(model)
    vocab = meta.get("tokenizer.ggml.tokens")
    types = meta.get("tokenizer.ggml.token_type") or [1] * len(vocab)
    dec = byte_decoder()

    # greedy: stdout is the bytes of the arg-max chain (stopping at a control token, which may be EOG)
    n = 6
    chain = greedy_chain(model, n)
    want = b""
    for t in chain:
        if types[t] == 3:
            break
        want += bytes(dec[ch] for ch in vocab[t])
    want = whole_chars(want)
    rc, out, err = run(model, "--temp", "0", "-n", str(n))
    report(f"run_greedy_{name}", rc == 0 and out == want, f"rc {rc}, got {out!r}, want {want!r} (ids {chain})")

    # stats on stderr
    ok = all(k in err for k in ("load:", "prompt:", "generated:")) and err.count("tokens/s") >= 2
    report(f"run_stats_{name}", ok, f"stderr: {err!r}")

    # the same seed repeats, different seeds differ
    a = run(model, "--temp", "1", "--seed", "7", "-n", "12")[1]
    b = run(model, "--temp", "1", "--seed", "7", "-n", "12")[1]
    report(f"run_seed_repeats_{name}", a == b and len(a) > 0, f"{a!r} vs {b!r}")
    outs = {run(model, "--temp", "1", "--seed", str(s), "-n", "12")[1] for s in (1, 2, 3, 4)}
    report(f"run_seeds_differ_{name}", len(outs) > 1, f"seeds 1..4 all gave {outs!r}")

    # -n limits: a greedy prefix, and the count on stderr
    rc, long_out, _ = run(model, "--temp", "0", "-n", "24")
    rc2, short_out, err = run(model, "--temp", "0", "-n", "3")
    ok = rc == 0 and rc2 == 0 and long_out.startswith(short_out) and len(short_out) < len(long_out) \
        and "generated:      3 tokens" in err
    report(f"run_n_limit_{name}", ok, f"-n 3 gave {short_out!r} ({err.strip().splitlines()[-1]!r}), -n 24 {long_out!r}")

    # --stop: a printable pair of bytes from the middle of the greedy output
    stop = None
    for k in range(len(long_out) // 3, len(long_out) - 1):
        s = long_out[k:k + 2]
        if all(0x21 <= c < 0x7f for c in s):
            stop = s
            break
    if stop is None:
        print(f"SKIP run_stop_{name}: no printable pair in {long_out!r}")
    else:
        rc, out, err = run(model, "--temp", "0", "-n", "24", "--stop", stop.decode())
        want = long_out[:long_out.find(stop)]
        report(f"run_stop_{name}", rc == 0 and out == want and "stop string" in err,
               f"--stop {stop!r}: got {out!r}, want {want!r}, rc {rc}")

    # a full context stops with a note, not an error
    rc, out, err = latte("run", "-m", model, "-p", PROMPT, "-c", "24", "-t", "2", "--temp", "1", "-n", "100")
    m = re.search(r"generated:\s+(\d+) tokens", err)
    report(f"run_ctx_full_{name}", rc == 0 and "context is full" in err and m and 0 < int(m.group(1)) < 24,
           f"rc {rc}, stderr {err!r}")


def check_errors():
    model = os.path.join(FIX, "qwen2-tiny.gguf")
    for args in (["--temp", "abc"], ["--bogus"], ["-n"], ["--top-p", "2"]):
        rc, out, err = latte("run", "-m", model, "-p", "x", *args)
        lines = err.strip().splitlines()
        report(f"run_bad_flag_{args[0]}", rc == 2 and len(lines) == 1 and lines[0].startswith("error:"),
               f"rc {rc}, stderr {err!r}")
    rc, out, err = latte("run", "-m", model)
    report("run_needs_prompt", rc == 2 and len(err.strip().splitlines()) == 1, f"rc {rc}, stderr {err!r}")
    rc, out, err = latte("run", "-m", model, "-p", "x " * 600, "-c", "64")
    report("run_prompt_too_long", rc == 1 and "-c" in err, f"rc {rc}, stderr {err!r}")


def check_tiny_mla():
    if not os.path.exists(TINY_MLA):
        print(f"SKIP run_tiny_mla: {TINY_MLA} missing")
        return
    rc, out, err = latte("run", "-m", TINY_MLA, "-p", "To create a new table, use the", "--temp", "0", "-n", "16", *ENG)
    text = out.decode(errors="replace")
    report("run_tiny_mla_english", rc == 0 and ("CREATE" in text or "table" in text), f"rc {rc}, got {text!r}")
    rc, out, err = latte("run", "-m", TINY_MLA, "-p", "Hello", "--chat", "--chat-template", "chatml", "--temp", "0",
                         "-n", "8", *ENG)
    report("run_chat_template", rc == 0 and len(out) > 0 and "generated:" in err, f"rc {rc}, stderr {err!r}")
    rc, out, err = latte("run", "-m", TINY_MLA, "-p", "Hello", "--chat", "--chat-template", "nope", *ENG)
    report("run_chat_template_unknown", rc != 0 and "--chat-template" in err, f"rc {rc}, stderr {err!r}")


def main():
    if not os.access(LATTE, os.X_OK):
        print(f"FAIL cli_run: {LATTE} not built")
        return 1
    for name in ("ds3-tiny", "qwen2-tiny"):
        check_model(name)
    check_errors()
    check_tiny_mla()
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
