#!/usr/bin/env python3
"""Independent numpy reference forward pass over GGUF weights (dequantized by the `gguf`
package), for checking the engine's logits. Shares no code with the engine.

Architectures: `llama` (SmolLM2 style: tied output when output.weight is missing, rope with
adjacent pairs (2i, 2i+1), since the GGUF converter permutes q/k), `qwen2` (q/k/v bias, NEOX
rope: pairs (i, i + d/2)) and `deepseek2` (MLA computed as standard attention over the
decompressed keys and values, MoE with softmax or sigmoid gating, group-limited routing,
YaRN); all three MLA weight layouts are understood.

Math in float64 by default (`--f32` for float32). Weights are dequantized lazily and kept.

    python3 tools/ref/forward.py MODEL --tokens 1,2,3 -o out.f32      # logits [n_tokens][n_vocab]
    python3 tools/ref/forward.py MODEL --tokens 1,2,3 --greedy 16     # prints generated ids
"""
import argparse, math, sys
import numpy as np


class Model:
    """Weights and hyper-parameters of one GGUF file, plus a KV cache for incremental use."""

    def __init__(self, path, dtype=np.float64):
        from gguf import GGUFReader
        self.reader = GGUFReader(path)
        self.dtype = dtype
        self.tensors = {t.name: t for t in self.reader.tensors}
        self._w = {}
        self.arch = self.meta("general.architecture")
        a = self.arch
        self.n_embd = self.meta(f"{a}.embedding_length")
        self.n_layer = self.meta(f"{a}.block_count")
        self.n_head = self.meta(f"{a}.attention.head_count")
        self.n_head_kv = self.meta(f"{a}.attention.head_count_kv", self.n_head)
        self.eps = self.meta(f"{a}.attention.layer_norm_rms_epsilon", 1e-5)
        self.rope_base = self.meta(f"{a}.rope.freq_base", 10000.0)
        self.n_vocab = self.weight("token_embd.weight").shape[0]
        self.reset()

    def meta(self, key, default=None):
        f = self.reader.fields.get(key)
        if f is None:
            if default is None:
                raise KeyError(f"missing metadata key {key}")
            return default
        v = f.contents()
        return v

    def has(self, name):
        return name in self.tensors

    def weight(self, name):
        """The tensor as a numpy array in numpy order (ggml shape reversed): a matrix is [out][in]."""
        w = self._w.get(name)
        if w is None:
            from gguf import quants
            t = self.tensors[name]
            w = quants.dequantize(t.data, t.tensor_type)
            shape = tuple(int(d) for d in reversed(t.shape))
            w = np.asarray(w, dtype=self.dtype).reshape(shape)
            self._w[name] = w
        return w

    def reset(self):
        """Empty the KV cache: the next call to forward starts at position 0."""
        self.cache = [None] * self.n_layer  # per layer (K, V) with K [n_head_kv][n_past][d]
        self.n_past = 0

    # ---- building blocks ----

    def rms_norm(self, x, name):
        w = self.weight(name)
        var = np.mean(x * x, axis=-1, keepdims=True)
        return x / np.sqrt(var + self.eps) * w

    def linear(self, x, name, bias=None):
        y = x @ self.weight(name).T
        if bias is not None and self.has(bias):
            y = y + self.weight(bias)
        return y

    @staticmethod
    def silu(x):
        return x / (1.0 + np.exp(-x))

    def ffn(self, x, gate, up, down):
        return self.linear(self.silu(self.linear(x, gate)) * self.linear(x, up), down)

    def rope_angles(self, pos, d, theta_scale_fn=None):
        """Angles [n_tokens][d/2] for positions pos and rotary dimension d."""
        i = np.arange(d // 2, dtype=np.float64)
        inv_freq = self.rope_base ** (-2.0 * i / d)
        if theta_scale_fn is not None:
            inv_freq = theta_scale_fn(inv_freq, i, d)
        return np.outer(np.asarray(pos, dtype=np.float64), inv_freq)

    @staticmethod
    def rope(x, ang, neox):
        """Rotate x [n_tokens][n_heads][d] by ang [n_tokens][d/2]."""
        d = x.shape[-1]
        c = np.cos(ang)[:, None, :].astype(x.dtype)
        s = np.sin(ang)[:, None, :].astype(x.dtype)
        if neox:
            x0, x1 = x[..., : d // 2], x[..., d // 2:]
            return np.concatenate([x0 * c - x1 * s, x0 * s + x1 * c], axis=-1)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = x0 * c - x1 * s
        out[..., 1::2] = x0 * s + x1 * c
        return out

    def attend(self, il, q, k, v, scale):
        """Causal attention of new queries q [T][H][dk] over the cache plus new k [T][Hkv][dk],
        v [T][Hkv][dv]; returns [T][H*dv]. Appends k, v to layer il's cache."""
        k = k.transpose(1, 0, 2)
        v = v.transpose(1, 0, 2)
        if self.cache[il] is not None:
            k = np.concatenate([self.cache[il][0], k], axis=1)
            v = np.concatenate([self.cache[il][1], v], axis=1)
        self.cache[il] = (k, v)
        T, H = q.shape[0], q.shape[1]
        hkv = k.shape[0]
        rep = H // hkv
        n_kv = k.shape[1]
        qpos = self.n_past + np.arange(T)
        mask = np.arange(n_kv)[None, :] > qpos[:, None]  # [T][n_kv]
        out = np.empty((T, H, v.shape[2]), dtype=q.dtype)
        for h in range(H):
            kh, vh = k[h // rep], v[h // rep]
            s = (q[:, h, :] @ kh.T) * scale
            s = np.where(mask, -np.inf, s)
            s = s - s.max(axis=1, keepdims=True)
            p = np.exp(s)
            p /= p.sum(axis=1, keepdims=True)
            out[:, h, :] = p @ vh
        return out.reshape(T, -1)

    # ---- architectures ----

    def forward(self, tokens):
        """Logits [len(tokens)][n_vocab] for tokens appended after the cached ones."""
        tokens = np.asarray(tokens, dtype=np.int64)
        x = self.weight("token_embd.weight")[tokens].astype(self.dtype)
        pos = self.n_past + np.arange(len(tokens))
        layer = {"llama": self.layer_llama, "qwen2": self.layer_llama,
                 "deepseek2": self.layer_deepseek2}.get(self.arch)
        if layer is None:
            raise ValueError(f"architecture {self.arch} is not supported by the reference")
        for il in range(self.n_layer):
            x = layer(il, x, pos)
        self.n_past += len(tokens)
        x = self.rms_norm(x, "output_norm.weight")
        out = "output.weight" if self.has("output.weight") else "token_embd.weight"
        return self.linear(x, out)

    def layer_llama(self, il, x, pos):
        """One llama / qwen2 block: pre-norm GQA attention with rope, pre-norm SwiGLU."""
        p = f"blk.{il}."
        T = x.shape[0]
        d = self.n_embd // self.n_head
        h = self.rms_norm(x, p + "attn_norm.weight")
        q = self.linear(h, p + "attn_q.weight", p + "attn_q.bias").reshape(T, self.n_head, d)
        k = self.linear(h, p + "attn_k.weight", p + "attn_k.bias").reshape(T, self.n_head_kv, d)
        v = self.linear(h, p + "attn_v.weight", p + "attn_v.bias").reshape(T, self.n_head_kv, d)
        n_rot = self.meta(f"{self.arch}.rope.dimension_count", d)
        ang = self.rope_angles(pos, n_rot)
        neox = self.arch == "qwen2"
        q = np.concatenate([self.rope(q[..., :n_rot], ang, neox), q[..., n_rot:]], axis=-1)
        k = np.concatenate([self.rope(k[..., :n_rot], ang, neox), k[..., n_rot:]], axis=-1)
        a = self.attend(il, q, k, v, 1.0 / math.sqrt(d))
        x = x + self.linear(a, p + "attn_output.weight")
        h = self.rms_norm(x, p + "ffn_norm.weight")
        return x + self.ffn(h, p + "ffn_gate.weight", p + "ffn_up.weight", p + "ffn_down.weight")

    # DeepSeek-V2/V3

    def ds_dims(self):
        a = "deepseek2"
        d_rope = self.meta(f"{a}.rope.dimension_count")
        d_k = self.meta(f"{a}.attention.key_length_mla", 0) or self.meta(f"{a}.attention.key_length")
        d_v = self.meta(f"{a}.attention.value_length_mla", 0) or self.meta(f"{a}.attention.value_length")
        r = self.meta(f"{a}.attention.kv_lora_rank")
        return d_k - d_rope, d_rope, d_v, r

    def ds_yarn(self):
        """(inv_freq transform or None, mscale) following DeepSeek's YaRN."""
        a = "deepseek2"
        if self.meta(f"{a}.rope.scaling.type", "none") != "yarn":
            return None, 1.0
        factor = float(self.meta(f"{a}.rope.scaling.factor"))
        n_orig = float(self.meta(f"{a}.rope.scaling.original_context_length"))
        log_mul = float(self.meta(f"{a}.rope.scaling.yarn_log_multiplier", 0.0))
        beta_fast, beta_slow = 32.0, 1.0
        base = self.rope_base

        def corr_dim(n_rot, d):
            return d * math.log(n_orig / (n_rot * 2 * math.pi)) / (2 * math.log(base))

        def scale(inv_freq, i, d):
            low = max(math.floor(corr_dim(beta_fast, d)), 0)
            high = min(math.ceil(corr_dim(beta_slow, d)), d - 1)
            if low == high:
                high += 0.001
            ramp = np.clip((i - low) / (high - low), 0.0, 1.0)  # 0: keep (extrapolate), 1: interpolate
            return inv_freq / factor * ramp + inv_freq * (1.0 - ramp)

        mscale = 1.0 + log_mul * math.log(factor) if factor > 1 else 1.0
        return scale, mscale

    def ds_kv_b(self, il, d_nope, d_v, r):
        """W_kvb as [H][d_nope + d_v][r] from whichever layout the file has."""
        p = f"blk.{il}."
        H = self.n_head
        if self.has(p + "attn_kv_b.weight"):
            return self.weight(p + "attn_kv_b.weight").reshape(H, d_nope + d_v, r)
        kb = self.weight(p + "attn_k_b.weight")  # ggml {d_nope, r, H}: numpy [H][r][d_nope]
        vb = self.weight(p + "attn_v_b.weight")  # ggml {r, d_v, H}: numpy [H][d_v][r]
        kb = kb.reshape(H, r, d_nope).transpose(0, 2, 1)
        vb = vb.reshape(H, d_v, r)
        return np.concatenate([kb, vb], axis=1)

    def layer_deepseek2(self, il, x, pos):
        p = f"blk.{il}."
        T, H = x.shape[0], self.n_head
        d_nope, d_rope, d_v, r = self.ds_dims()
        yarn, mscale = self.ds_yarn()
        h = self.rms_norm(x, p + "attn_norm.weight")
        # query, with or without the q LoRA
        if self.has(p + "attn_q_a.weight"):
            qa = self.rms_norm(self.linear(h, p + "attn_q_a.weight"), p + "attn_q_a_norm.weight")
            q = self.linear(qa, p + "attn_q_b.weight")
        else:
            q = self.linear(h, p + "attn_q.weight")
        q = q.reshape(T, H, d_nope + d_rope)
        # latent and the shared rope key
        kv = self.linear(h, p + "attn_kv_a_mqa.weight")
        c = self.rms_norm(kv[:, :r], p + "attn_kv_a_norm.weight")
        k_pe = kv[:, r:].reshape(T, 1, d_rope)
        ang = self.rope_angles(pos, d_rope, yarn)
        q_pe = self.rope(q[..., d_nope:], ang, neox=False)
        k_pe = self.rope(k_pe, ang, neox=False)
        # decompress: per head [k_nope, v] = W_kvb,h c
        kvb = self.ds_kv_b(il, d_nope, d_v, r)
        kvh = np.einsum("hor,tr->tho", kvb, c)
        k = np.concatenate([kvh[..., :d_nope], np.broadcast_to(k_pe, (T, H, d_rope))], axis=-1)
        v = kvh[..., d_nope:]
        qf = np.concatenate([q[..., :d_nope], q_pe], axis=-1)
        scale = mscale * mscale / math.sqrt(d_nope + d_rope)
        a = self.attend(il, qf, k, v, scale)
        x = x + self.linear(a, p + "attn_output.weight")
        h = self.rms_norm(x, p + "ffn_norm.weight")
        if self.has(p + "ffn_gate_inp.weight"):
            return x + self.moe(il, h)
        return x + self.ffn(h, p + "ffn_gate.weight", p + "ffn_up.weight", p + "ffn_down.weight")

    def moe(self, il, x):
        """Routed experts (softmax or sigmoid gating, optional bias and group limit) plus shared."""
        a, p = "deepseek2", f"blk.{il}."
        n_used = self.meta(f"{a}.expert_used_count")
        n_group = self.meta(f"{a}.expert_group_count", 1) or 1
        n_group_used = self.meta(f"{a}.expert_group_used_count", n_group) or n_group
        gating = self.meta(f"{a}.expert_gating_func", 1)  # 1 softmax, 2 sigmoid
        w_norm = bool(self.meta(f"{a}.expert_weights_norm", False))
        w_scale = float(self.meta(f"{a}.expert_weights_scale", 1.0))
        g = self.linear(x, p + "ffn_gate_inp.weight")
        if gating == 2:
            s = 1.0 / (1.0 + np.exp(-g))
        else:
            s = np.exp(g - g.max(axis=1, keepdims=True))
            s /= s.sum(axis=1, keepdims=True)
        sel = s + self.weight(p + "exp_probs_b.bias") if self.has(p + "exp_probs_b.bias") else s
        n_exp = s.shape[1]
        gate_e = self.weight(p + "ffn_gate_exps.weight")  # [E][ff][embd]
        up_e = self.weight(p + "ffn_up_exps.weight")
        down_e = self.weight(p + "ffn_down_exps.weight")  # [E][embd][ff]
        out = np.zeros_like(x)
        per = n_exp // n_group
        for t in range(x.shape[0]):
            st = sel[t].copy()
            if n_group > 1:
                grp = st.reshape(n_group, per)
                if gating == 2 and self.has(p + "exp_probs_b.bias"):
                    gs = np.sort(grp, axis=1)[:, -2:].sum(axis=1)
                else:
                    gs = grp.max(axis=1)
                keep = np.argsort(-gs, kind="stable")[:n_group_used]
                m = np.full(n_group, True)
                m[keep] = False
                st = np.where(np.repeat(m, per), -np.inf, st)
            chosen = np.argsort(-st, kind="stable")[:n_used]
            w = s[t, chosen]
            if w_norm:
                w = w / w.sum()
            w = w * w_scale
            for e, we in zip(chosen, w):
                hg = gate_e[e] @ x[t]
                hu = up_e[e] @ x[t]
                out[t] += we * (down_e[e] @ (self.silu(hg) * hu))
        if self.has(p + "ffn_gate_shexp.weight"):
            out += self.ffn(x, p + "ffn_gate_shexp.weight", p + "ffn_up_shexp.weight",
                            p + "ffn_down_shexp.weight")
        return out


def greedy(model, prompt, n):
    """Greedy continuation of prompt: n ids, using the KV cache."""
    model.reset()
    logits = model.forward(prompt)
    out = []
    for _ in range(n):
        t = int(np.argmax(logits[-1]))
        out.append(t)
        logits = model.forward([t])
    return out


def main(argv):
    ap = argparse.ArgumentParser(description="numpy reference forward pass over a GGUF file")
    ap.add_argument("model")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("-o", "--output", help="write float32 logits [n_tokens][n_vocab] here")
    ap.add_argument("--incremental", action="store_true", help="feed one token at a time")
    ap.add_argument("--greedy", type=int, default=0, help="print N greedy ids after the tokens")
    ap.add_argument("--f32", action="store_true", help="float32 math (default float64)")
    args = ap.parse_args(argv)
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    m = Model(args.model, np.float32 if args.f32 else np.float64)
    if args.greedy:
        print(",".join(str(t) for t in greedy(m, tokens, args.greedy)))
        return 0
    if args.incremental:
        logits = np.concatenate([m.forward([t]) for t in tokens], axis=0)
    else:
        logits = m.forward(tokens)
    if args.output:
        logits.astype("<f4").tofile(args.output)
    else:
        print("argmax:", ",".join(str(int(i)) for i in logits.argmax(axis=1)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
