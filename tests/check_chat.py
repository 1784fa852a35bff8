#!/usr/bin/env python3
"""End-to-end checks of `latte chat` on the trained tiny-mla model with the chatml template:
piped stdin (answers, /reset acknowledged and really clearing the conversation, /exit, EOF),
an unknown template, and a pseudo-terminal (the "> " prompt, Ctrl-C stopping a long answer
and the chat going on, Ctrl-C at the prompt quitting).
Env: LATTE_BUILD, LATTE_ROOT, LATTE_SHARED."""
import os, pty, select, signal, subprocess, sys, time

from testlib import LATTE, SHARED, Reporter  # noqa: E402
MODEL = os.path.join(SHARED, "models", "tiny-mla.gguf")
BASE = [LATTE, "chat", "-m", MODEL, "--chat-template", "chatml", "-t", "2"]
RESET = "[history and context cleared]"

report = Reporter()


def chat(stdin, *args, timeout=120):
    p = subprocess.run(BASE + list(args), input=stdin.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def check_piped():
    q = "How do I create a table?"
    rc, out, err = chat(f"{q}\nAnd an index?\n/reset\n{q}\n/exit\nnever read\n", "-c", "512", "-n", "16",
                        "--temp", "0")
    before, sep, after = out.partition(RESET + "\n")
    report("chat_piped_exit", rc == 0, f"rc {rc}, stderr {err!r}")
    report("chat_piped_reset_acknowledged", sep != "", f"no {RESET!r} in {out!r}")
    report("chat_piped_answers", before.strip() != "" and after.strip() != "" and "> " not in out,
           f"stdout {out!r}")
    # greedy: after /reset the same question must get the first answer again, so nothing of the
    # old conversation survived in the history or the context
    report("chat_piped_reset_clears", before.startswith(after) and len(after.strip()) > 0,
           f"first answers {before!r}, after reset {after!r}")

    rc, out, err = chat("Hello\n", "-c", "512", "-n", "8")
    report("chat_piped_eof", rc == 0 and out.strip() != "", f"rc {rc}, stdout {out!r}, stderr {err!r}")
    rc, out, err = chat("", "-c", "512")
    report("chat_piped_empty", rc == 0 and out == "", f"rc {rc}, stdout {out!r}")

    p = subprocess.run([LATTE, "chat", "-m", MODEL, "--chat-template", "nope", "-c", "512"], input=b"hi\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode(errors="replace")
    report("chat_unknown_template", p.returncode == 2 and "--chat-template" in err and p.stdout == b"",
           f"rc {p.returncode}, stderr {err!r}")


class Pty:
    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(args[0], args)
        self.buf = b""

    def read_until(self, pred, timeout):
        end = time.time() + timeout
        while not pred(self.buf) and time.time() < end:
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.buf += data
        return pred(self.buf)

    def send(self, s):
        os.write(self.fd, s)

    def wait(self, timeout):
        end = time.time() + timeout
        while time.time() < end:
            self.read_until(lambda b: False, 0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None


def check_pty():
    t = Pty(BASE + ["-c", "2048", "-n", "100000"])
    ok = t.read_until(lambda b: b.endswith(b"> "), 60)
    report("chat_pty_prompt", ok, f"no prompt in {t.buf[-300:]!r}")
    mark = len(t.buf)
    t.send(b"Write a long story about tables.\n")
    # wait for some of the answer, then Ctrl-C
    ok = t.read_until(lambda b: len(b) - mark > 120, 60)
    t.send(b"\x03")
    ok = ok and t.read_until(lambda b: b"[interrupted]" in b[mark:] and b.endswith(b"> "), 30)
    report("chat_pty_sigint_stops_answer", ok, f"tail {t.buf[-300:]!r}")
    mark = len(t.buf)
    t.send(b"Hi\n")
    ok = t.read_until(lambda b: len(b) - mark > 40, 60)
    t.send(b"\x03")
    ok = ok and t.read_until(lambda b: b.endswith(b"> "), 30)
    report("chat_pty_continues", ok, f"tail {t.buf[-300:]!r}")
    t.send(b"/exit\n")
    rc = t.wait(30)
    report("chat_pty_exit", rc == 0, f"exit status {rc}, tail {t.buf[-200:]!r}")

    t = Pty(BASE + ["-c", "512", "-n", "8"])
    ok = t.read_until(lambda b: b.endswith(b"> "), 60)
    t.send(b"\x03")
    rc = t.wait(30)
    report("chat_pty_sigint_at_prompt_quits", ok and rc == 0, f"exit status {rc}, tail {t.buf[-200:]!r}")


def main():
    if not os.access(LATTE, os.X_OK):
        print(f"FAIL chat: {LATTE} not built")
        return 1
    if not os.path.exists(MODEL):
        print(f"SKIP chat: {MODEL} missing")
        return 0
    check_piped()
    check_pty()
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
