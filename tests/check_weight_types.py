#!/usr/bin/env python3
"""Weight types end to end. For each type that latte runs through the generic (dequantizing)
path or a kernel of its own, qwen2-tiny's matrices (and its embedding) are replaced by random
blocks of that type with sane scales, and a twin file holds the same weights as f32, decoded
by the python gguf package (gguf.quants.dequantize, independent of latte). `latte logits` on
the two must agree (relative L2 < 1e-5 for the types multiplied through the generic path, with
x in f32: float rounding; < 1e-3 for those with integer kernels, which round x to 16 bits: the
random-sign weights cancel in the dot products, and a rounding step of x that moves by a float
ulp upstream shows up in the logits; the kernels themselves are checked tightly against exact
products in test_cpu_matmul): loading, embedding lookup and matmul of the type are right. A type latte cannot run yet (ik_llama.cpp's iq4_k here) must
be described by `latte info` and refused by `latte logits` with one error line naming the
type and the tensor. ik_llama.cpp's interleaved IQ4_KS_R4 and Q8_0_R8 (repacked at load) are
checked the same way against an f32 twin decoded in numpy from their block layout. About 4 s. Env: LATTE_BUILD, LATTE_FIXTURES."""
import os, struct, subprocess, sys, tempfile

import numpy as np
from gguf import GGMLQuantizationType as QT, quants
from gguf.constants import GGML_QUANT_SIZES

from testlib import FIX, LATTE, SAN, Reporter  # noqa: E402
from gguf_copy import read_gguf, write_gguf  # noqa: E402

TIMEOUT = 300 if SAN else 60
TOKENS = "1,2,3,4,5,6,7"
report = Reporter()

# type -> ((offset of an f16 scale in the block, value), ...)
SCALES = {
    QT.Q2_K: ((80, 0.002), (82, 0.002)),
    QT.Q3_K: ((108, 0.0006),),
    QT.IQ4_NL: ((0, 0.0003),),
    QT.IQ4_XS: ((0, 0.00002),),
    QT.TQ1_0: ((52, 0.02),),
    QT.TQ2_0: ((64, 0.02),),
    QT.Q4_K: ((0, 0.0001), (2, 0.0001)),
    QT.IQ2_XXS: ((0, 0.0002),),
    QT.IQ2_XS: ((0, 0.0002),),
    QT.IQ2_S: ((0, 0.0002),),
    QT.IQ3_XXS: ((0, 0.0001),),
    QT.IQ3_S: ((0, 0.0001),),
    QT.IQ1_S: ((0, 0.002),),
}


def read_model(name):
    return read_gguf(os.path.join(FIX, name + ".gguf"))


def random_blocks(qt, rows, ne0, rng):
    be, bb = GGML_QUANT_SIZES[qt]
    nb = ne0 // be
    q = rng.integers(0, 256, size=(rows, nb, bb), dtype=np.uint8)
    for off, d in SCALES[qt]:
        v = (rng.uniform(0.5, 1.5, size=(rows, nb)) * d).astype(np.float16)
        q[:, :, off:off + 2] = v.view(np.uint8).reshape(rows, nb, 2)
    return q.reshape(rows, nb * bb)


def variants(model, qt, rng):
    """(tensors in type qt where the shape allows, the same decoded to f32), and how many changed"""
    kv, tensors = model
    be = GGML_QUANT_SIZES[qt][0]
    a, b, n = [], [], 0
    for name, data, t, shape in tensors:
        if len(shape) == 2 and shape[0] % be == 0 and name.endswith(".weight"):
            q = random_blocks(qt, shape[1], shape[0], rng)
            a.append((name, q, qt))
            b.append((name, quants.dequantize(q, qt).astype(np.float32).reshape(shape[1], shape[0]), QT.F32))
            n += 1
        else:
            a.append((name, data, t))
            b.append((name, data, t))
    return a, b, n


