"""check_server.py: `latte serve` against the official `openai` client, on the built-in
SmolLM2 model and on tiny-mla. Greedy replies equal `latte run` with the same prompt; streams
equal non-streamed replies and end with `data: [DONE]`; 16 concurrent streams each equal the
same request sent alone and leave no slot busy; bad requests get the right status and an
OpenAI error body while the server stays up; a client that hangs up frees its slot; a
follow-up turn decodes only its new tokens; a saved slot (its KV cache) restores without
decoding and answers as a fresh slot would, bad slot files are a 400; SIGTERM exits 0.
Small max_tokens keep it near 55 s on the release build; the sanitizer build runs a lighter
set (4 clients, no repeated streamed variants) in about 105 s."""
import concurrent.futures as cf
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from testlib import LATTE, SHARED, SAN, Reporter

try:
    import openai
except ImportError:
    openai = None

report = Reporter()
SMOL = os.path.join(os.path.expanduser("~"), ".cache", "latte", "SmolLM2-135M-Instruct.Q4_1.gguf")
TINY = os.path.join(SHARED, "models", "tiny-mla.gguf")
KEY = "sekrit"
N_GEN = 6 if SAN else 12
N_CONCURRENT = 4 if SAN else 16  # the sanitizer build is ~20x slower: fewer clients, same checks


class Server:
    """A `latte serve` on a free port; stop() sends SIGTERM and returns the exit status."""

    def __init__(self, *args):
        self.p = subprocess.Popen([LATTE, "serve", "--port", "0", "-t", "2", *args], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        self.port, self.log = None, []
        deadline = time.time() + (120 if SAN else 30)
        while time.time() < deadline:
            line = self.p.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if line.startswith("listening on http://"):
                self.port = int(line.rsplit(":", 1)[1])
                break
        if self.port is None:
            self.p.kill()
            raise RuntimeError("server did not start: " + "".join(self.log)[-500:])
        self.base = f"http://127.0.0.1:{self.port}"

    def client(self, key=KEY):
        return openai.OpenAI(base_url=self.base + "/v1", api_key=key, max_retries=0, timeout=120)

    def http(self, method, path, body=None, headers=None, raw=None):
        """(status, parsed JSON or text) of one request."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        h = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode("utf-8", "replace")
        c.close()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = "hung"
        self.p.stderr.close()
        return rc


def latte_run(model, prompt, chat, template=None):
    args = [LATTE, "run", "-m", model, "-p", prompt, "-n", str(N_GEN), "--temp", "0", "--no-escape"]
    if chat:
        args.append("--chat")
    if template:
        args += ["--chat-template", template]
    r = subprocess.run(args, capture_output=True, timeout=120)
    return r.stdout.decode("utf-8", "replace")


def chat(cli, msgs, stream=False, **kw):
    r = cli.chat.completions.create(model="m", messages=msgs, max_tokens=N_GEN, temperature=0, stream=stream, **kw)
    if not stream:
        return r.choices[0].message.content, r
    parts, last, usage = [], None, None
    for ev in r:
        if ev.usage:
            usage = ev.usage
        if ev.choices:
            parts.append(ev.choices[0].delta.content or "")
            last = ev.choices[0].finish_reason or last
    return "".join(parts), (last, usage)


def complete(cli, prompt, stream=False, **kw):
    r = cli.completions.create(model="m", prompt=prompt, max_tokens=N_GEN, temperature=0, stream=stream, **kw)
    if not stream:
        return r.choices[0].text
    return "".join(ev.choices[0].text for ev in r if ev.choices)


def raw_stream(srv, path, body):
    """The raw SSE body of a streamed request."""
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    c.request("POST", path, body=json.dumps(body), headers={"Authorization": "Bearer " + KEY})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    return r.status, text


def big_body(srv, n):
    """Sends a body of n bytes the raw way (the server may answer before it is all sent)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=60)
    s.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {n}\r\n\r\n").encode())
    try:
        s.sendall(b"x" * n)
    except OSError:
        pass  # it answered and closed early
    data = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    except OSError:
        pass
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        return int(head.split()[1]), json.loads(body)
    except (IndexError, ValueError):
        return 0, data[:200]


