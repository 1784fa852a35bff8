#!/usr/bin/env python3
"""The command line as a table. For every command, every flag its --help documents must have a
row in CHECKS that shows the flag is accepted and takes effect (a flag added without a row
fails `cli_coverage`); every flag of another command is refused with exit 2 and names its
commands; the misreadings of issue 16 each have a case; exit codes and messages (usage 2,
runtime 1, OS reasons, truncated files, warnings, --version, make install); bench's output in
llama-bench's formats and field names. Runs on the tiny fixtures in seconds.
A new command adds its row to base(); a new flag adds its row to CHECKS (or joins a shared
group's tuple there), or cli_coverage fails.
Env: LATTE_BUILD, LATTE_ROOT, LATTE_SHARED."""
import json, os, re, shutil, signal, subprocess, sys, tempfile, time

import numpy as np

from testlib import FIX, LATTE, ROOT, SAN, SHARED, Reporter

QWEN = os.path.join(FIX, "qwen2-tiny.gguf")  # dense, no MLA, chat template in the file, no BOS
DS3 = os.path.join(FIX, "ds3-tiny.gguf")     # MLA + MoE, adds BOS
TINY = os.path.join(SHARED, "models", "tiny-mla.gguf")  # trained, 4096 training context
TMP = tempfile.mkdtemp(prefix="latte-cli-")
PROSE_FILE = os.path.join(SHARED, "models", "heldout-prose.txt")
CORES = os.cpu_count() or 1
PROMPT = "Hello there"

report = Reporter()


def latte(*args, stdin=b"", timeout=60):
    if args and args[0] == "serve":
        return serve(args)
    p = subprocess.run([LATTE, *args], input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def serve(args, request=None, path="/completion", then=None):
    """Starts `latte ARGS` (serve) on a free port; once it listens, sends one request (default: the
    prompt with the server's own settings) and stops it with SIGTERM. Returns (exit status, the
    reply's content as bytes, stderr); then(port) runs before the stop and its result replaces
    the content. A server that exits at once gives its own exit status, stdout and stderr."""
    p = subprocess.Popen([LATTE, *args, *([] if "--port" in args else ["--port", "0"])], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=False)
    err, port = b"", None
    for line in iter(p.stderr.readline, b""):
        err += line
        if line.startswith(b"listening on http://"):
            port = int(line.rsplit(b":", 1)[1])
            break
    if port is None:
        out = p.stdout.read()
        rc = p.wait(60)
        return rc, out, err.decode(errors="replace")
    content = b""
    try:
        if then:
            content = then(port)
        else:
            st, j = http_json(port, "POST", path, request if request is not None else {"prompt": PROMPT})
            content = j.get("content", "").encode() if st == 200 else f"HTTP {st}: {j}".encode()
    finally:
        p.send_signal(signal.SIGTERM)
        rest = p.stderr.read()
        rc = p.wait(60)
        p.stdout.close()
        p.stderr.close()
    return rc, content, (err + rest).decode(errors="replace")


def http_json(port, method, path, body=None, headers=None):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, body=None if body is None else json.dumps(body), headers=headers or {})
    r = c.getresponse()
    text = r.read()
    c.close()
    try:
        return r.status, json.loads(text)
    except ValueError:
        return r.status, text


def base(cmd, model=None):
    """The command with the flags every check of it starts from; later flags override these."""
    # chat answers on the trained model: a random one ends its chatml answer at once
    model = model or (TINY if cmd == "chat" else QWEN)
    eng = ["-c", "128", "-t", "1"]
    return {
        "run": ["run", "-m", model, "-p", PROMPT, "-n", "48", "--temp", "0", *eng],
        "chat": ["chat", "-m", model, "--chat-template", "chatml", "-n", "24", "--temp", "0", *eng],
        "logits": ["logits", "-m", model, "--tokens", "1,2,3", "-o", os.path.join(TMP, "l.f32"), *eng],
        "tokenize": ["tokenize", "-m", model, "-p", PROMPT],
        "info": ["info", model],
        "bench": ["bench", "-m", model, "-r", "1", "-o", "json"],
        "serve": ["serve", "-m", model, "-n", "48", "--temp", "0", *eng],
        "synth": ["synth", "--like", "tiny-mla", "--type", "q8_0", "-o", os.path.join(TMP, "synth.gguf")],
        "quantize": ["quantize", DS3, os.path.join(TMP, "quantized.gguf"), "Q4_0"],
        "perplexity": ["perplexity", "-m", model, "-f", PROSE_FILE, "-c", "16", "--chunks", "2", "-t", "1"],
    }[cmd]


BENCH_DEFAULTS = {"-p": "8", "-n": "2", "-t": "1"}  # list flags: a given one would append to these


def go(cmd, *extra, model=None, stdin=None):
    """Runs base(cmd) + extra; chat reads one message unless stdin is given."""
    if stdin is None:
        stdin = (PROMPT + "\n").encode() if cmd == "chat" else b""
    if cmd == "bench":
        extra = [*extra] + [x for k, v in BENCH_DEFAULTS.items() if k not in extra for x in (k, v)]
    return latte(*base(cmd, model), *extra, stdin=stdin)


def load(cmd, *extra, model=None):
    """go() for checks that read only what happens at load: chat gets no message, run makes one token."""
    more = ["-n", "1"] if cmd in ("run", "serve") else []
    return go(cmd, *more, *extra, model=model, stdin=b"")


def num(pattern, err):
    m = re.search(pattern, err)
    return int(m.group(1)) if m else None


def prompt_n(err):
    return num(r"prompt:\s+(\d+) tokens", err)


def gen_n(err):
    return num(r"generated:\s+(\d+) tokens", err)


def kv_mib(err):
    m = re.search(r"KV cache ([\d.]+) MiB", err)
    return float(m.group(1)) if m else None


def logits_of(*extra, model=QWEN):
    path = os.path.join(TMP, "x.f32")
    if os.path.exists(path):
        os.remove(path)
    rc, _, err = latte(*base("logits", model)[:-6], "-o", path, "-c", "128", "-t", "1", *extra)
    return (np.fromfile(path, dtype="<f4") if rc == 0 else None), err


def bench_rows(*extra, model=QWEN):
    rc, out, err = go("bench", *extra, model=model)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, err + " / stdout " + out.decode(errors="replace")[:300]


def same(a, b):
    return a[0] == 0 and b[0] == 0 and a[1] == b[1]


# ---- checks: f(cmd) -> (ok, why) ----

def ck_model(cmd):
    rc, out, err = latte(*[a if not a.endswith(".gguf") else os.path.join(TMP, "missing.gguf") for a in base(cmd)],
                         stdin=b"hi\n")
    return rc == 1 and "No such file or directory" in err, f"rc {rc}, {err!r}"


def ck_help(cmd):
    rc, out, err = latte(cmd, "--help")
    return rc == 0 and out.decode().startswith(f"usage: latte {cmd}"), f"rc {rc}, {out[:200]!r}"


def ck_ctx(cmd):
    rc, _, err = load(cmd, "-c", "48")
    return rc == 0 and "for 48 tokens" in err, err


def ck_same_output(flag, value):
    """Flags whose only effect is how the work is split: the result must not change."""
    def f(cmd):
        if cmd == "logits":
            a, _ = logits_of()
            b, err = logits_of(flag, value)
            return a is not None and b is not None and np.allclose(a, b, rtol=1e-3, atol=1e-3), err
        a, b = go(cmd), go(cmd, flag, value)
        bad = latte(*base(cmd), flag, "0", stdin=b"hi\n")
        return same(a, b) and bad[0] == 2, f"{b[2]!r}; {flag} 0 gave rc {bad[0]}"
    return f


