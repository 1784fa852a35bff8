#!/usr/bin/env python3
"""`latte chat` as a console, through a pseudo-terminal (libedit line editing): a line edited with
Ctrl-A, arrows and inserts is the message the piped text gives (same greedy answer); up-arrow
history; a 10 KB pasted line arrives whole (no 4 KB terminal limit: same prompt size and answer
as piped); a message continued by a trailing backslash equals the /multiline block; /help,
/speed, whitespace-only lines ignored, --color, /quit. Model: the trained tiny-mla, chatml.
Env: LATTE_BUILD, LATTE_ROOT, LATTE_SHARED."""
import os, pty, re, select, signal, subprocess, sys, time

from testlib import LATTE, SHARED, Reporter

MODEL = os.path.join(SHARED, "models", "tiny-mla.gguf")
ARGS = ["chat", "-m", MODEL, "--chat-template", "chatml", "-n", "16", "--temp", "0", "-c", "4096", "-t", "1"]
LEFT, RIGHT, UP, HOME = b"\x1b[D", b"\x1b[C", b"\x1b[A", b"\x01"

report = Reporter()


def piped(text, *extra):
    p = subprocess.run([LATTE, *ARGS, *extra], input=text.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    return p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


class Console:
    """latte chat on a pseudo-terminal; .text is everything it wrote, CR LF turned into LF."""

    def __init__(self, *extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}  # the "C" locale
        env["TERM"] = "xterm"
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(LATTE, [LATTE, *ARGS, *extra], env)
        self.buf = b""

    @property
    def text(self):
        return self.buf.replace(b"\r\n", b"\n").decode(errors="replace")

    def pump(self, t):
        end = time.time() + t
        while time.time() < end:
            r, _, _ = select.select([self.fd], [], [], 0.02)
            if r:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:
                    return
                if not data:
                    return
                self.buf += data

    def wait_for(self, pred, t=60):
        end = time.time() + t
        while not pred(self.text) and time.time() < end:
            self.pump(0.05)
        return pred(self.text)

    def prompt_count(self):
        return len(re.findall(r"(?m)^> ", self.text))

    def send(self, data):
        """Writes in small pieces, reading the echo between them (a full terminal would block us)."""
        for i in range(0, len(data), 512):
            os.write(self.fd, data[i:i + 512])
            self.pump(0.005)

    def turn(self, data, t=60):
        """Sends data and waits for the next "> " prompt after it."""
        n = self.prompt_count()
        self.send(data)
        return self.wait_for(lambda s: len(re.findall(r"(?m)^> ", s)) > n and s.endswith("> "), t)

    def close(self):
        end = time.time() + 30
        while time.time() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            self.pump(0.05)
            time.sleep(0.01)  # pump returns at once when the terminal is closed already
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None


def main():
    if not os.access(LATTE, os.X_OK):
        print(f"FAIL cli_chat: {LATTE} not built")
        return 1
    if not os.path.exists(MODEL):
        print(f"SKIP cli_chat: {MODEL} missing")
        return 0
    hello, _ = piped("Hello there\n")
    # 10 KB in few tokens (the vocabulary has long runs of "-"), so the sanitizer build is quick too;
    # words at both ends: a line cut at 4 KB loses the end and tokenizes differently
    big_msg = "Describe this line: " + "-" * (10240 - 40) + " and the end is here"
    big, big_err = piped(big_msg + "\n", "--show-speed")
    multi, _ = piped("/multiline\nfirst line\nsecond line\n/end\n")
    _, utf8_err = piped("café naïve 😀\n", "--show-speed")

    c = Console("--show-speed")
    ok = c.wait_for(lambda s: s.endswith("> "))
    report("cli_chat_prompt", ok, c.text[-200:])
    # line editing: "Hlo there", home, right, insert "el" -> "Hello there"
    mark = len(c.text)
    ok = c.turn(b"Hlo there" + HOME + RIGHT + b"el\r")
    report("cli_chat_line_editing", ok and hello.strip() and hello.strip() in c.text[mark:],
           f"want {hello!r} in {c.text[mark:]!r}")
    # history: /reset, then up-arrow twice brings back the message; same answer on a fresh conversation
    c.turn(b"/reset\r")
    mark = len(c.text)
    ok = c.turn(UP + UP + b"\r")
    report("cli_chat_history", ok and hello.strip() in c.text[mark:], c.text[mark:][-300:])
    # non-ASCII text typed in a "C" locale arrives whole (same prompt size as piped)
    c.turn(b"/reset\r")
    mark = len(c.text)
    c.turn("café naïve 😀\r".encode())
    got_n = re.search(r"\[prompt (\d+) tokens", c.text[mark:])
    report("cli_chat_utf8", got_n and got_n.group(1) == re.search(r"\[prompt (\d+) tokens", utf8_err).group(1),
           f"{c.text[mark:]!r} vs piped {utf8_err!r}")
    # whitespace only: no answer, just the next prompt
    mark = len(c.text)
    ok = c.turn(b"   \t \r")
    report("cli_chat_blank_ignored", ok and "[prompt" not in c.text[mark:], c.text[mark:])
    # a 10 KB line, pasted
    c.turn(b"/reset\r")
    mark = len(c.text)
    ok = c.turn(big_msg.encode() + b"\r", t=120)
    want_n = re.search(r"\[prompt (\d+) tokens", big_err)
    got_n = re.search(r"\[prompt (\d+) tokens", c.text[mark:])
    report("cli_chat_10kb_line", ok and want_n and got_n and want_n.group(1) == got_n.group(1)
           and big.strip() in c.text[mark:],
           f"prompt tokens {got_n and got_n.group(1)} vs piped {want_n and want_n.group(1)}")
    # a trailing backslash continues the message: the same message as the /multiline block
    c.turn(b"/reset\r")
    mark = len(c.text)
    c.send(b"first line\\\r")
    ok = c.wait_for(lambda s: s.endswith("... "), 30)
    ok = ok and c.turn(b"second line\r")
    report("cli_chat_multiline", ok and multi.strip() and multi.strip() in c.text[mark:],
           f"want {multi!r} in {c.text[mark:]!r}")
    mark = len(c.text)
    c.turn(b"/help\r")
    report("cli_chat_help", "/multiline" in c.text[mark:] and "/quit" in c.text[mark:], c.text[mark:])
    mark = len(c.text)
    c.turn(b"/speed\r")
    c.turn(b"Hi\r")
    report("cli_chat_speed_toggle", "[speed after each answer: off]" in c.text[mark:]
           and "[prompt" not in c.text[mark:], c.text[mark:])
    c.send(b"/quit\r")
    rc = c.close()
    report("cli_chat_quit", rc == 0, f"exit status {rc}, tail {c.text[-300:]!r}")

    c = Console("--color")
    c.wait_for(lambda s: s.endswith("> "))
    c.turn(b"Hello there\r")
    report("cli_chat_color", "\x1b[33m" in c.text and "\x1b[0m" in c.text, c.text[-200:])
    c.send(b"\x04")  # Ctrl-D
    rc = c.close()
    report("cli_chat_eof", rc == 0, f"exit status {rc}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