def slots_idle(srv, wait=5.0):
    deadline = time.time() + wait
    while True:
        st, slots = srv.http("GET", "/slots")
        busy = [s["id"] for s in slots if s["is_processing"]] if st == 200 else ["?"]
        if not busy or time.time() > deadline:
            return busy
        time.sleep(0.05)


def check_basic(tag, srv, model, template):
    cli = srv.client()
    q = "What is the capital of France?"
    if template is not False:
        text, r = chat(cli, [{"role": "user", "content": q}])
        want = latte_run(model, q, True, template)
        report(f"{tag}_chat_equals_run", text == want, f"{text!r} != {want!r}")
        report(f"{tag}_chat_usage", r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 5
               and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens, str(r.usage))
        s_text, (finish, usage) = chat(cli, [{"role": "user", "content": q}], stream=True,
                                       stream_options={"include_usage": True})
        report(f"{tag}_chat_stream", s_text == text and finish in ("stop", "length") and usage is not None
               and usage.completion_tokens == r.usage.completion_tokens, f"{s_text!r} vs {text!r}, {finish}, {usage}")
        st, body = raw_stream(srv, "/v1/chat/completions", {"messages": [{"role": "user", "content": q}],
                                                             "max_tokens": 4, "stream": True})
        report(f"{tag}_sse_done", st == 200 and body.endswith("data: [DONE]\n\n") and body.startswith("data: {"),
               body[-80:])
    p = "The capital of France is"
    text = complete(cli, p)
    want = latte_run(model, p, False)
    report(f"{tag}_completion_equals_run", text == want, f"{text!r} != {want!r}")
    report(f"{tag}_completion_stream", complete(cli, p, stream=True) == text, "stream differs")
    st, j = srv.http("POST", "/completion", {"prompt": p, "n_predict": N_GEN, "temperature": 0})
    report(f"{tag}_native_completion", st == 200 and j.get("content") == text and j.get("stop") is True, str(j)[:200])
    st, j = srv.http("POST", "/completion", {"prompt": p, "n_predict": 3, "temperature": 0, "stop": [" "],
                                             "cache_prompt": False})
    report(f"{tag}_stop_string", st == 200 and " " not in j.get("content", " ") and j.get("stop_type") == "word",
           str(j)[:200])


def check_concurrent(tag, srv, n=N_CONCURRENT):
    cli = srv.client()
    prompts = [f"Write a line about the number {i}." for i in range(n)]
    alone = [chat(cli, [{"role": "user", "content": p}])[0] for p in prompts]

    def one(i):
        c = srv.client()
        return chat(c, [{"role": "user", "content": prompts[i]}], stream=True)

    t0 = time.time()
    with cf.ThreadPoolExecutor(n) as ex:
        got = list(ex.map(one, range(n)))
    dt = time.time() - t0
    bad = [i for i in range(n) if got[i][0] != alone[i] or got[i][1][0] not in ("stop", "length")]
    report(f"{tag}_{n}_concurrent_equal_alone", not bad,
           f"streams {bad} differ: {[(got[i][0], alone[i]) for i in bad[:2]]}")
    busy = slots_idle(srv)
    report(f"{tag}_no_slot_left_busy", not busy, f"busy slots {busy}")
    print(f"  {tag}: {n} concurrent streams in {dt:.2f}s")


