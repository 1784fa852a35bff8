#!/usr/bin/env python3
"""serve_load.py: a load generator for `latte serve` (or any OpenAI-compatible server).

For each slot count (-np) it starts `latte serve -np N` (or uses --url), then runs N clients at
once, each sending --requests streamed /v1/completions requests one after another with a
different prompt, and records requests/s, aggregate generated tokens/s (all clients' tokens
over the wall time) and time to first token (mean and p90). Greedy, fixed length (ignore_eos
is not needed: a length is forced with max_tokens and prompts that do not end the text early).

  python3 bench/serve_load.py                      # built-in model, slots 1,4,16
  python3 bench/serve_load.py -m model.gguf --slots 1,4,16 --tokens 64 --requests 2
  python3 bench/serve_load.py --url http://127.0.0.1:8080 --slots 4   # an already running server
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_server(latte, model, slots, ctx, threads, extra):
    args = [latte, "serve", "--port", "0", "-np", str(slots), "-c", str(ctx * slots)]
    if model:
        args += ["-m", model]
    if threads:
        args += ["-t", str(threads)]
    p = subprocess.Popen(args + extra, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if line.startswith("listening on http://"):
            host, port = line.split("//", 1)[1].strip().rsplit(":", 1)
            threading.Thread(target=p.stderr.read, daemon=True).start()  # keep the pipe drained
            return p, host, int(port)
    p.wait()
    sys.exit("the server did not start")


def one_request(host, port, prompt, tokens, key):
    """(time to first token, total time, completion tokens) of one streamed completion."""
    c = http.client.HTTPConnection(host, port, timeout=600)
    body = {"prompt": prompt, "max_tokens": tokens, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}}
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    t0 = time.time()
    c.request("POST", "/v1/completions", body=json.dumps(body), headers=headers)
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
    ttft, n, buf = None, 0, b""
    while True:
        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(4096)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            data = ev[6:] if ev.startswith(b"data: ") else b""
            if not data or data == b"[DONE]":
                continue
            j = json.loads(data)
            if j.get("choices") and j["choices"][0].get("text") and ttft is None:
                ttft = time.time() - t0
            if j.get("usage"):
                n = j["usage"]["completion_tokens"]
    c.close()
    return ttft if ttft is not None else time.time() - t0, time.time() - t0, n


def run_load(host, port, clients, requests, tokens, key):
    results, errors = [], []
    lock = threading.Lock()

    def client(i):
        for k in range(requests):
            prompt = f"Story {i}-{k}: once upon a time, in a town by the sea, there lived"
            try:
                r = one_request(host, port, prompt, tokens, key)
                with lock:
                    results.append(r)
            except Exception as e:  # a failed request is counted, not fatal
                with lock:
                    errors.append(str(e))

    t0 = time.time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    ttfts = sorted(r[0] for r in results)
    return {"slots": clients, "requests": len(results), "errors": len(errors), "wall_s": round(wall, 2),
            "req_per_s": round(len(results) / wall, 3),
            "gen_tok_per_s": round(sum(r[2] for r in results) / wall, 2),
            "ttft_mean_s": round(statistics.mean(ttfts), 3) if ttfts else None,
            "ttft_p90_s": round(ttfts[int(0.9 * (len(ttfts) - 1))], 3) if ttfts else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", "--model", help="model file (default: the built-in one)")
    ap.add_argument("--latte", default=os.path.join(ROOT, "build", "latte"))
    ap.add_argument("--url", help="use a running server instead (http://host:port)")
    ap.add_argument("--api-key")
    ap.add_argument("--slots", default="1,4,16", help="slot counts (clients = slots)")
    ap.add_argument("--requests", type=int, default=2, help="requests per client")
    ap.add_argument("--tokens", type=int, default=32, help="tokens generated per request")
    ap.add_argument("--ctx", type=int, default=512, help="context per slot")
    ap.add_argument("-t", "--threads", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object per row")
    a, extra = ap.parse_known_args()
    rows = []
    for n in [int(x) for x in a.slots.split(",")]:
        p = None
        if a.url:
            host, port = a.url.split("//", 1)[-1].rstrip("/").rsplit(":", 1)
            port = int(port)
        else:
            p, host, port = start_server(a.latte, a.model, n, a.ctx, a.threads, extra)
        try:
            one_request(host, port, "warm up", 2, a.api_key)
            row = run_load(host, port, n, a.requests, a.tokens, a.api_key)
        finally:
            if p:
                p.terminate()
                p.wait()
        rows.append(row)
        print(json.dumps(row) if a.json else
              f"slots {n:3d}: {row['requests']:4d} requests in {row['wall_s']:7.2f} s = {row['req_per_s']:7.3f} req/s, "
              f"{row['gen_tok_per_s']:8.2f} tok/s generated, TTFT mean {row['ttft_mean_s']} s p90 {row['ttft_p90_s']} s"
              + (f", {row['errors']} errors" if row["errors"] else ""), flush=True)
    if len(rows) > 1 and rows[0]["gen_tok_per_s"]:
        print(f"aggregate speed-up at {rows[-1]['slots']} slots: "
              f"{rows[-1]['gen_tok_per_s'] / rows[0]['gen_tok_per_s']:.2f}x the single stream")


if __name__ == "__main__":
    main()