def ck_threads(cmd):
    rc, _, err = load(cmd, "-t", str(CORES + 1))
    return rc == 0 and f"-t {CORES + 1} is more than" in err, err


def ck_mla(cmd):
    rc, _, err = load(cmd, "-mla", "1", model=DS3)
    rc2, _, err2 = load(cmd, "-mla", "2", model=DS3)
    return rc == 0 and "MLA mode 1" in err and "MLA mode 2" in err2, err + err2


def ck_fa(cmd):
    want = {("on",): True, ("1",): True, ("off",): False, ("0",): False, ("auto",): False, (): True}
    bad = []
    for args, on in want.items():
        rc, _, err = load(cmd, "-fa", *args, "-t", "1", model=DS3)  # bare -fa followed by another flag
        line = next((l for l in err.splitlines() if l.startswith("attention:")), "")
        if rc != 0 or ("flash attention" in line) != on:
            bad.append(f"-fa {' '.join(args)}: rc {rc}, {line!r}")
    rc, _, err = load(cmd, "-fa", "maybe")
    if rc != 2:
        bad.append(f"-fa maybe: rc {rc}")
    return not bad, "; ".join(bad)


def ck_ctk(cmd):
    a = kv_mib(load(cmd, "-mla", "0", model=DS3)[2])
    b = kv_mib(load(cmd, "-mla", "0", "-ctk", "q8_0", model=DS3)[2])
    return a and b and b < a, f"f16 {a} MiB, q8_0 {b} MiB"


def ck_ctv(cmd):
    a = kv_mib(load(cmd, "-mla", "0", model=DS3)[2])
    b = kv_mib(load(cmd, "-mla", "0", "-ctv", "q8_0", model=DS3)[2])
    rc, _, err = load(cmd, "-mla", "3", "-ctv", "q8_0", model=DS3)
    return a and b and b < a and rc == 0 and "-ctv changes nothing" in err, f"f16 {a}, q8_0 {b}; mla 3: {err!r}"


def ck_ser(cmd):
    rc, _, err = load(cmd, "-ser", "1,0.5", model=QWEN)
    ok = rc == 0 and "-ser changes nothing" in err
    why = err
    if cmd == "logits":  # the effect itself, on the MoE fixture
        a, _ = logits_of(model=DS3)
        b, err2 = logits_of("-ser", "1,1", model=DS3)
        ok = ok and a is not None and b is not None and not np.array_equal(a, b)
        why += " / " + err2
    return ok and load(cmd, "-ser", "x")[0] == 2, why


def ck_khad(cmd):
    rc, _, err = load(cmd, "-khad", "-ctk", "q4_0", model=DS3)
    line = next((l for l in err.splitlines() if l.startswith("attention:")), "")
    ok, why = rc == 0 and "Hadamard" in line, f"rc {rc} {line!r}"
    if cmd == "logits":  # the rotation changes what a q4_0 cache rounds
        a, _ = logits_of("-ctk", "q4_0", model=DS3)
        b, err2 = logits_of("-ctk", "q4_0", "-khad", model=DS3)
        ok = ok and a is not None and b is not None and not np.array_equal(a, b)
        why += " / " + err2
    return ok, why


def ck_note(flag, *value):
    def f(cmd):
        rc, _, err = load(cmd, flag, *value)
        return rc == 0 and f"note: {flag} changes nothing" in err, f"rc {rc}, {err!r}"
    return f


def answer(cmd, *extra, model=QWEN, stdin=None):
    rc, out, err = go(cmd, *extra, model=model, stdin=stdin)
    return rc, out, err


def ck_n(cmd):
    if cmd == "run":
        rc, _, err = go(cmd, "-n", "3")
        return rc == 0 and gen_n(err) == 3, err
    rc, _, err = go(cmd, "-n", "3", "--show-speed")
    return rc == 0 and "answer 3 tokens" in err, err