def check_errors(tag, srv):
    st, j = srv.http("POST", "/v1/chat/completions", raw="{not json")
    report(f"{tag}_malformed_json_400", is_err(st, j, 400), f"{st} {j}")
    st, j = srv.http("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}],
                                                      "max_tokens": "ten"})
    report(f"{tag}_wrong_type_400", is_err(st, j, 400) and "max_tokens" in j["error"]["message"], f"{st} {j}")
    st, j = srv.http("POST", "/v1/chat/completions", {"messages": "hello"})
    report(f"{tag}_messages_type_400", is_err(st, j, 400), f"{st} {j}")
    st, j = srv.http("POST", "/v1/completions", {"prompt": "x", "temperature": -1})
    report(f"{tag}_out_of_range_400", is_err(st, j, 400), f"{st} {j}")
    st, j = big_body(srv, 9 << 20)
    report(f"{tag}_body_too_big_413", is_err(st, j, 413), f"{st} {str(j)[:100]}")
    st, j = srv.http("POST", "/v1/completions", {"prompt": "word " * 3000, "max_tokens": 4})
    report(f"{tag}_prompt_too_long_400", is_err(st, j, 400) and "slot" in j["error"]["message"], f"{st} {j}")
    st, j = srv.http("GET", "/v1/models", headers={"Authorization": ""})
    report(f"{tag}_missing_key_401", is_err(st, j, 401), f"{st} {j}")
    st, j = srv.http("GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
    report(f"{tag}_wrong_key_401", is_err(st, j, 401), f"{st} {j}")
    try:
        srv.client(key="wrong").models.list()
        report(f"{tag}_openai_auth_error", False, "no error raised")
    except openai.AuthenticationError:
        report(f"{tag}_openai_auth_error", True)
    st, j = srv.http("GET", "/health", headers={"Authorization": ""})
    report(f"{tag}_health_without_key", st == 200 and j == {"status": "ok"}, f"{st} {j}")
    st, j = srv.http("GET", "/nope")
    report(f"{tag}_unknown_route_404", is_err(st, j, 404), f"{st} {j}")
    # a client that hangs up mid-stream frees its slot
    s = socket.create_connection(("127.0.0.1", srv.port))
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 400, "stream": True})
    s.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
    first = s.recv(4096)
    s.close()
    busy = slots_idle(srv, wait=5)
    st, m = srv.http("GET", "/metrics")
    cancelled = [l for l in m.splitlines() if l.startswith("latte_requests_cancelled_total")] if st == 200 else []
    report(f"{tag}_disconnect_cancels", b"200" in first.split(b"\r\n")[0] and not busy and cancelled
           and float(cancelled[0].split()[1]) >= 1, f"{first[:40]} busy={busy} {cancelled}")
    st, j = srv.http("GET", "/health")
    report(f"{tag}_alive_after_errors", st == 200, f"{st}")