def run(args):
    try:
        p = subprocess.run([LATTE] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace", timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "", "timed out"
    return p.returncode, p.stdout, p.stderr


def logits(path, out):
    rc, _, err = run(["logits", "-m", path, "--tokens", TOKENS, "-o", out, "-c", "64", "-t", "2"])
    return (np.fromfile(out, dtype="<f4"), "") if rc == 0 else (None, err.strip()[:300])


def patch_type(path, tensor, new_type):
    """Rewrites the type id of one tensor in the directory (same block size and bytes)."""
    with open(path, "r+b") as f:
        buf = f.read()
        name = tensor.encode()
        at = buf.index(struct.pack("<Q", len(name)) + name) + 8 + len(name)
        n_dims = struct.unpack_from("<I", buf, at)[0]
        f.seek(at + 4 + 8 * n_dims)
        f.write(struct.pack("<I", new_type))


# ik_llama.cpp's row-interleaved types, which gguf-py cannot write: the tensor is written as
# int8 bytes [rows][row bytes] and its directory entry patched to the real type and width.
# The f32 twin decodes the layout in numpy (from ik_llama.cpp's block layout).
IQ4K = np.array([-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
                 -123, -100, -79, -61, -45, -31, -18, -6, 5, 17, 29, 42, 57, 73, 93, 117], dtype=np.float32)


def q8_0_r8(rows, ne0, rng):
    """random groups of 8 rows: per 32 columns d[8] (f16) and qs[256]; returns (bytes, f32)"""
    nb = ne0 // 32
    raw = rng.integers(0, 256, size=(rows // 8, nb, 272), dtype=np.uint8)
    d = rng.uniform(0.001, 0.004, size=(rows // 8, nb, 8)).astype(np.float16)
    raw[:, :, :16] = d.view(np.uint8).reshape(rows // 8, nb, 16)
    qs = raw[:, :, 16:].view(np.int8).astype(np.float32)
    y = np.zeros((rows // 8, 8, nb, 32), dtype=np.float32)
    for k in range(8):
        for l in range(4):
            for i in range(4):
                y[:, k, :, 4 * l + i] = qs[:, :, 32 * l + 4 * k + i]
                y[:, k, :, 16 + 4 * l + i] = qs[:, :, 128 + 32 * l + 4 * k + i]
        y[:, k] *= d[:, :, k].astype(np.float32)[:, :, None]
    return raw.reshape(rows, nb * 34), y.reshape(rows, ne0)


def iq4_ks_r4(rows, ne0, rng):
    """random groups of 4 rows: 4 float row scales, then per 256 columns scales[32], qs[512]"""
    nbl = ne0 // 256
    g = rows // 4
    dsc = rng.uniform(0.0002, 0.0005, size=(g, 4)).astype(np.float32)
    blk = rng.integers(0, 256, size=(g, nbl, 544), dtype=np.uint8)
    raw = np.concatenate([dsc.view(np.uint8), blk.reshape(g, -1)], axis=1)
    y = np.zeros((g, 4, nbl, 8, 32), dtype=np.float32)
    order = [(0, 0, 0), (8, 0, 4), (16, 16, 0), (24, 16, 4), (4, 32, 0), (12, 32, 4), (20, 48, 0), (28, 48, 4)]
    for k in range(4):
        for ib in range(8):
            s = blk[:, :, 4 * ib + k].astype(np.int32)
            dl = dsc[:, k][:, None] * ((s & 254) - 127).astype(np.float32)
            off = (s & 1) * 16
            for i in range(4):
                for e, q, sh in order:
                    code = (blk[:, :, 32 + 64 * ib + 4 * k + i + q] >> sh) & 15
                    y[:, k, :, ib, e + i] = dl * IQ4K[off + code]
    return raw.reshape(rows, -1), y.reshape(rows, ne0)


def patch_tensor(path, tensor, new_type, ne0):
    """Rewrites one tensor's ne[0] and type id in the directory."""
    with open(path, "r+b") as f:
        buf = f.read()
        name = tensor.encode()
        at = buf.index(struct.pack("<Q", len(name)) + name) + 8 + len(name)
        n_dims = struct.unpack_from("<I", buf, at)[0]
        f.seek(at + 4)
        f.write(struct.pack("<Q", ne0))
        f.seek(at + 4 + 8 * n_dims)
        f.write(struct.pack("<I", new_type))


def check_interleaved(model, tmp, rng):
    kv, tensors = model
    for name, tid, be, make in (("q8_0_r8", 208, 32, q8_0_r8), ("iq4_ks_r4", 344, 256, iq4_ks_r4)):
        a, b, patched = [], [], []
        for tn, data, t, shape in tensors:
            if len(shape) == 2 and shape[0] % be == 0 and shape[1] % 8 == 0 and tn.endswith(".weight"):
                raw, y = make(shape[1], shape[0], rng)
                a.append((tn, raw.view(np.int8), QT.I8))
                b.append((tn, y, QT.F32))
                patched.append((tn, shape[0]))
            else:
                a.append((tn, data, t))
                b.append((tn, data, t))
        pa, pb = os.path.join(tmp, name + ".gguf"), os.path.join(tmp, name + "-f32.gguf")
        write_gguf(pa, kv, a)
        write_gguf(pb, kv, b)
        for tn, ne0 in patched:
            patch_tensor(pa, tn, tid, ne0)
        rc, out, err = run(["info", pa])
        report(f"info_{name}", rc == 0 and name in out and "repacked" in out, (err or out)[-300:])
        la, ea = logits(pa, pa + ".f32")
        lb, eb = logits(pb, pb + ".f32")
        if la is None or lb is None:
            report(f"e2e_{name}", False, ea or eb)
            continue
        rel = float(np.linalg.norm(la - lb) / max(np.linalg.norm(lb), 1e-30))
        tol = 1e-3  # both repack to types with integer kernels (16-bit x)
        report(f"e2e_{name}", len(patched) >= 10 and np.std(lb) > 1e-3 and rel < tol,
               f"{len(patched)} tensors, relative L2 {rel:.3g} against the f32 twin")


def main():
    tmp = tempfile.mkdtemp(prefix="latte-types-")
    model = read_model("qwen2-tiny")
    rng = np.random.default_rng(7)
    for qt in SCALES:
        a, b, n = variants(model, qt, rng)
        pa, pb = os.path.join(tmp, qt.name + ".gguf"), os.path.join(tmp, qt.name + "-f32.gguf")
        write_gguf(pa, model[0], a)
        write_gguf(pb, model[0], b)
        la, ea = logits(pa, pa + ".f32")
        lb, eb = logits(pb, pb + ".f32")
        name = f"e2e_{qt.name.lower()}"
        if la is None or lb is None:
            report(name, False, ea or eb)
            continue
        rel = float(np.linalg.norm(la - lb) / max(np.linalg.norm(lb), 1e-30))
        tol = 1e-3 if qt in (QT.Q2_K, QT.Q3_K, QT.IQ4_XS, QT.Q4_K) else 1e-5
        report(name, n >= 10 and np.all(np.isfinite(la)) and np.std(lb) > 1e-3 and rel < tol,
               f"{n} tensors converted, relative L2 {rel:.3g} against the f32 twin (std {np.std(lb):.3g})")
        if qt == QT.Q4_K:
            # same block size and bytes as ik's q4_k_r4 (id 212), which latte does not run
            patch_type(pa, "blk.1.ffn_up.weight", 212)
            rc, out, err = run(["info", pa])
            report("info_q4_k_r4", rc == 0 and "q4_k_r4" in out and "cannot run" in out, (err or out)[-300:])
            rc, _, err = run(["logits", "-m", pa, "--tokens", TOKENS, "-o", pa + ".x", "-c", "64"])
            lines = err.splitlines()
            report("run_q4_k_r4_refused", rc is not None and rc > 0 and len(lines) == 1 and
                   "q4_k_r4" in lines[0] and "blk.1.ffn_up.weight" in lines[0], err.strip()[:300])
    check_interleaved(model, tmp, rng)
    subprocess.run(["rm", "-rf", tmp])
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