def ck_stop(flag):
    def f(cmd):
        rc, out, _ = go(cmd)
        stop = next((out[k:k + 2] for k in range(len(out) // 3, len(out) - 2)
                     if all(0x21 <= c < 0x7f for c in out[k:k + 2])), None)
        if stop is None:
            return False, f"no printable pair in {out!r}"
        rc, cut, err = go(cmd, flag, stop.decode())
        want = out[:out.find(stop)] + (b"\n" if cmd == "chat" else b"")
        return rc == 0 and cut == want, f"{flag} {stop!r}: {cut!r}, want {want!r}"
    return f


def ck_seed(cmd):
    rc, out, err = go(cmd, "--temp", "1", "-s", "-1")
    m = re.search(r"seed: (\d+)", err)
    if cmd == "chat":  # piped chat prints no seed: two runs of one given seed agree instead
        a, b = go(cmd, "--temp", "1", "-s", "5"), go(cmd, "--temp", "1", "-s", "5")
        return same(a, b), "seed 5 twice differs"
    if not m:
        return False, f"no seed printed: {err!r}"
    again = go(cmd, "--temp", "1", "-s", m.group(1))
    return rc == 0 and again[1] == out and go(cmd, "-s", "-2")[0] == 2, f"seed {m.group(1)} did not repeat"


def ck_temp(cmd):
    greedy = {go(cmd, "-s", str(s))[1] for s in (1, 2)}
    hot = {go(cmd, "--temp", "1.5", "-s", str(s))[1] for s in (1, 2, 3, 4)}
    return len(greedy) == 1 and len(hot) > 1, f"temp 0: {len(greedy)} outputs, temp 1.5: {len(hot)}"


def ck_greedy_by(flag, value):
    """A sampler setting that leaves one candidate: temperature 1 then gives the greedy text."""
    def f(cmd):
        g = go(cmd)
        hot = go(cmd, "--temp", "1.5", "-s", "3")
        cut = go(cmd, "--temp", "1.5", "-s", "3", flag, value)
        return same(g, cut) and hot[1] != g[1], f"{flag} {value}: {cut[1][:60]!r} vs greedy {g[1][:60]!r}"
    return f


def ck_penalty(flag):
    def f(cmd):
        a, b = go(cmd), go(cmd, flag, "100")
        return a[0] == 0 and b[0] == 0 and a[1] != b[1], f"{flag} 100 changed nothing"
    return f


def ck_last_n(cmd):
    a, b = go(cmd), go(cmd, "--repeat-penalty", "100", "--repeat-last-n", "0")
    return same(a, b), "--repeat-last-n 0 did not switch the penalty off"


def ck_sys(cmd):
    if cmd == "run":
        a = prompt_n(go(cmd, "--chat")[2])
        b = prompt_n(go(cmd, "--chat", "-sys", "You are terse.")[2])
        return a and b and b > a, f"{a} -> {b}"
    a = num(r"prompt (\d+) tokens", go(cmd, "--show-speed")[2])
    b = num(r"prompt (\d+) tokens", go(cmd, "--show-speed", "-sys", "You are terse.")[2])
    return a and b and b > a, f"{a} -> {b}"


def ck_template(cmd):
    extra = ["--chat"] if cmd == "run" else ["--show-speed"]
    pat = r"prompt:\s+(\d+) tokens" if cmd == "run" else r"prompt (\d+) tokens"
    a = num(pat, go(cmd, *extra, "--chat-template", "chatml")[2])
    b = num(pat, go(cmd, *extra, "--chat-template", "llama3")[2])
    rc = go(cmd, *extra, "--chat-template", "nope")[0]
    return a and b and a != b and rc == 2, f"chatml {a}, llama3 {b}, nope rc {rc}"


# run's own
def ck_prompt(cmd):
    if cmd == "chat":
        a = go(cmd)
        b = go(cmd, "-p", PROMPT, stdin=b"")
        return same(a, b), f"{b[1]!r} vs {a[1]!r}"
    a, b = prompt_n(go(cmd, "-p", "a")[2]), prompt_n(go(cmd, "-p", "a b c d e")[2])
    return a and b and b > a, f"{a} vs {b}"


def ck_file(cmd):
    path = os.path.join(TMP, "prompt.txt")
    with open(path, "w") as f:
        f.write(PROMPT)
    a = go(cmd)
    args = [x for x in base(cmd) if x not in ("-p", PROMPT)]
    b = latte(*args, "-f", path)
    c = latte(*args, "-f", "-", stdin=PROMPT.encode())
    return same(a, b) and same(a, c), f"-f {b[1][:40]!r}, -f - {c[1][:40]!r}, -p {a[1][:40]!r}"


def ck_escape(cmd):
    a = go(cmd, "-p", "a\\nb")
    b = go(cmd, "-p", "a\nb")
    c = go(cmd, "-p", "a\\nb", "-e")
    d = go(cmd, "-p", "a\\nb", "--no-escape")
    return same(a, b) and same(a, c) and prompt_n(d[2]) != prompt_n(a[2]), \
        f"escaped {prompt_n(a[2])}, newline {prompt_n(b[2])}, --no-escape {prompt_n(d[2])}"


def ck_no_bos(cmd):
    a, b = prompt_n(go(cmd, model=DS3)[2]), prompt_n(go(cmd, "--no-bos", model=DS3)[2])
    return a and b and b == a - 1, f"{a} -> {b}"


def ck_no_special(cmd):
    a = prompt_n(go(cmd, "-p", "<|im_start|>")[2])
    b = prompt_n(go(cmd, "-p", "<|im_start|>", "--no-parse-special")[2])
    return a == 1 and b and b > 1, f"{a} -> {b}"


def ck_chat(cmd):
    a, b = prompt_n(go(cmd)[2]), prompt_n(go(cmd, "--chat")[2])
    return a and b and b > a + 4, f"{a} -> {b}"


def ck_cnv(cmd):
    chat = go("chat")
    args = [x for x in base("run") if x not in ("-p", PROMPT)]
    args[2] = TINY
    rc, out, err = latte(*args, "-n", "24", "-cnv", "--chat-template", "chatml", stdin=(PROMPT + "\n").encode())
    return rc == 0 and out == chat[1] and out.strip(), f"rc {rc}, {out!r} vs chat {chat[1]!r}"


def ck_no_cnv(cmd):
    return same(go(cmd), go(cmd, "-no-cnv")), "output changed"


def ck_color(cmd):
    if cmd == "run":
        rc = go(cmd, "--color")[0]
        args = [x for x in base("run") if x not in ("-p", PROMPT)]
        rc2, out, _ = latte(*args, "-cnv", "--color", "--chat-template", "chatml", stdin=b"hi\n")
        return rc == 2 and rc2 == 0 and b"\033[" not in out, f"rc {rc}, -cnv rc {rc2}"
    rc, out, _ = go(cmd, "--color")  # not a terminal: no escapes (the terminal is check_cli_chat's)
    return rc == 0 and b"\033[" not in out, f"rc {rc}"


def ck_speed(cmd):
    rc, _, err = go(cmd, "--show-speed")
    return rc == 0 and re.search(r"answer \d+ tokens, [\d.]+ tokens/s", err), err


# logits
def ck_tokens(cmd):
    """a second --tokens list is a second sequence in the same batch: its rows follow the
    first list's and equal the logits of that list alone"""
    a, _ = logits_of()                      # --tokens 1,2,3
    b, err = logits_of("--tokens", "1,2")   # --tokens 1,2,3 --tokens 1,2
    path = os.path.join(TMP, "y.f32")
    rc, _, err2 = latte("logits", "-m", QWEN, "--tokens", "1,2", "-o", path, "-c", "128", "-t", "1")
    c = np.fromfile(path, dtype="<f4") if rc == 0 else None
    if a is None or b is None or c is None or b.size != a.size + c.size:
        return False, err + err2
    return np.allclose(b[:a.size], a, rtol=1e-3, atol=1e-3) and np.allclose(b[a.size:], c, rtol=1e-3, atol=1e-3), err


def ck_out(cmd):
    go("logits")
    rc, _, err = latte(*base("logits")[:-6], "-o", "/nonexistent/dir/x.f32")
    return rc == 1 and "No such file or directory" in err and os.path.getsize(os.path.join(TMP, "l.f32")) > 0, err


def ck_incremental(cmd):
    a, _ = logits_of()
    b, err = logits_of("--incremental")
    return a is not None and b is not None and np.allclose(a, b, rtol=1e-3, atol=1e-3), err


# tokenize
def tok_lines(*extra, model=QWEN, stdin=b""):
    rc, out, err = latte("tokenize", "-m", model, *extra, stdin=stdin)
    return rc, out.decode(errors="replace").splitlines(), err


def pieces(lines):
    return [l.split(None, 1)[1][1:-1] for l in lines]


def ck_tok_prompt(cmd):
    rc, lines, err = tok_lines("-p", "Hello there\n")
    return rc == 0 and "".join(pieces(lines)) == "Hello there\\n", lines


def ck_tok_file(cmd):
    path = os.path.join(TMP, "t.txt")
    with open(path, "wb") as f:
        f.write(b"a\0b")
    a, b = tok_lines("-f", path), tok_lines("-f", "-", stdin=b"a\0b")
    return a[0] == 0 and len(a[1]) == 3 and a[1] == b[1] and "'\\x00'" in a[1][1], a[1]


def ck_ids(cmd):
    rc, out, _ = latte("tokenize", "-m", QWEN, "-p", PROMPT, "--ids")
    ids = json.loads(out)
    _, lines, _ = tok_lines("-p", PROMPT)
    return ids == [int(l.split()[0]) for l in lines], f"{ids} vs {lines}"


def ck_raw(cmd):
    _, lines, _ = tok_lines("-p", "Hello there\n", "--raw")
    return "".join(pieces(lines)) == "HelloĠthereĊ", lines


def ck_tok_no_bos(cmd):
    a, b = tok_lines("-p", "Hi", model=DS3)[1], tok_lines("-p", "Hi", "--no-bos", model=DS3)[1]
    return a[1:] == b and len(a) == len(b) + 1, f"{a} vs {b}"


def ck_tok_special(cmd):
    a = tok_lines("-p", "<|im_start|>")[1]
    b = tok_lines("-p", "<|im_start|>", "--no-parse-special")[1]
    return len(a) == 1 and len(b) > 1, f"{a} vs {b}"


def ck_info_model(cmd):
    a, b = latte("info", QWEN), latte("info", "-m", QWEN)
    c = latte("info", QWEN, DS3)
    return same(a, b) and b"architecture:     qwen2" in a[1] and c[0] == 2, c[2]


# placement: this build (no CUDA) has only the CPU, so -ngl and --n-cpu-moe say they change nothing,
# -ot to the CPU is accepted, -ot to a device that is not here is a usage error
def ck_ngl(cmd):
    rc, _, err = load(cmd, "-ngl", "5")
    return rc == 0 and "-ngl is ignored" in err, err[-300:]


def ck_ot(cmd):
    ok = load(cmd, "-ot", "ffn=CPU")
    bad = load(cmd, "-ot", "ffn=CUDA0")
    return ok[0] == 0 and bad[0] == 2 and "no device named 'CUDA0'" in bad[2], ok[2][-200:] + bad[2][-200:]


def ck_cpu_moe(cmd):
    rc, _, err = load(cmd, "--n-cpu-moe", "2")
    return rc == 0 and "--n-cpu-moe changes nothing" in err, err[-300:]


def ck_mg(cmd):
    rc, _, err = load(cmd, "-mg", "1")
    return rc == 2 and "-mg 1" in err, err[-300:]


# serve's own: each starts a server, asks it something, stops it
def ck_serve_n(cmd):
    rc, out, err = serve([*base(cmd), "-n", "3"], then=lambda port: http_json(
        port, "POST", "/completion", {"prompt": PROMPT})[1].get("tokens_predicted"))
    return rc == 0 and out == 3, f"rc {rc}, tokens_predicted {out}"


def ck_serve_seed(cmd):
    a, b = go(cmd, "--temp", "1.5", "-s", "5"), go(cmd, "--temp", "1.5", "-s", "5")
    c = [go(cmd, "--temp", "1.5", "-s", str(s))[1] for s in (6, 7)]
    return same(a, b) and len({a[1], *c}) > 1 and go(cmd, "-s", "-2")[0] == 2, f"{a[1][:40]!r} {b[1][:40]!r}"


def ck_serve_host(cmd):
    ok = go(cmd, "--host", "127.0.0.1")
    bad = go(cmd, "--host", "no.such.host")
    return ok[0] == 0 and ok[1] and bad[0] == 1 and "not an IPv4 or IPv6 address" in bad[2], bad[2][-200:]


def ck_serve_port(cmd):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    busy = go(cmd, "--port", str(port))  # the port is taken by s
    s.close()
    rc, out, err = go(cmd, "--port", str(port))
    return rc == 0 and f"listening on http://127.0.0.1:{port}" in err and busy[0] == 1 and "cannot listen" in busy[2], \
        f"{err[-200:]!r} / {busy[2][-200:]!r}"


def ck_serve_np(cmd):
    rc, out, err = serve([*base(cmd), "-np", "3"], then=lambda port: len(http_json(port, "GET", "/slots")[1]))
    return rc == 0 and out == 3, f"{out} slots"


def ck_serve_key(cmd):
    def ask(port):
        return (http_json(port, "GET", "/v1/models")[0],
                http_json(port, "GET", "/v1/models", headers={"Authorization": "Bearer k1"})[0])
    rc, out, err = serve([*base(cmd), "--api-key", "k1"], then=ask)
    return rc == 0 and out == (401, 200), f"without, with the key: {out}"


def ck_serve_alias(cmd):
    rc, out, err = serve([*base(cmd), "-a", "my-model"], then=lambda port: http_json(port, "GET", "/v1/models")[1])
    return rc == 0 and out["data"][0]["id"] == "my-model", str(out)


def ck_serve_save(cmd):
    def save(port):
        http_json(port, "POST", "/completion", {"prompt": PROMPT, "n_predict": 1})
        return http_json(port, "POST", "/slots/0?action=save", {"filename": "s.bin"})[0]
    rc, st, _ = serve([*base(cmd), "--slot-save-path", TMP], then=save)
    off = serve(base(cmd), then=save)[1]
    bad = go(cmd, "--slot-save-path", os.path.join(TMP, "nope"))
    return rc == 0 and st == 200 and os.path.exists(os.path.join(TMP, "s.bin")) and off == 501 and bad[0] == 2, \
        f"save {st}, without the flag {off}, missing folder rc {bad[0]}"


def ck_serve_queue(cmd):
    ok = go(cmd, "--max-queue", "0")
    return ok[0] == 0 and ok[1] and go(cmd, "--max-queue", "-1")[0] == 2, ok[2][-200:]


def ck_serve_timeout(cmd):
    import socket
    def idle(port):
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(10)
        t0 = time.time()
        closed = s.recv(10) == b""
        s.close()
        return closed and time.time() - t0 < 5
    rc, out, err = serve([*base(cmd), "-to", "1"], then=idle)
    return rc == 0 and out is True, f"an idle connection stayed open: {err[-200:]!r}"


def ck_serve_template(cmd):
    def n_prompt(port):
        st, j = http_json(port, "POST", "/v1/chat/completions",
                          {"messages": [{"role": "user", "content": PROMPT}], "max_tokens": 1})
        return j["usage"]["prompt_tokens"] if st == 200 else None
    a = serve([*base(cmd), "--chat-template", "chatml"], then=n_prompt)[1]
    b = serve([*base(cmd), "--chat-template", "llama3"], then=n_prompt)[1]
    rc = go(cmd, "--chat-template", "nope")[0]
    return a and b and a != b and rc == 2, f"chatml {a}, llama3 {b}, nope rc {rc}"


def plan(*extra):
    rc, out, err = latte("info", DS3, "--plan", *extra)
    return rc, out.decode(errors="replace"), err


def ck_plan(cmd):
    rc, out, err = plan()
    rc2, out2, _ = latte("info", DS3)
    return rc == 0 and "placement (1 device)" in out and "equivalent flags" in out and \
        b"architecture:" in out2 and "placement" not in out2.decode(errors="replace"), out + err


def ck_fake(cmd):
    rc, out, err = plan("--fake-device", "CUDA0:1G")
    return rc == 0 and "placement (2 devices)" in out and re.search(r"CUDA0 .* of 1\.000 GiB", out), out + err


def kv_per_layer(out):
    m = re.search(r"KV cache ([\d.]+) MiB per layer", out)
    return float(m.group(1)) if m else None


def ck_plan_kv(flag, value):
    def f(cmd):
        a, b = plan(), plan(flag, value)
        return a[0] == 0 and b[0] == 0 and kv_per_layer(a[1]) != kv_per_layer(b[1]), a[1][:80] + " / " + b[1][:80]
    return f


def ck_plan_rule(*extra, want):
    def f(cmd):
        rc, out, err = plan("--fake-device", "CUDA0:1G", *extra)
        return rc == 0 and re.search(want, out), out + err
    return f


# bench: each list flag makes one row per value
def ck_bench_list(flag, values, field, want):
    def f(cmd):
        rc, rows, err = bench_rows(flag, values, "-n", "0", model=DS3)
        got = [r[field] for r in rows] if rows else None
        return rc == 0 and got == want, f"rc {rc}, {field} {got}, want {want}; {err[-300:]!r}"
    return f


def ck_bench_models(cmd):
    rc, rows, err = bench_rows("-m", DS3, "-n", "0")
    got = [os.path.basename(r["model_filename"]) for r in rows or []]
    return rc == 0 and got == ["qwen2-tiny.gguf", "ds3-tiny.gguf"], f"{got} {err[-200:]!r}"


def ck_bench_p(cmd):
    rc, rows, err = bench_rows("-p", "4-12+4", "-n", "0")
    return rc == 0 and [(r["n_prompt"], r["test"]) for r in rows] == [(4, "pp4"), (8, "pp8"), (12, "pp12")], rows


def ck_bench_n(cmd):
    rc, rows, err = bench_rows("-p", "0", "-n", "1-4*2")
    return rc == 0 and [(r["n_gen"], r["test"]) for r in rows] == [(1, "tg1"), (2, "tg2"), (4, "tg4")], rows


def ck_bench_pg(cmd):
    rc, rows, err = bench_rows("-p", "0", "-n", "0", "-pg", "4,2", "-pg", "2,1")
    return rc == 0 and [r["test"] for r in rows] == ["pp4+tg2", "pp2+tg1"], rows


def ck_bench_d(cmd):
    rc, rows, err = bench_rows("-d", "0,4")
    return rc == 0 and [(r["test"], r["n_depth"]) for r in rows] == \
        [("pp8", 0), ("tg2", 0), ("pp8 @ d4", 4), ("tg2 @ d4", 4)], rows


def ck_bench_r(cmd):
    rc, rows, err = bench_rows("-r", "3", "-n", "0")
    return rc == 0 and len(rows[0]["samples_ns"]) == 3 and len(rows[0]["samples_ts"]) == 3, rows


def ck_bench_o(cmd):
    args = base("bench")[:-2] + ["-p", "8", "-n", "2", "-t", "1"]
    md = latte(*args)[1].decode()
    csv = latte(*args, "-o", "csv")[1].decode().splitlines()
    jl = latte(*args, "-o", "jsonl")[1].decode().splitlines()
    ok = md.startswith("| model") and re.search(r"\|\s+pp8 \|", md) and re.search(r"\|\s+tg2 \|", md)
    head = csv[0].split(",") if csv else []
    ok = ok and len(csv) == 3 and "avg_ts" in head and len(csv[1].split(",")) >= len(head)
    ok = ok and len(jl) == 2 and [json.loads(l)["test"] for l in jl] == ["pp8", "tg2"]
    return ok, f"md {md[:200]!r} csv {csv[:1]} jsonl {jl[:1]}"


def ck_bench_plot(cmd):
    path = os.path.join(TMP, "bench.svg")
    rc, rows, err = bench_rows("-d", "0,8", "--plot", path)
    svg = open(path).read() if os.path.exists(path) else ""
    # two lines (pp8 and tg2), each with a point per depth
    ok = rc == 0 and svg.startswith("<svg") and svg.count("<polyline") == 2 and svg.count("<circle") == 4
    bad = latte(*base("bench"), "-p", "8", "-n", "2", "-t", "1", "--plot", "/nonexistent-dir/x.svg")
    return ok and "pp8," in svg and bad[0] == 1 and "cannot create" in bad[2], err[-200:] + bad[2]


def ck_bench_ser(cmd):
    rc, rows, err = bench_rows("-ser", "1,0.5")
    return rc == 0 and rows and "-ser changes nothing" in err, err


def ck_bench_ok(*extra):
    def f(cmd):
        rc, rows, err = bench_rows(*extra)
        return rc == 0 and rows and len(rows) == 2, f"rc {rc} {err[-200:]!r}"
    return f


# synth: each flag changes the file written (tiny-mla's shape: 27 MB, under a second)
def synth_file(*extra, name="synth.gguf"):
    path = os.path.join(TMP, name)
    if os.path.exists(path):
        os.unlink(path)
    args = [a if not a.endswith("synth.gguf") else path for a in base("synth")]
    rc, out, err = latte(*args, *extra)
    return rc, path, err.decode() if isinstance(err, bytes) else err


def synth_info(*extra):
    rc, path, err = synth_file(*extra)
    info = latte("info", path)[1].decode() if rc == 0 else ""
    return rc, info, err


def ck_synth_like(cmd):
    rc, info, err = synth_info()
    bad = latte(*base("synth")[:2], "tiny", *base("synth")[3:])
    return (rc == 0 and "deepseek2 (MLA)" in info and "vocabulary:       49152" in info and bad[0] == 2
            and "tiny-mla" in bad[2]), err + bad[2]


def ck_synth_layers(cmd):
    rc, info, err = synth_info("--layers", "2")
    return rc == 0 and re.search(r"layers: +2\n", info) and "blk.2." not in info, err


def ck_synth_type(cmd):
    rc, info, err = synth_info("--type", "q4_K")
    # q4_K where a row holds whole 256-blocks, q5_0 where it does not (attn_k_b rows of 128)
    return rc == 0 and re.search(r"q4_K +\d+ tensors", info) and re.search(r"q5_0 +\d+ tensors", info), err


def ck_synth_mainline(cmd):
    rc, path, err = synth_file("--mainline", name="main-synth.gguf")
    info = latte("info", path)[1].decode() if rc == 0 else ""
    rc2, path2, err2 = synth_file(name="ik-synth.gguf")
    out = [os.path.join(TMP, f"ml{i}.f32") for i in range(2)]
    r = [latte("logits", "-m", p, "--tokens", "1,2,3", "-o", o, "-c", "16", "-t", "1")[0] for p, o in zip((path, path2), out)]
    same = r == [0, 0] and open(out[0], "rb").read() == open(out[1], "rb").read()
    # the same k_b / v_b bytes in the other layout: -mla 3 logits bit for bit
    return (rc == 0 and "{128, 512, 8}" in info and "attn_kv_b" not in info and "(kv 1)" in info and same,
            err + err2)


def ck_synth_o(cmd):
    rc, path, err = synth_file(name="other-synth.gguf")
    return rc == 0 and os.path.getsize(path) > 20e6 and "100%" in err, err


def ck_synth_same_file(flag, a, b, same_file):
    def f(cmd):
        rc1, p1, e1 = synth_file(flag, a, name="s1-synth.gguf")
        rc2, p2, e2 = synth_file(flag, b, name="s2-synth.gguf")
        eq = rc1 == 0 and rc2 == 0 and open(p1, "rb").read() == open(p2, "rb").read()
        return rc1 == 0 and rc2 == 0 and eq == same_file, f"same bytes: {eq}; {e1[-200:]} {e2[-200:]}"
    return f


# quantize: flags go before the positional IN OUT TYPE
def quantized_types(*flags):
    args = base("quantize")
    rc, out, err = latte(args[0], *flags, *args[1:])
    info = latte("info", args[2])[1].decode() if rc == 0 else ""
    return rc, dict(re.findall(r"^  (\S+) +([a-z0-9_K]+) +\{", info, re.M)), err


def ck_q_override(flag):
    def f(cmd):
        rc, t, err = quantized_types(flag, "ffn_up=q8_0")
        return rc == 0 and t.get("blk.0.ffn_up.weight") == "q8_0" and t.get("blk.0.ffn_gate.weight") == "q4_0", err
    return f


def ck_q_type_of(flag, tensor):
    def f(cmd):
        rc, t, err = quantized_types(flag, "q5_1")
        return rc == 0 and t.get(tensor) == "q5_1", f"{t.get(tensor)} {err}"
    return f


def ck_q_pure(cmd):
    rc, t, err = quantized_types()
    rc2, t2, err2 = quantized_types("--pure")
    return rc == 0 and rc2 == 0 and t.get("output.weight") == "q6_K" and t2.get("output.weight") == "q4_0", err + err2


def ck_q_imatrix(cmd):
    rc, t, err = quantized_types("--imatrix", "imatrix.dat")
    return rc == 2 and "not supported yet" in err, err


def ck_q_note(cmd):
    rc, _, err = latte("quantize", "--allow-requantize", *base("quantize")[1:])
    return rc == 0 and "note: --allow-requantize changes nothing" in err, err


def ck_q_threads(cmd):
    args = base("quantize")
    rc1, _, e1 = latte(args[0], "-t", "1", *args[1:])
    a = open(args[2], "rb").read() if rc1 == 0 else b""
    rc2, _, e2 = latte(*args, "2")
    b = open(args[2], "rb").read() if rc2 == 0 else b"x"
    return rc1 == 0 and rc2 == 0 and a == b and len(a) > 1e6, e1 + e2


# perplexity: -c, -b, --chunks and the KL files (qwen2-tiny: 16-token chunks, a second)
def ppl(*extra, model=None):
    rc, out, err = go("perplexity", *extra, model=model)
    m = re.search(rb"PPL = ([\d.]+)", out)
    return rc, float(m.group(1)) if m else None, err


def ck_ppl_f(cmd):
    rc, p, err = ppl()
    bad = latte(*base("perplexity")[:4], os.path.join(TMP, "none.txt"))
    return rc == 0 and p and bad[0] == 1 and "No such file" in bad[2], err + bad[2]


def ck_ppl_c(cmd):
    rc, p, err = ppl("-c", "32")
    return rc == 0 and "2 chunks of 32 tokens" in err and "scoring positions 16..30" in err, err


def ck_ppl_b(cmd):
    rc1, p1, e1 = ppl("-b", "16")
    rc2, p2, e2 = ppl("-b", "32")
    return (rc1 == 0 and rc2 == 0 and "1 per batch" in e1 and "2 per batch" in e2 and p1 and p2
            and abs(p1 / p2 - 1) < 1e-4), e1 + e2


def ck_ppl_ub(cmd):
    # one token per forward pass takes the single-row matmul path: the same up to rounding
    rc1, p1, e1 = ppl()
    rc2, p2, e2 = ppl("-ub", "1")
    return rc1 == 0 and rc2 == 0 and p1 and p2 and abs(p1 / p2 - 1) < 1e-5 and ppl("-ub", "0")[0] == 2, e1 + e2


def ck_ppl_chunks(cmd):
    rc, p, err = ppl("--chunks", "3")
    return rc == 0 and "[3]" in err and "3 chunks of 16" in err, err


def ck_ppl_score_all(cmd):
    rc, p, err = ppl("--score-all")
    return rc == 0 and "scoring positions 0..14" in err, err


def ck_ppl_kl(cmd):
    path = os.path.join(TMP, "base.kld")
    rc1, p1, e1 = ppl("--kl-divergence-base", path)
    rc2, out, e2 = latte("perplexity", "-m", QWEN, "--kl-divergence-base", path, "--kl-divergence", "-t", "1")
    return rc1 == 0 and os.path.exists(path) and rc2 == 0 and b"Mean KLD:     0.000000" in out, e1 + e2


ENGINE = ("run", "chat", "logits", "serve")
ENGINE2 = ENGINE + ("perplexity",)  # the engine flags after -c and -b
GEN = ("run", "chat")
SAMPLE = GEN + ("serve",)
CHECKS = {
    ("*", "-m"): ck_model, ("*", "-h"): ck_help,
    (ENGINE, "-c"): ck_ctx, (ENGINE, "-b"): ck_same_output("-b", "1"), (ENGINE, "-ub"): ck_same_output("-ub", "1"),
    ("perplexity", "-ub"): ck_ppl_ub,
    (ENGINE2, "-t"): ck_threads, (ENGINE2, "-mla"): ck_mla, (ENGINE2, "-fa"): ck_fa, (ENGINE2, "-ctk"): ck_ctk,
    (ENGINE2, "-ctv"): ck_ctv, (ENGINE2, "-ser"): ck_ser, (ENGINE2, "-khad"): ck_khad,
    (ENGINE2 + ("bench",), "-fmoe"): ck_note("-fmoe"), (ENGINE2 + ("bench",), "-rtr"): ck_note("-rtr"),
    (ENGINE2 + ("bench",), "-amb"): ck_note("-amb", "512"), (ENGINE2 + ("bench",), "--no-mmap"): ck_note("--no-mmap"),
    (ENGINE2 + ("bench",), "--mlock"): ck_note("--mlock"), (ENGINE2 + ("bench",), "-tb"): ck_note("-tb", "2"),
    (ENGINE2, "--no-warmup"): ck_note("--no-warmup"),
    (GEN, "-n"): ck_n, (GEN, "--stop"): ck_stop("--stop"), (GEN, "-r"): ck_stop("-r"),
    (GEN, "-s"): ck_seed, (SAMPLE, "--temp"): ck_temp, (SAMPLE, "--top-k"): ck_greedy_by("--top-k", "1"),
    (SAMPLE, "--top-p"): ck_greedy_by("--top-p", "0"), (SAMPLE, "--min-p"): ck_greedy_by("--min-p", "1"),
    (SAMPLE, "--repeat-penalty"): ck_penalty("--repeat-penalty"), (SAMPLE, "--repeat-last-n"): ck_last_n,
    (SAMPLE, "--presence-penalty"): ck_penalty("--presence-penalty"),
    (SAMPLE, "--frequency-penalty"): ck_penalty("--frequency-penalty"),
    (GEN, "-sys"): ck_sys, (GEN, "--chat-template"): ck_template, (SAMPLE, "--jinja"): ck_note("--jinja"),
    (GEN, "-p"): ck_prompt, (GEN, "--color"): ck_color,
    ("run", "-f"): ck_file, ("run", "-e"): ck_escape, ("run", "--no-escape"): ck_escape,
    ("run", "--no-bos"): ck_no_bos, ("run", "--no-parse-special"): ck_no_special, ("run", "--chat"): ck_chat,
    ("run", "-cnv"): ck_cnv, ("run", "-no-cnv"): ck_no_cnv,
    ("chat", "--show-speed"): ck_speed, ("chat", "-cnv"): ck_note("-cnv"),
    ("logits", "--tokens"): ck_tokens, ("logits", "-o"): ck_out, ("logits", "--incremental"): ck_incremental,
    ("tokenize", "-p"): ck_tok_prompt, ("tokenize", "-f"): ck_tok_file, ("tokenize", "--ids"): ck_ids,
    ("tokenize", "--raw"): ck_raw, ("tokenize", "--no-bos"): ck_tok_no_bos,
    ("tokenize", "--no-parse-special"): ck_tok_special,
    ("info", "-m"): ck_info_model,
    ("serve", "-n"): ck_serve_n, ("serve", "-s"): ck_serve_seed, ("serve", "--host"): ck_serve_host,
    ("serve", "--port"): ck_serve_port, ("serve", "-np"): ck_serve_np, ("serve", "--api-key"): ck_serve_key,
    ("serve", "-a"): ck_serve_alias, ("serve", "--slot-save-path"): ck_serve_save,
    ("serve", "--max-queue"): ck_serve_queue, ("serve", "--prompt-chunk"): ck_same_output("--prompt-chunk", "1"),
    ("serve", "-to"): ck_serve_timeout, ("serve", "-cb"): ck_note("-cb"), ("serve", "--metrics"): ck_note("--metrics"),
    ("serve", "--chat-template"): ck_serve_template,
    (ENGINE2 + ("bench",), "-ngl"): ck_ngl, (ENGINE2 + ("bench",), "-ot"): ck_ot,
    (ENGINE2 + ("bench",), "--n-cpu-moe"): ck_cpu_moe, (ENGINE2 + ("bench",), "-mg"): ck_mg,
    ("info", "--plan"): ck_plan, ("info", "--fake-device"): ck_fake,
    ("info", "-c"): ck_plan_kv("-c", "512"), ("info", "-mla"): ck_plan_kv("-mla", "0"),
    ("info", "-ctk"): ck_plan_kv("-ctk", "q8_0"), ("info", "-ctv"): ck_plan_kv("-mla", "1"),
    ("info", "-ngl"): ck_plan_rule("-ngl", "1", want=r"layers 1 +attention/norms/shared: CPU .*\n.*layers 2 +attention/norms/shared: CUDA0"),
    ("info", "-ot"): ck_plan_rule("-ot", "exps=CPU", want=r"experts: CPU\n"),
    ("info", "--n-cpu-moe"): ck_plan_rule("-ngl", "99", "--n-cpu-moe", "9", want=r"experts: CPU\n"),
    ("info", "-mg"): ck_plan_rule("--fake-device", "CUDA1:1G", "-mg", "1", "-ngl", "99", want=r"output\.weight +CUDA1"),
    ("bench", "-m"): ck_bench_models, ("bench", "-p"): ck_bench_p, ("bench", "-n"): ck_bench_n,
    ("bench", "-pg"): ck_bench_pg, ("bench", "-d"): ck_bench_d, ("bench", "-r"): ck_bench_r,
    ("bench", "-o"): ck_bench_o, ("bench", "-t"): ck_bench_list("-t", "1,2", "n_threads", [1, 2]),
    ("bench", "-mla"): ck_bench_list("-mla", "1,3", "mla_attn", [1, 3]),
    ("bench", "-fa"): ck_bench_list("-fa", "0,on", "flash_attn", [False, True]),
    ("bench", "-ctk"): ck_bench_list("-ctk", "f16,q8_0", "type_k", ["f16", "q8_0"]),
    ("bench", "-ctv"): ck_bench_list("-ctv", "f16,q8_0", "type_v", ["f16", "q8_0"]),
    ("bench", "-ub"): ck_bench_list("-ub", "1,4", "n_ubatch", [1, 4]),
    ("bench", "-b"): ck_bench_list("-b", "2,8", "n_batch", [2, 8]),
    ("bench", "-ser"): ck_bench_ser, ("bench", "-khad"): ck_bench_ok("-khad"), ("bench", "-s"): ck_bench_ok("-s", "7"),
    ("bench", "--no-warmup"): ck_bench_ok("--no-warmup"), ("bench", "--plot"): ck_bench_plot,
    ("synth", "--like"): ck_synth_like, ("synth", "--layers"): ck_synth_layers, ("synth", "--type"): ck_synth_type,
    ("synth", "-o"): ck_synth_o, ("synth", "--mainline"): ck_synth_mainline, ("synth", "-s"): ck_synth_same_file("-s", "1", "2", False),
    ("synth", "-t"): ck_synth_same_file("-t", "1", "2", True),
    ("quantize", "--override"): ck_q_override("--override"), ("quantize", "--tensor-type"): ck_q_override("--tensor-type"),
    ("quantize", "--output-tensor-type"): ck_q_type_of("--output-tensor-type", "output.weight"),
    ("quantize", "--token-embedding-type"): ck_q_type_of("--token-embedding-type", "token_embd.weight"),
    ("quantize", "--pure"): ck_q_pure, ("quantize", "--imatrix"): ck_q_imatrix,
    ("quantize", "--allow-requantize"): ck_q_note,
    ("quantize", "-t"): ck_q_threads,
    ("perplexity", "-f"): ck_ppl_f, ("perplexity", "-c"): ck_ppl_c, ("perplexity", "-b"): ck_ppl_b,
    ("perplexity", "--chunks"): ck_ppl_chunks, ("perplexity", "--score-all"): ck_ppl_score_all,
    ("perplexity", "--kl-divergence-base"): ck_ppl_kl, ("perplexity", "--kl-divergence"): ck_ppl_kl,
}


def documented():
    """{command: [first spelling of each flag]} from `latte --help` and each `latte CMD --help`."""
    out = latte("--help")[1].decode()
    cmds = re.findall(r"^  (\w+) ", out, re.M)
    flags = {}
    for c in cmds:
        text = latte(c, "--help")[1].decode()
        flags[c] = [re.split(r"[ ,]", l.strip())[0] for l in text.splitlines() if l.startswith("  -")]
    return flags


def lookup(cmd, flag):
    for (cmds, f), fn in CHECKS.items():
        if f == flag and (cmds == "*" or cmd == cmds or (isinstance(cmds, tuple) and cmd in cmds)):
            return fn
    return None


def check_flags(flags):
    missing = [f"{c} {f}" for c, fs in flags.items() for f in fs if not lookup(c, f)]
    report("cli_coverage", not missing and len(flags) >= 6, f"documented flags without a check: {missing}")
    for c, fs in flags.items():
        for f in fs:
            fn = lookup(c, f)
            if fn:
                try:
                    ok, why = fn(c)
                except Exception as e:  # a crash in a check is a failure of the case, not of the file
                    ok, why = False, f"{type(e).__name__}: {e}"
                report(f"cli_flag {c} {f}", ok, why)


def check_foreign(flags):
    """Every flag of another command: exit 2, one line naming the commands that take it."""
    bad = []
    for c in flags:
        own = set(flags[c])
        for other, fs in flags.items():
            for f in fs:
                if f in own or f in ("-h",):
                    continue
                rc, out, err = latte(c, f, "1")
                if rc != 2 or f"{f} is not a flag of {c}" not in err or other not in err or len(err.splitlines()) != 1:
                    bad.append(f"{c} {f}: rc {rc}, {err.strip()!r}")
    report("cli_foreign_flags_refused", not bad, "; ".join(bad[:5]))


def case(name, ok, why=""):
    report(f"cli_case {name}", bool(ok), why)


def check_misreadings():
    for v, on in (("0", False), ("off", False), ("1", True), ("on", True)):
        rc, _, err = go("run", "-fa", v, model=DS3)
        case(f"-fa {v}", rc == 0 and ("flash attention" in err) == on, err)
    rc, rows, err = bench_rows("-p", "64", "-n", "16")
    case("bench -p 64 -n 16 -o json", rc == 0 and [r["test"] for r in rows or []] == ["pp64", "tg16"], err)
    rc, _, err = latte("run", "-m", QWEN, "-p", "Hello", "world")
    case("stray word after -p", rc == 2 and "'world'" in err, err)
    rc, _, err = latte("run", "-p", "Hello", "world")
    case("stray word without -m", rc == 2 and "'world'" in err and "model" not in err.split("'world'")[1], err)
    rc, _, err = latte("run", "-m", QWEN, "-p", "x", "a", "b", "c", "d")
    case("four stray words", rc == 2 and "'a'" in err, err)
    rc, _, err = latte("run", "-m", QWEN, "-p", "-n", "4")
    case("-p -n 4", rc == 2 and "-p needs a value" in err, err)
    rc, out, err = latte("run", "-m", QWEN, "-p=-n", "-n", "2", "-c", "64")
    case("-p=-n is the text", rc == 0 and gen_n(err) == 2, err)
    for c in ("run", "chat", "logits", "info", "tokenize", "bench"):
        rc, _, err = latte(c, "-v")
        case(f"{c} -v refused", rc == 2 and err.startswith("error:"), err)
    rc, _, err = go("run", "-sys", "x")
    case("run -sys without --chat", rc == 2 and "--chat" in err, err)
    rc, _, err = go("run", "--repeat-penalty", "0")
    case("--repeat-penalty 0", rc == 2, err)
    rc, _, err = go("run", "-n=3")
    case("-n=3", rc == 0 and gen_n(err) == 3, err)
    # -f with a NUL: the whole file is the prompt; in a chat message a NUL is refused
    path = os.path.join(TMP, "nul.txt")
    with open(path, "wb") as f:
        f.write(b"a b c\0d e f")
    args = [x for x in base("run") if x not in ("-p", PROMPT)]
    rc, _, err = latte(*args, "-f", path)
    n_tok = len(tok_lines("-f", path)[1])
    case("-f with a NUL reads it all", rc == 0 and prompt_n(err) == n_tok, f"{prompt_n(err)} vs {n_tok}: {err}")
    rc, _, err = latte(*args, "-f", path, "--chat")
    case("--chat -f with a NUL", rc == 1 and "NUL" in err, err)
    rc, _, err = latte("run", "-m", QWEN, "-p", b"caf\xe9")
    case("invalid UTF-8 in -p", rc == 2 and "not valid UTF-8" in err, err)
    with open(path, "wb") as f:
        f.write(b"caf\xe9 ok")
    rc, _, err = latte(*args, "-f", path)
    case("invalid UTF-8 in -f", rc == 1 and "not valid UTF-8" in err and "offset 3" in err, err)
    # -n never ends on half a character
    bad = []
    for n in range(1, 13):
        rc, out, err = latte("run", "-m", DS3, "-p", PROMPT, "-n", str(n), "--temp", "0", "-c", "64", "-t", "1")
        if rc or not whole_chars(out):
            bad.append(f"-n {n}: {out[-6:]!r}")
    case("-n ends on whole characters", not bad, "; ".join(bad))
    with open("/dev/full", "wb") as full:
        p = subprocess.run([LATTE, *base("run")], stdout=full, stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode()
    case("stdout on a full disk", p.returncode == 1 and "No space left on device" in err, err)
    p = subprocess.Popen([LATTE, *base("run"), "-n", "2000", "-c", "4096"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(60)
    case("stdout a closed pipe", p.returncode == 1 and "Broken pipe" in err, f"rc {p.returncode}, {err!r}")


def whole_chars(b):
    """True when b does not end inside a UTF-8 character."""
    for back in range(1, min(4, len(b)) + 1):
        c = b[-back]
        if c & 0xC0 == 0x80:
            continue
        need = 1 if c < 0x80 else 2 if c & 0xE0 == 0xC0 else 3 if c & 0xF0 == 0xE0 else 4 if c & 0xF8 == 0xF0 else 1
        return need <= back
    return True


def check_exit_codes():
    rc, _, err = latte()
    case("no command", rc == 2, err)
    rc, _, err = latte("frobnicate")
    case("unknown command", rc == 2 and "unknown command" in err, err)
    rc, _, err = latte("run", "-m", QWEN, "--temp", "abc")
    case("bad number", rc == 2 and len(err.splitlines()) == 1, err)
    rc, _, err = latte("run", "-m", QWEN, "-n")
    case("missing value", rc == 2 and "needs a value" in err, err)
    size = os.path.getsize(QWEN)
    cut = os.path.join(TMP, "cut.gguf")
    with open(QWEN, "rb") as f, open(cut, "wb") as g:
        g.write(f.read(size // 2))
    rc, _, err = latte("run", "-m", cut, "-p", "x")
    case("truncated model", rc == 1 and f"{cut} is truncated: {size // 2} of " in err and len(err.splitlines()) == 1,
         err)
    if os.path.exists(TINY):
        rc, _, err = latte("run", "-m", TINY, "-p", "x", "-n", "1", "-c", "4200", "-t", "1")
        case("-c above the training context warns", rc == 0 and "above the model's training context (4096)" in err, err)
    rc, out, err = latte("--version")
    text = out.decode()
    case("--version", rc == 0 and text.startswith("latte ") and "CPU features:" in text and "CUDA" in text, text)
    rc, out, _ = latte("run", "-m", QWEN, "-p", "x", "-n", "1", "-c", "64", "-f", "/nonexistent")
    case("-p and -f together", rc == 2, "")
    rc, _, err = latte("run", "-m", QWEN, "-f", "/nonexistent/file.txt")
    case("-f names the OS reason", rc == 1 and "No such file or directory" in err, err)
    # the trained model writes long enough (it does not stop at once, as the random ones may)
    p = subprocess.Popen([LATTE, "run", "-m", TINY, "-p", PROMPT, "-c", "4096", "-t", "1", "-n", "4000", "--temp", "0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    err = p.stderr.read().decode()
    p.wait(60)
    case("Ctrl-C in run: summary, exit 130", p.returncode == 130 and "(interrupted)" in err and "prompt:" in err,
         f"rc {p.returncode}, {err!r}")
    if SAN:
        print("SKIP cli_case make install: release build only")
    else:
        dest = os.path.join(TMP, "prefix")
        p = subprocess.run(["make", "-s", "install", f"PREFIX={dest}"], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=300)
        exe = os.path.join(dest, "bin", "latte")
        ok = p.returncode == 0 and os.access(exe, os.X_OK) and os.path.exists(os.path.join(dest, "include", "latte.h"))
        ok = ok and subprocess.run([exe, "--version"], stdout=subprocess.PIPE).returncode == 0
        case("make install PREFIX", ok, p.stdout.decode()[-300:])


def check_bench_fields():
    rc, rows, err = bench_rows("-r", "2")
    need = ["n_prompt", "n_gen", "n_depth", "avg_ts", "stddev_ts", "model_type", "model_size", "model_n_params"]
    ok = rc == 0 and rows and all(k in r for r in rows for k in need)
    ok = ok and rows[0]["avg_ts"] > 0
    case("bench json has llama-bench's fields", ok, f"{rows[:1]} {err[-200:]!r}")
    if rows:
        r = rows[0]
        ts = r["samples_ts"]
        ok = abs(r["avg_ts"] - sum(ts) / len(ts)) < 1e-6 * r["avg_ts"]
        ok = ok and all(abs(t - 8e9 / x) < 1e-4 * t for t, x in zip(ts, r["samples_ns"]))
        case("bench avg_ts is the mean of the samples", ok, r)
        case("bench model_size counts the tensor bytes", 0 < r["model_size"] < os.path.getsize(QWEN), r)
    rc, rows, err = bench_rows("-p", "0", "-n", "0")
    case("bench with nothing to measure", rc == 2 and "nothing to measure" in err, err)
    # the bandwidth share: only for tg rows, only where the weights outgrow the cache (told 1 KB here)
    env = dict(os.environ, LATTE_CACHE_BYTES="1024")
    p = subprocess.run([LATTE, *base("bench"), "-p", "8", "-n", "4", "-t", "1"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=120)
    rows, err = json.loads(p.stdout or b"[]"), p.stderr.decode()
    pp, tg = (rows + [{}, {}])[:2]
    bw = re.search(r"measured read bandwidth ([\d.]+) GB/s", err)
    ok = p.returncode == 0 and pp.get("read_gbs") is None and tg.get("read_gbs") and bw
    ok = ok and abs(tg["read_gbs"] - tg["model_bytes_per_token"] * tg["avg_ts"] / 1e9) < 1e-3 * tg["read_gbs"]
    ok = ok and abs(tg["read_bw_share"] - tg["read_gbs"] / float(bw.group(1))) < 0.02 * tg["read_bw_share"]
    case("bench bandwidth share of tg rows", ok, f"{rows} {err!r}")
    env["LATTE_CACHE_BYTES"] = str(1 << 30)
    p = subprocess.run([LATTE, *base("bench"), "-p", "0", "-n", "4", "-t", "1"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=120)
    rows, err = json.loads(p.stdout or b"[]"), p.stderr.decode()
    case("bench: no share where the weights fit the cache", p.returncode == 0 and rows[0]["read_gbs"] is None
         and "fit in the 1074 MB last-level cache" in err, err)


def main():
    if not os.access(LATTE, os.X_OK):
        print(f"FAIL cli: {LATTE} not built")
        return 1
    try:
        flags = documented()
        check_flags(flags)
        check_foreign(flags)
        check_misreadings()
        check_exit_codes()
        check_bench_fields()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