def check_queue_full(model):
    srv = Server("-m", model, "-np", "1", "--max-queue", "1", "-c", "512")
    try:
        body = {"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0}
        with cf.ThreadPoolExecutor(6) as ex:
            res = list(ex.map(lambda _: srv.http("POST", "/v1/completions", body), range(6)))
        codes = sorted(st for st, _ in res)
        report("queue_full_503", 503 in codes and 200 in codes and all(
            "error" in j for st, j in res if st == 503), f"statuses {codes}")
    finally:
        rc = srv.stop()
    report("queue_server_sigterm_exit_0", rc == 0, f"exit {rc}")


def check_prefix_reuse(tag, srv):
    cli = srv.client()
    msgs = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a color."}]
    a, r1 = chat(cli, msgs, extra_body={"id_slot": 0})
    msgs2 = msgs + [{"role": "assistant", "content": a}, {"role": "user", "content": "Another one."}]
    b, r2 = chat(cli, msgs2, extra_body={"id_slot": 0})
    cached = r2.usage.prompt_tokens_details.cached_tokens
    evaluated = r2.model_extra["timings"]["prompt_n"]
    report(f"{tag}_followup_reuses_prefix", cached >= r1.usage.prompt_tokens and
           evaluated == r2.usage.prompt_tokens - cached and evaluated < r2.usage.prompt_tokens - r1.usage.prompt_tokens + 8,
           f"first prompt {r1.usage.prompt_tokens}, second {r2.usage.prompt_tokens}, cached {cached}, evaluated {evaluated}")
    st, slots = srv.http("GET", "/slots")
    report(f"{tag}_slots_show_reuse", st == 200 and slots[0]["n_cached"] == cached and
           slots[0]["n_prompt_tokens_processed"] == evaluated, str(slots[0]))


def metric(srv, name):
    st, m = srv.http("GET", "/metrics")
    lines = [l for l in m.splitlines() if l.startswith(name + " ")] if st == 200 else []
    return float(lines[0].split()[1]) if lines else None


def is_err(st, j, want):
    return st == want and isinstance(j, dict) and "error" in j and {"message", "type", "code"} <= set(j["error"])


def check_slot_save(tag, srv, tmp):
    """Save writes the slot's cache; restore loads it without decoding, and a follow-up
    decodes only its new tokens yet answers as the same request sent to a fresh slot."""
    p = "Save me: the quick brown fox jumps over the lazy dog"
    more = p + ". Then the fox ran into the woods and"
    gen = {"n_predict": 6, "temperature": 0}
    st, ref = srv.http("POST", "/completion", {"prompt": more, "id_slot": 2, "cache_prompt": False, **gen})
    st, j1 = srv.http("POST", "/completion", {"prompt": p, "id_slot": 1, **gen})
    n_p = j1["tokens_evaluated"]
    st_s, js = srv.http("POST", "/slots/1?action=save", {"filename": "slot1.bin"})
    size = os.path.getsize(os.path.join(tmp, "slot1.bin")) if st_s == 200 else 0
    report(f"{tag}_slot_save", st_s == 200 and js.get("n_saved", 0) >= n_p and js.get("n_written") == size > 0,
           f"{st_s} {js} file {size} bytes")
    # slots 1 and 2 forget p, so nothing but the restore can supply it
    for sl in (1, 2):
        srv.http("POST", "/completion", {"prompt": "Something else entirely", "n_predict": 2, "id_slot": sl,
                                         "cache_prompt": False})
    evals = metric(srv, "latte_prompt_tokens_evaluated_total")
    st_r, jr = srv.http("POST", "/slots/1?action=restore", {"filename": "slot1.bin"})
    report(f"{tag}_slot_restore_no_decode", st_r == 200 and jr.get("n_restored") == js.get("n_saved") and
           metric(srv, "latte_prompt_tokens_evaluated_total") == evals, f"{st_r} {jr}")
    st, j2 = srv.http("POST", "/completion", {"prompt": more, "id_slot": 1, **gen})
    t2 = j2.get("timings", {})
    report(f"{tag}_slot_restore_reused", st == 200 and j2.get("tokens_cached", 0) >= n_p and
           t2.get("prompt_n") == j2["tokens_evaluated"] - j2["tokens_cached"] and t2.get("cache_n") == j2["tokens_cached"],
           f"cached {j2.get('tokens_cached')} of {j2.get('tokens_evaluated')} (saved prompt {n_p}), timings {t2}")
    report(f"{tag}_slot_restore_same_reply", j2.get("content") == ref.get("content") and ref.get("content"),
           f"{j2.get('content')!r} vs {ref.get('content')!r}")
    # bad files: each a 400 in the OpenAI format, the slot and the server unharmed
    blob = open(os.path.join(tmp, "slot1.bin"), "rb").read()
    bad = {"truncated": blob[:-7], "damaged": blob[:len(blob) // 2] + bytes([blob[len(blob) // 2] ^ 1]) +
           blob[len(blob) // 2 + 1:], "header_only": blob[:40], "old_format": b"LATSLOT1" + bytes(40), "empty": b""}
    for name, data in bad.items():
        with open(os.path.join(tmp, name + ".bin"), "wb") as f:
            f.write(data)
        st, j = srv.http("POST", "/slots/3?action=restore", {"filename": name + ".bin"})
        report(f"{tag}_slot_restore_{name}_400", is_err(st, j, 400), f"{st} {j}")
    st, j = srv.http("POST", "/slots/3?action=restore", {"filename": "no-such-file.bin"})
    report(f"{tag}_slot_restore_missing_404", is_err(st, j, 404), f"{st} {j}")
    for name in ("../etc/passwd", ".hidden", "a/b", ""):
        st, j = srv.http("POST", "/slots/1?action=restore", {"filename": name})
        report(f"{tag}_slot_bad_name_400 {name!r}", is_err(st, j, 400), f"{st} {j}")
    st, j = srv.http("GET", "/health")
    report(f"{tag}_slot_alive_after_bad_files", st == 200, f"{st}")


def check_slot_other_model(tag, srv):
    """A slot saved by the SmolLM2 server is refused by this one."""
    st, j = srv.http("POST", "/slots/0?action=restore", {"filename": "slot1.bin"})
    report(f"{tag}_slot_restore_other_model_400", is_err(st, j, 400) and "another model" in j["error"]["message"],
           f"{st} {j}")


SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"},
    "color": {"enum": ["red", "green", "blue"]}, "score": {"type": "number"},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 3},
    "ok": {"type": "boolean"}}, "required": ["name", "age", "color", "tags", "ok"]}


def valid(v, s):
    """The schema subset the server enforces, checked independently."""
    if "enum" in s:
        return v in s["enum"]
    t = s.get("type")
    if t == "object":
        props = s.get("properties", {})
        return isinstance(v, dict) and all(k in v for k in s.get("required", [])) and \
            all(k in props and valid(x, props[k]) for k, x in v.items())
    if t == "array":
        return isinstance(v, list) and len(v) <= s.get("maxItems", len(v)) and all(valid(x, s["items"]) for x in v)
    if t == "string":
        return isinstance(v, str) and len(v) <= s.get("maxLength", len(v))
    if t == "integer":
        return isinstance(v, int) and not isinstance(v, bool)
    if t == "number":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if t == "boolean":
        return isinstance(v, bool)
    return True


def check_json(tag, srv):
    cli = srv.client()
    rf = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}}
    for stream in (False,) if SAN else (False, True):
        for i, who in enumerate(("a pirate", "a cook")[int(stream):int(stream) + 1]):
            r = cli.chat.completions.create(model="m", messages=[{"role": "user", "content": f"Describe {who}."}],
                                            max_tokens=120, temperature=0.7, seed=i, response_format=rf, stream=stream)
            text = "".join(ev.choices[0].delta.content or "" for ev in r if ev.choices) if stream \
                else r.choices[0].message.content
            try:
                v = json.loads(text)
                ok, why = valid(v, SCHEMA), text
            except ValueError as e:
                ok, why = False, f"{e}: {text!r}"
            report(f"{tag}_json_schema{'_stream' if stream else ''}_{i}", ok, why)
    r = cli.chat.completions.create(model="m", messages=[{"role": "user", "content": "Reply in JSON."}],
                                    max_tokens=40, temperature=0, response_format={"type": "json_object"})
    text = r.choices[0].message.content
    ok = r.choices[0].finish_reason == "length"
    if not ok:
        try:
            ok = isinstance(json.loads(text), dict)
        except ValueError:
            ok = False
    report(f"{tag}_json_object", ok, text)
    st, j = srv.http("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}],
                                                      "response_format": {"type": "json_schema", "json_schema": {
                                                          "schema": {"type": "string", "pattern": "a+"}}}})
    report(f"{tag}_json_schema_unsupported_400", st == 400 and "pattern" in j["error"]["message"], f"{st} {j}")


