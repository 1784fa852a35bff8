#!/usr/bin/env python3
"""Model-level hostile or broken GGUF files: structurally valid GGUF whose content is wrong
(a required key missing, a key of the wrong type, absurd values, an unknown architecture, a
tensor missing, of the wrong shape or of a type the backend cannot multiply, layers mixing MLA
layouts, norms stored as f16), plus valid edge cases that must work (optional keys absent).

Each file is a copy of a fixture (shared/fixtures: ds3-tiny, ds2lite-tiny, qwen2-tiny) written
at test time into a temp dir with the python `gguf` package, with one thing changed. For each
broken file `latte logits -m FILE --tokens 1,2,3 -o OUT` must end with a status > 0 (never a
signal), print exactly one stderr line, starting with "error:" and naming the problem (a key
word: the key or tensor name), and no sanitizer report. `latte info FILE` must not crash, and
where the metadata is intact it must describe the model (exit 0). The valid edge cases must
exit 0 with finite logits equal to those of the unmodified fixture (where the change cannot
alter the model). One PASS/FAIL line per case. Env: LATTE_BUILD, LATTE_ROOT, LATTE_FIXTURES.
"""
import math, os, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from gguf import GGUFReader, GGUFWriter, GGUFValueType as VT, GGMLQuantizationType as QT

from testlib import FIX, LATTE, SAN  # noqa: E402
TIMEOUT = 300 if SAN else 60
BAD_WORDS = ("Segmentation", "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer", "runtime error",
             "core dumped", "Aborted", "==ERROR", "SUMMARY:")
TOKENS = "1,2,3"


class Model:
    """A fixture's key/value pairs and tensors, editable, writable as a new GGUF."""

    def __init__(self, name):
        r = GGUFReader(os.path.join(FIX, name + ".gguf"))
        self.kv = {}  # key -> (vtype, sub_type, value)
        for k, f in r.fields.items():
            if k.startswith("GGUF."):
                continue
            t = f.types[0]
            if t == VT.ARRAY:
                sub = f.types[-1]
                if sub == VT.STRING:
                    val = [bytes(f.parts[i]) for i in f.data]
                else:
                    val = list(f.contents())
                self.kv[k] = (t, sub, val)
            elif t == VT.STRING:
                self.kv[k] = (t, None, bytes(f.parts[f.data[0]]))
            else:
                self.kv[k] = (t, None, f.contents())
        self.tensors = {}  # name -> (numpy data as the reader gives it, raw dtype)
        for t in r.tensors:
            self.tensors[t.name] = (np.array(t.data), QT(int(t.tensor_type)))
        self.arch = self.kv["general.architecture"][2].decode()

    def copy(self):
        m = Model.__new__(Model)
        m.kv = dict(self.kv)
        m.tensors = dict(self.tensors)
        m.arch = self.arch
        return m

    def set(self, key, vtype, val):
        self.kv[key] = (vtype, None, val)
        return self

    def drop(self, *keys):
        for k in keys:
            del self.kv[k]
        return self

    def drop_t(self, *names):
        for n in names:
            del self.tensors[n]
        return self

    def write(self, path):
        w = GGUFWriter(path, self.arch)
        w.kv_data[0].clear()  # our own order and contents, general.architecture included
        for k, (t, sub, val) in self.kv.items():
            w.add_key_value(k, val, t, sub_type=sub)
        for n, (data, qt) in self.tensors.items():
            w.add_tensor(n, data, raw_dtype=qt)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()


