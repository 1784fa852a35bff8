#!/usr/bin/env python3
"""Split GGUF models (llama.cpp's gguf-split layout: NAME-00001-of-0000N.gguf, keys split.no,
split.count, split.tensors.count; the first shard holds the metadata). A fixture (qwen2-tiny
and ds3-tiny) is split at test time with the python `gguf` package into 2 and 3 shards; `latte
logits` given any shard must write the same bytes as on the whole file. Broken sets (a shard
missing, a foreign shard, a truncated shard, a tensor twice or missing, a shard renamed) must
fail with exactly one 'error:' line and a status > 0. About 5 s. Env: LATTE_BUILD, LATTE_FIXTURES."""
import os, subprocess, sys, tempfile

from gguf import GGUFValueType as VT

from testlib import FIX, LATTE, SAN, Reporter  # noqa: E402
from gguf_copy import read_gguf, write_gguf  # noqa: E402

TIMEOUT = 300 if SAN else 60
TOKENS = "1,2,3,4,5"
report = Reporter()


def read_model(name):
    """(kv list of (key, type, sub_type, value), tensors list of (name, data, qtype)) of a fixture."""
    kv, tensors = read_gguf(os.path.join(FIX, name + ".gguf"))
    return kv, [t[:3] for t in tensors]


def write_shard(path, kv, tensors, no, count, n_total):
    split_kv = [("split.no", VT.UINT16, None, no), ("split.count", VT.UINT16, None, count),
                ("split.tensors.count", VT.INT32, None, n_total)]
    write_gguf(path, list(kv) + split_kv, tensors)


def shard_name(prefix, i, count):
    return f"{prefix}-{i + 1:05d}-of-{count:05d}.gguf"


def split(model, prefix, count, parts=None, n_total=None):
    """Writes model's shards; parts[i] is the tensor list of shard i (default: even split)."""
    kv, tensors = model
    if parts is None:
        step = (len(tensors) + count - 1) // count
        parts = [tensors[i * step:(i + 1) * step] for i in range(count)]
    n_total = len(tensors) if n_total is None else n_total
    paths = []
    for i in range(count):
        paths.append(shard_name(prefix, i, count))
        write_shard(paths[-1], kv if i == 0 else [], parts[i], i, count, n_total)
    return paths


def run(args):
    try:
        p = subprocess.run([LATTE] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace", timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "", "timed out"
    return p.returncode, p.stdout, p.stderr


def logits(path, out):
    rc, _, err = run(["logits", "-m", path, "--tokens", TOKENS, "-o", out, "-c", "64", "-t", "1"])
    if rc != 0:
        return None, err.strip()
    with open(out, "rb") as f:
        return f.read(), ""


def check_same(name, path, ref, tmp):
    got, err = logits(path, os.path.join(tmp, name + ".f32"))
    report(name, got is not None and got == ref, err or "logits differ from the whole file's")


def check_fails(name, path, words, tmp):
    rc, _, err = run(["logits", "-m", path, "--tokens", TOKENS, "-o", os.path.join(tmp, "x.f32"), "-c", "64"])
    lines = err.splitlines()
    why = []
    if rc is None or rc <= 0:
        why.append(f"status {rc}")
    if len(lines) != 1 or not lines[0].startswith("error:"):
        why.append("stderr is not one 'error:' line: " + err.strip()[:300])
    elif not all(w in lines[0] for w in words):
        why.append(f"error line lacks {words}: {lines[0][:300]}")
    report(name, not why, "; ".join(why))


def main():
    tmp = tempfile.mkdtemp(prefix="latte-split-")
    for fx in ("qwen2-tiny", "ds3-tiny"):
        model = read_model(fx)
        ref, err = logits(os.path.join(FIX, fx + ".gguf"), os.path.join(tmp, fx + ".f32"))
        report(f"{fx}_whole", ref is not None, err)
        if ref is None:
            continue
        for count in (2, 3):
            paths = split(model, os.path.join(tmp, f"{fx}-s{count}"), count)
            check_same(f"{fx}_split{count}_first", paths[0], ref, tmp)
            check_same(f"{fx}_split{count}_last", paths[-1], ref, tmp)
        rc, out, err = run(["info", paths[1]])
        report(f"{fx}_info_shards", rc == 0 and "shard 3 of 3" in out, err.strip()[:300])

    model = read_model("qwen2-tiny")
    kv, tensors = model
    d = os.path.join(tmp, "bad")
    os.mkdir(d)
    # a shard missing: named in the error
    paths = split(model, os.path.join(d, "miss"), 3)
    os.unlink(paths[1])
    check_fails("missing_shard", paths[0], ["miss-00002-of-00003.gguf", "missing"], tmp)
    # a shard of another model's split in the set
    paths = split(model, os.path.join(d, "foreign"), 3)
    other = split(read_model("ds3-tiny"), os.path.join(d, "other"), 3)
    os.replace(other[2], paths[2])
    check_fails("foreign_shard", paths[0], ["foreign-00003-of-00003.gguf", "does not belong"], tmp)
    # a shard whose split.no does not match its name
    paths = split(model, os.path.join(d, "swap"), 3)
    os.replace(paths[1], paths[2] + ".tmp")
    os.replace(paths[2], paths[1])
    os.replace(paths[2] + ".tmp", paths[2])
    check_fails("swapped_shards", paths[0], ["does not belong"], tmp)
    # the last shard cut short
    paths = split(model, os.path.join(d, "trunc"), 3)
    with open(paths[2], "r+b") as f:
        f.truncate(os.path.getsize(paths[2]) - 1000)
    check_fails("truncated_shard", paths[1], ["trunc-00003-of-00003.gguf", "truncated"], tmp)
    # a tensor in two shards (counts still agree)
    third = (len(tensors) + 2) // 3
    parts = [tensors[:third], tensors[third:2 * third] + [tensors[0]], tensors[2 * third:]]
    paths = split(model, os.path.join(d, "dup"), 3, parts, len(tensors) + 1)
    check_fails("duplicate_tensor", paths[0], [tensors[0][0], "again"], tmp)
    # a tensor in no shard
    parts = [tensors[:third], tensors[third:2 * third], tensors[2 * third:-1]]
    paths = split(model, os.path.join(d, "lost"), 3, parts)
    check_fails("missing_tensor", paths[0], ["split.tensors.count"], tmp)
    # a shard renamed: the others cannot be found
    paths = split(model, os.path.join(d, "ren"), 2)
    os.replace(paths[0], os.path.join(d, "renamed.gguf"))
    check_fails("renamed_shard", os.path.join(d, "renamed.gguf"), ["cannot be found"], tmp)
    if not os.environ.get("KEEP"):
        subprocess.run(["rm", "-rf", tmp])
    else:
        print(tmp)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