def check_logprobs(tag, srv):
    cli = srv.client()
    r = cli.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=6,
                                    temperature=0, logprobs=True, top_logprobs=3)
    lp = r.choices[0].logprobs.content
    ok = len(lp) == r.usage.completion_tokens and "".join(t.token for t in lp) == r.choices[0].message.content
    ok = ok and all(len(t.top_logprobs) == 3 and t.top_logprobs[0].token == t.token and t.logprob <= 0 and
                    t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob >= t.top_logprobs[2].logprob for t in lp)
    report(f"{tag}_chat_logprobs", ok, str(lp[:2]))
    r = cli.completions.create(model="m", prompt="The capital of France is", max_tokens=4, temperature=0, logprobs=2)
    l = r.choices[0].logprobs
    report(f"{tag}_completion_logprobs", len(l.tokens) == 4 and len(l.top_logprobs[0]) == 2 and
           "".join(l.tokens) == r.choices[0].text and all(x <= 0 for x in l.token_logprobs), str(l)[:300])
    st, j = srv.http("POST", "/completion", {"prompt": "Hello", "n_predict": 3, "n_probs": 2, "temperature": 0})
    cp = j.get("completion_probabilities", []) if st == 200 else []
    report(f"{tag}_native_n_probs", len(cp) == 3 and all(len(c["top_logprobs"]) == 2 for c in cp), str(j)[:300])


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city",
                                           "parameters": {"type": "object", "required": ["city"], "properties": {
                                               "city": {"type": "string", "maxLength": 30}}}}},
         {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]