def run(args):
    try:
        p = subprocess.run([LATTE] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors="replace", timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, "", f"timed out after {TIMEOUT}s"
    return p.returncode, p.stdout, p.stderr


def short(s, n=300):
    s = s.strip().replace("\n", " | ")
    return s if len(s) <= n else s[:n] + "..."


def sanitizer_free(err):
    return [w for w in BAD_WORDS if w in err]


def check_error(name, path, keywords, tmp, info_ok):
    """Broken model: logits must fail cleanly with one 'error:' line naming a keyword."""
    out = os.path.join(tmp, name + ".f32")
    rc, _, err = run(["logits", "-m", path, "--tokens", TOKENS, "-o", out, "-c", "64", "-t", "1"])
    why = []
    if rc is None:
        why.append(err)
    elif rc < 0:
        why.append(f"killed by signal {-rc}")
    elif rc == 0:
        why.append("exit status 0 for a broken model")
    bad = sanitizer_free(err)
    if bad:
        why.append(f"stderr has {bad}")
    lines = err.splitlines()
    if len(lines) != 1 or not lines[0].startswith("error:"):
        why.append(f"stderr is not exactly one 'error:' line")
    elif not any(k.lower() in lines[0].lower() for k in keywords):
        why.append(f"error line names none of {keywords}")
    # info reads only metadata and the tensor directory: never a crash; a description when
    # the metadata is intact
    irc, iout, ierr = run(["info", path])
    if irc is None:
        why.append("info: " + ierr)
    elif irc < 0:
        why.append(f"info killed by signal {-irc}")
    elif sanitizer_free(ierr):
        why.append(f"info stderr has {sanitizer_free(ierr)}")
    elif info_ok and (irc != 0 or "architecture:" not in iout or "(no usable" in iout):
        why.append(f"info exit {irc} on a file with intact metadata: {short(ierr or iout)}")
    if why:
        return f"FAIL bad_models.{name}: {'; '.join(why)} (rc {rc}, stderr: {short(err)})"
    return f"PASS bad_models.{name}: {lines[0][:160]}"


def logits_of(path, tmp, tag):
    out = os.path.join(tmp, tag + ".f32")
    rc, _, err = run(["logits", "-m", path, "--tokens", TOKENS, "-o", out, "-c", "64", "-t", "1"])
    arr = np.fromfile(out, dtype="<f4") if rc == 0 and os.path.exists(out) else None
    return rc, err, arr


def check_valid(name, path, ref_path, tmp, info_words):
    """Valid edge case: exit 0, finite logits equal to the unmodified fixture's (when given)."""
    why = []
    rc, err, arr = logits_of(path, tmp, name)
    if rc != 0:
        why.append(f"exit status {rc}: {short(err)}")
    if sanitizer_free(err):
        why.append(f"stderr has {sanitizer_free(err)}")
    if arr is not None:
        if arr.size == 0 or arr.size % 3 or not np.all(np.isfinite(arr)):
            why.append(f"{arr.size} logits, finite: {bool(np.all(np.isfinite(arr)))}")
        if ref_path:
            rrc, rerr, ref = logits_of(ref_path, tmp, name + ".ref")
            if ref is None:
                why.append(f"reference run failed: {short(rerr)}")
            elif ref.shape != arr.shape:
                why.append(f"{arr.size} logits, unmodified fixture gives {ref.size}")
            elif not np.array_equal(ref, arr):
                why.append(f"logits differ from the unmodified fixture (max |d| {np.max(np.abs(ref - arr)):.3g})")
    irc, iout, ierr = run(["info", path])
    if irc != 0:
        why.append(f"info exit {irc}: {short(ierr)}")
    for w in info_words:
        if w not in iout:
            why.append(f"info lacks '{w}'")
    if why:
        return f"FAIL bad_models.{name}: {'; '.join(why)}"
    return f"PASS bad_models.{name}"


def main():
    if not os.access(LATTE, os.X_OK):
        print(f"FAIL bad_models: {LATTE} not built")
        return 1
    ds3, ds2, qw = Model("ds3-tiny"), Model("ds2lite-tiny"), Model("qwen2-tiny")
    D, Q = "deepseek2.", "qwen2."
    U32, I32, F32, STR = VT.UINT32, VT.INT32, VT.FLOAT32, VT.STRING

    def retype(m, name, qt, nbytes_per_row):
        """Tensor `name` stored as raw type qt with the same logical shape (zero bytes)."""
        data, _ = m.tensors[name]
        rows = int(np.prod(data.shape[:-1]))
        m.tensors[name] = (np.zeros(data.shape[:-1] + (nbytes_per_row,), dtype=np.uint8), qt)
        assert rows > 0
        return m

    def transpose(m, name):
        data, qt = m.tensors[name]  # bytes [ne1][ne0 * 2] (bf16)
        ne1, ne0 = data.shape[0], data.shape[1] // 2
        m.tensors[name] = (np.zeros((ne0, ne1 * 2), dtype=np.uint8), qt)
        return m

    def to_f16(m, name):
        data, qt = m.tensors[name]
        assert qt == QT.F32
        m.tensors[name] = (data.astype(np.float16), QT.F16)
        return m

    # (case name, model, keywords any of which the error must name, metadata intact for info)
    broken = [
        ("missing_embedding_length", ds3.copy().drop(D + "embedding_length"), ["embedding_length"], False),
        ("missing_kv_lora_rank", ds3.copy().drop(D + "attention.kv_lora_rank"), ["kv_lora_rank"], False),
        ("missing_block_count", qw.copy().drop(Q + "block_count"), ["block_count"], False),
        ("missing_architecture", qw.copy().drop("general.architecture"), ["general.architecture"], False),
        ("block_count_string", qw.copy().set(Q + "block_count", STR, "2"), ["block_count"], False),
        ("head_count_negative_i32", qw.copy().set(Q + "attention.head_count", I32, -4), ["head_count"], False),
        ("block_count_1e9", qw.copy().set(Q + "block_count", U32, 1000000000), ["block_count"], False),
        ("block_count_too_many_layers", qw.copy().set(Q + "block_count", U32, 3), ["blk.2."], True),
        ("head_count_0", qw.copy().set(Q + "attention.head_count", U32, 0), ["head_count"], False),
        ("ds3_head_count_0", ds3.copy().set(D + "attention.head_count", U32, 0), ["head_count"], False),
        ("head_count_kv_not_divisor", qw.copy().set(Q + "attention.head_count_kv", U32, 3), ["head_count_kv"], False),
        ("head_count_kv_0", qw.copy().set(Q + "attention.head_count_kv", U32, 0), ["head_count_kv"], False),
        ("expert_used_gt_count", ds3.copy().set(D + "expert_used_count", U32, 17), ["expert_used_count"], False),
        ("expert_used_0", ds3.copy().set(D + "expert_used_count", U32, 0), ["expert_used_count"], False),
        ("group_used_gt_groups", ds3.copy().set(D + "expert_group_used_count", U32, 5),
         ["expert_group_used_count"], False),
        ("groups_not_dividing_experts", ds3.copy().set(D + "expert_group_count", U32, 3), ["expert_group_count"], False),
        ("used_exceeds_group_experts", ds3.copy().set(D + "expert_group_used_count", U32, 1)
         .set(D + "expert_used_count", U32, 5), ["expert_used_count"], False),
        ("dense_lead_gt_blocks", ds3.copy().set(D + "leading_dense_block_count", U32, 9),
         ["leading_dense_block_count"], False),
        ("ds3_rope_dim_odd", ds3.copy().set(D + "rope.dimension_count", U32, 63), ["rope"], False),
        ("ds3_rope_dim_gt_key_length", ds3.copy().set(D + "rope.dimension_count", U32, 256), ["rope"], False),
        ("ds3_rope_dim_eq_key_length", ds3.copy().set(D + "rope.dimension_count", U32, 192), ["rope"], False),
        ("qwen2_rope_dim_odd", qw.copy().set(Q + "rope.dimension_count", U32, 63), ["rope"], False),
        ("qwen2_rope_dim_gt_key_length", qw.copy().set(Q + "rope.dimension_count", U32, 128), ["rope"], False),
        ("rms_eps_0", qw.copy().set(Q + "attention.layer_norm_rms_epsilon", F32, 0.0), ["epsilon"], False),
        ("rms_eps_nan", ds3.copy().set(D + "attention.layer_norm_rms_epsilon", F32, float("nan")), ["epsilon"], False),
        ("rms_eps_negative", qw.copy().set(Q + "attention.layer_norm_rms_epsilon", F32, -1e-6), ["epsilon"], False),
        ("freq_base_0", qw.copy().set(Q + "rope.freq_base", F32, 0.0), ["freq_base"], False),
        ("freq_base_negative", ds3.copy().set(D + "rope.freq_base", F32, -10000.0), ["freq_base"], False),
        ("freq_base_nan", qw.copy().set(Q + "rope.freq_base", F32, float("nan")), ["freq_base"], False),
        ("freq_base_string", qw.copy().set(Q + "rope.freq_base", STR, "10000"), ["freq_base"], False),
        ("rope_scaling_bogus", ds3.copy().set(D + "rope.scaling.type", STR, "bogus"), ["bogus", "scaling"], False),
        ("rope_scaling_factor_0", ds3.copy().set(D + "rope.scaling.factor", F32, 0.0), ["scaling.factor"], False),
        ("rope_scaling_factor_nan", ds3.copy().set(D + "rope.scaling.factor", F32, float("nan")),
         ["scaling.factor"], False),
        ("expert_weights_norm_int", ds3.copy().set(D + "expert_weights_norm", U32, 1), ["expert_weights_norm"], False),
        ("arch_gpt_neox", qw.copy().set("general.architecture", STR, "gpt-neox"), ["gpt-neox"], False),
        ("arch_gpt_neox_ds3", ds3.copy().set("general.architecture", STR, "gpt-neox"), ["gpt-neox"], False),
        ("missing_kv_a_mqa", ds3.copy().drop_t("blk.1.attn_kv_a_mqa.weight"), ["blk.1.attn_kv_a_mqa.weight"], True),
        ("missing_output_norm", ds3.copy().drop_t("output_norm.weight"), ["output_norm.weight"], True),
        ("qwen2_missing_output_norm", qw.copy().drop_t("output_norm.weight"), ["output_norm.weight"], True),
        ("qwen2_missing_q_bias", qw.copy().drop_t("blk.1.attn_q.bias"), ["blk.1.attn_q.bias"], True),
        ("missing_exp_down", ds3.copy().drop_t("blk.2.ffn_down_exps.weight"), ["blk.2.ffn_down_exps.weight"], True),
        ("missing_token_embd", qw.copy().drop_t("token_embd.weight"), ["token_embd.weight"], True),
        ("transposed_attn_output", transpose(ds3.copy(), "blk.0.attn_output.weight"),
         ["blk.0.attn_output.weight"], True),
        ("qwen2_transposed_attn_k", transpose(qw.copy(), "blk.1.attn_k.weight"), ["blk.1.attn_k.weight"], True),
        ("attn_output_i32", retype(ds3.copy(), "blk.0.attn_output.weight", QT.I32, 512 * 4),
         ["blk.0.attn_output.weight"], True),
        # q8_K (an activation type) never runs: one error naming the tensor and the type
        ("attn_output_q8_k", retype(ds3.copy(), "blk.0.attn_output.weight", QT.Q8_K, 2 * 292),
         ["blk.0.attn_output.weight"], True),
        ("gate_exps_q8_k", retype(ds3.copy(), "blk.1.ffn_gate_exps.weight", QT.Q8_K, 292),
         ["blk.1.ffn_gate_exps.weight"], True),
        ("token_embd_i32", retype(qw.copy(), "token_embd.weight", QT.I32, 256 * 4), ["token_embd.weight"], True),
        # layer 0: k_b/v_b; layer 1: neither k_b/v_b nor kv_b
        ("mla_layer1_no_kb_no_kvb", ds3.copy().drop_t("blk.0.attn_kv_b.weight", "blk.1.attn_kv_b.weight",
                                                      "blk.2.attn_kv_b.weight", "blk.1.attn_k_b.weight",
                                                      "blk.1.attn_v_b.weight"), ["layer 1", "blk.1."], True),
        # layer 0: k_b/v_b only; layer 1: kv_b only; layer 2: k_b/v_b only
        ("mla_mixed_layouts", ds3.copy().drop_t("blk.0.attn_kv_b.weight", "blk.2.attn_kv_b.weight",
                                                "blk.1.attn_k_b.weight", "blk.1.attn_v_b.weight"),
         ["layer 1", "blk.1."], True),
        ("mla_k_b_without_v_b", ds3.copy().drop_t("blk.2.attn_v_b.weight"), ["blk.2.attn_v_b.weight"], True),
        ("attn_norm_f16", to_f16(ds3.copy(), "blk.0.attn_norm.weight"), ["blk.0.attn_norm.weight"], True),
        ("kv_a_norm_f16", to_f16(ds3.copy(), "blk.2.attn_kv_a_norm.weight"), ["blk.2.attn_kv_a_norm.weight"], True),
        ("output_norm_f16", to_f16(qw.copy(), "output_norm.weight"), ["output_norm.weight"], True),
        ("exp_probs_b_f16", to_f16(ds3.copy(), "blk.1.exp_probs_b.bias"), ["blk.1.exp_probs_b.bias"], True),
    ]
    tok_keys = [k for k in qw.kv if k.startswith("tokenizer.")]
    # (case name, model, fixture whose logits must come out unchanged or None, words info must print)
    valid = [
        ("valid_no_expert_weights_scale", ds2.copy().drop(D + "expert_weights_scale"), "ds2lite-tiny", ["scale 1,"]),
        ("valid_no_expert_weights_scale_ds3", ds3.copy().drop(D + "expert_weights_scale"), None, ["scale 1,"]),
        ("valid_no_vocab_size", ds3.copy().drop(D + "vocab_size"), "ds3-tiny", ["vocabulary:       1024"]),
        ("valid_no_tokenizer", qw.copy().drop(*tok_keys), "qwen2-tiny", ["architecture:     qwen2"]),
        ("valid_no_tokenizer_ds3", ds3.copy().drop(*[k for k in ds3.kv if k.startswith("tokenizer.")]), "ds3-tiny",
         ["architecture:     deepseek2"]),
    ]
    # head_count_kv absent: kv heads = head_count (4), so attn_k/attn_v have the wrong shape
    broken.append(("head_count_kv_absent", qw.copy().drop(Q + "attention.head_count_kv"), ["blk.0.attn_k.weight"], True))

    ok = True
    with tempfile.TemporaryDirectory(prefix="latte-bad-") as tmp:
        def one_broken(c):
            name, m, kws, info_ok = c
            path = os.path.join(tmp, name + ".gguf")
            m.write(path)
            try:
                return check_error(name, path, kws, tmp, info_ok)
            finally:
                os.remove(path)

        def one_valid(c):
            name, m, ref, words = c
            path = os.path.join(tmp, name + ".gguf")
            m.write(path)
            try:
                return check_valid(name, path, os.path.join(FIX, ref + ".gguf") if ref else None, tmp, words)
            finally:
                os.remove(path)

        with ThreadPoolExecutor(max_workers=4) as ex:
            results = list(ex.map(one_broken, broken)) + list(ex.map(one_valid, valid))
    for line in results:
        print(line, flush=True)
        ok &= line.startswith("PASS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
