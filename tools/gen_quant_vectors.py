#!/usr/bin/env python3
"""Writes tests/data/quant/<type>.bin: reference vectors for tests/test_quant.c, made with
the python `gguf` package (gguf.quants), independent of latte's own code.
Layout (little-endian): "LQV1", u32 type id, u32 n elements, u32 n bytes, u32 has_src,
f32 src[n] (when has_src: the input given to gguf's quantize), u8 q[n bytes] (the blocks),
f32 deq[n] (gguf's dequantize of the blocks). K-quant blocks are random bytes with sane
f16 scales, since gguf-py cannot quantize them."""
import os
import struct
import sys

import numpy as np
from gguf import quants, GGMLQuantizationType as T

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "quant")

EDGE = [0.0, -0.0, 1.0, -2.5, 65504.0, 65519.0, 65520.0, 1e6, -1e6, 6.1e-5, 6.0e-5, 5.96e-8,
        2.98e-8, 2.99e-8, 1e-9, 1.00048828125, 1.00146484375, 3.0e-39, float("inf"), float("-inf"),
        float("nan"), 1.0 + 2**-8, 1.0 + 3 * 2**-8, 1.0 + 2**-8 + 2**-20]


def write(name, qtype, q, deq, src=None):
    q = np.ascontiguousarray(q, dtype=np.uint8).reshape(-1)
    deq = np.ascontiguousarray(deq, dtype=np.float32).reshape(-1)
    with open(os.path.join(OUT, name + ".bin"), "wb") as f:
        f.write(b"LQV1" + struct.pack("<IIII", int(qtype), deq.size, q.size, src is not None))
        if src is not None:
            f.write(np.ascontiguousarray(src, dtype=np.float32).reshape(-1).tobytes())
        f.write(q.tobytes())
        f.write(deq.tobytes())


def quantized(name, qtype, x):
    q = quants.quantize(x, qtype)
    q = q.view(np.uint8) if q.dtype != np.uint8 else q
    deq = quants.dequantize(q, qtype)
    write(name, qtype, q, deq, x)


def k_random(name, qtype, block_bytes, scale_offsets, rng, n_blocks=4):
    q = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for off in scale_offsets:
        vals = rng.uniform(0.001, 0.05, size=n_blocks).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
        q[:, off:off + 2] = vals
    deq = quants.dequantize(q.reshape(-1), qtype)
    write(name, qtype, q, deq)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(1234)
    x = (rng.standard_normal(4 * 64) * rng.uniform(0.1, 3.0)).astype(np.float32)
    x[:8] = 0.0  # a block that is mostly zeros
    x[32:64] = 0.0  # an all-zero block: scale 0
    x = x.reshape(4, 64)
    for name, t in [("q4_0", T.Q4_0), ("q4_1", T.Q4_1), ("q5_0", T.Q5_0), ("q5_1", T.Q5_1),
                    ("q8_0", T.Q8_0)]:
        quantized(name, t, x)
    edge = np.array(EDGE + list(rng.standard_normal(64 - len(EDGE)) * 100), dtype=np.float32)
    quantized("f16", T.F16, edge)
    quantized("bf16", T.BF16, edge)
    write("f32", T.F32, edge.view(np.uint8), edge, edge)
    k_random("q4_k", T.Q4_K, 144, [0, 2], rng)
    k_random("q5_k", T.Q5_K, 176, [0, 2], rng)
    k_random("q6_k", T.Q6_K, 210, [208], rng)
    k_random("q2_k", T.Q2_K, 84, [80, 82], rng)
    k_random("q3_k", T.Q3_K, 110, [108], rng)
    k_random("iq4_nl", T.IQ4_NL, 18, [0], rng, n_blocks=16)
    k_random("iq4_xs", T.IQ4_XS, 136, [0], rng)
    k_random("tq1_0", T.TQ1_0, 54, [52], rng)
    k_random("tq2_0", T.TQ2_0, 66, [64], rng)
    k_random("iq2_xxs", T.IQ2_XXS, 66, [0], rng)
    k_random("iq2_xs", T.IQ2_XS, 74, [0], rng)
    k_random("iq2_s", T.IQ2_S, 82, [0], rng)
    k_random("iq3_xxs", T.IQ3_XXS, 98, [0], rng)
    k_random("iq3_s", T.IQ3_S, 110, [0], rng)
    k_random("iq1_s", T.IQ1_S, 50, [0], rng)
    k_random("iq1_m", T.IQ1_M, 56, [], rng)  # its f16 d is spread over the scales' top nibbles
    return 0


if __name__ == "__main__":
    sys.exit(main())