def check_tools(tag, srv):
    """A round trip: a forced call, the tool's result rendered back, then the answer."""
    cli = srv.client()
    for stream in (False,) if SAN else (False, True):
        msgs = [{"role": "user", "content": "What is the weather in Paris?"}]
        r = cli.chat.completions.create(model="m", messages=msgs, tools=TOOLS, max_tokens=40, temperature=0,
                                        tool_choice={"type": "function", "function": {"name": "get_weather"}},
                                        stream=stream)
        if stream:
            calls, finish = [], None
            for ev in r:
                for c in (ev.choices[0].delta.tool_calls or []) if ev.choices else []:
                    calls.append(c)
                finish = (ev.choices[0].finish_reason if ev.choices else None) or finish
        else:
            calls, finish = r.choices[0].message.tool_calls or [], r.choices[0].finish_reason
        ok = finish == "tool_calls" and len(calls) == 1 and calls[0].function.name == "get_weather"
        try:
            args = json.loads(calls[0].function.arguments) if calls else None
        except ValueError:
            args = None
        ok = ok and isinstance(args, dict) and isinstance(args.get("city"), str)
        name = f"{tag}_tool_call{'_stream' if stream else ''}"
        report(name, ok, f"{finish} {calls}")
        if not ok:
            continue
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": calls[0].id, "type": "function",
             "function": {"name": calls[0].function.name, "arguments": calls[0].function.arguments}}]})
        msgs.append({"role": "tool", "tool_call_id": calls[0].id, "content": "Sunny, 24 C"})
        r2 = cli.chat.completions.create(model="m", messages=msgs, tools=TOOLS, max_tokens=8, temperature=0)
        report(name + "_answer", r2.usage.prompt_tokens > r.usage.prompt_tokens + 5 if not stream else
               r2.usage.prompt_tokens > 0, str(r2.usage))
    st, j = srv.http("POST", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "tools": TOOLS,
                                                      "tool_choice": {"type": "function",
                                                                      "function": {"name": "nope"}}})
    report(f"{tag}_tool_choice_unknown_400", st == 400 and "nope" in j["error"]["message"], f"{st} {j}")


def timed(fn, *args):
    t0 = time.time()
    fn(*args)
    print(f"  {fn.__name__} {args[0]}: {time.time() - t0:.1f}s")


def main():
    if openai is None:
        print("SKIP check_server: the openai package is not installed (pip install -r tests/requirements.txt)")
        return 0
    if not os.path.exists(SMOL):
        print(f"SKIP check_server: the built-in model is not at {SMOL}")
        return 0
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server("--api-key", KEY, "-np", "16", "-c", "8192", "--slot-save-path", tmp)
        try:
            timed(check_basic, "smol", srv, SMOL, None)
            timed(check_concurrent, "smol", srv)
            timed(check_errors, "smol", srv)
            timed(check_prefix_reuse, "smol", srv)
            timed(check_slot_save, "smol", srv, tmp)
            timed(check_json, "smol", srv)
            timed(check_logprobs, "smol", srv)
            timed(check_tools, "smol", srv)
        finally:
            rc = srv.stop()
        report("smol_sigterm_exit_0", rc == 0, f"exit {rc}")
        check_queue_full(SMOL)
        if os.path.exists(TINY):
            srv = Server("-m", TINY, "--api-key", KEY, "-np", "16", "-c", "8192", "--chat-template", "deepseek3",
                         "--slot-save-path", tmp)
            try:
                timed(check_basic, "tiny_mla", srv, TINY, "deepseek3")
                if not SAN:  # the SmolLM2 run covers it there
                    timed(check_concurrent, "tiny_mla", srv)
                check_slot_other_model("tiny_mla", srv)
            finally:
                rc = srv.stop()
            report("tiny_mla_sigterm_exit_0", rc == 0, f"exit {rc}")
        else:
            print(f"SKIP tiny_mla: {TINY} not found")
    print(f"  check_server: {time.time() - t0:.1f}s")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
