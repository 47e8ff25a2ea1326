#!/usr/bin/python3
"""Reference for the Llama-family golden test, independent of fedq's C++.

Writes a small random checkpoint in Hugging Face layout (config.json and
model.safetensors, written here byte by byte) and the next-token logits that
a straightforward PyTorch implementation of the Hugging Face Llama/Qwen2
forward gives for a token sequence:

    llama_reference.py OUT_DIR VARIANT

VARIANT: llama-gqa (untied, grouped-query attention, fp32 weights),
qwen2-tied (tied embeddings, q/k/v biases, bf16 weights), llama3-rope
(llama3 rope scaling, sharded into two files with an index), byte-vocab
(fedq's byte vocabulary of 258, so that runs can fine-tune it).
Writes OUT_DIR/golden.json: {"tokens": [...], "logits": [[...] per position]}.
"""
import json
import math
import os
import struct
import sys

import torch

VARIANTS = {
    "llama-gqa": dict(model_type="llama", vocab_size=96, hidden_size=64, intermediate_size=96,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                      max_position_embeddings=64, dtype="F32", shards=1),
    "qwen2-tied": dict(model_type="qwen2", vocab_size=80, hidden_size=48, intermediate_size=80,
                       num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=2,
                       rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                       max_position_embeddings=64, dtype="BF16", shards=1),
    "llama3-rope": dict(model_type="llama", vocab_size=64, hidden_size=32, intermediate_size=64,
                        num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                        rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True,
                        max_position_embeddings=64, dtype="F32", shards=2,
                        rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0,
                                          high_freq_factor=4.0,
                                          original_max_position_embeddings=8)),
    "byte-vocab": dict(model_type="llama", vocab_size=258, hidden_size=32, intermediate_size=64,
                       num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
                       max_position_embeddings=64, dtype="BF16", shards=1),
}


def write_safetensors(path, tensors, dtype):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        if dtype == "BF16":
            raw = t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()
        else:
            raw = t.to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def make_weights(c, gen):
    h, f = c["hidden_size"], c["intermediate_size"]
    hd = h // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    w = {"model.embed_tokens.weight": torch.randn(c["vocab_size"], h, generator=gen) * 0.5,
         "model.norm.weight": 1 + 0.1 * torch.randn(h, generator=gen)}
    shapes = {"self_attn.q_proj": (q, h), "self_attn.k_proj": (kv, h), "self_attn.v_proj": (kv, h),
              "self_attn.o_proj": (h, q), "mlp.gate_proj": (f, h), "mlp.up_proj": (f, h),
              "mlp.down_proj": (h, f)}
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(h, generator=gen)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(h, generator=gen)
        for name, shape in shapes.items():
            w[p + name + ".weight"] = torch.randn(*shape, generator=gen) / math.sqrt(shape[1])
            if c["model_type"] == "qwen2" and name in ("self_attn.q_proj", "self_attn.k_proj",
                                                      "self_attn.v_proj"):
                w[p + name + ".bias"] = 0.1 * torch.randn(shape[0], generator=gen)
    if not c["tie_word_embeddings"]:
        w["lm_head.weight"] = torch.randn(c["vocab_size"], h, generator=gen) / math.sqrt(h)
    return w


def inv_freq(c, hd):
    inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    rs = c.get("rope_scaling")
    if rs:
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / lo, old / hi
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
        inv = torch.where(medium, smoothed, scaled)
    return inv.float()


def rms(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def forward(c, w, tokens):
    h = c["hidden_size"]
    nh, nkv = c["num_attention_heads"], c["num_key_value_heads"]
    hd = h // nh
    T = len(tokens)
    x = w["model.embed_tokens.weight"][torch.tensor(tokens)].unsqueeze(0)  # (1, T, h)
    pos = torch.arange(T, dtype=torch.float32)
    freqs = torch.outer(pos, inv_freq(c, hd))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf")).triu(1)

    def lin(name, t):
        y = t @ w[name + ".weight"].T
        return y + w[name + ".bias"] if name + ".bias" in w else y

    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        a = rms(x, w[p + "input_layernorm.weight"], c["rms_norm_eps"])
        q = lin(p + "self_attn.q_proj", a).view(1, T, nh, hd).transpose(1, 2)
        k = lin(p + "self_attn.k_proj", a).view(1, T, nkv, hd).transpose(1, 2)
        v = lin(p + "self_attn.v_proj", a).view(1, T, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k[:, :, None].expand(1, nkv, nh // nkv, T, hd).reshape(1, nh, T, hd)
        v = v[:, :, None].expand(1, nkv, nh // nkv, T, hd).reshape(1, nh, T, hd)
        att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(hd) + mask, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(1, T, nh * hd)
        x = x + lin(p + "self_attn.o_proj", ctx)
        m = rms(x, w[p + "post_attention_layernorm.weight"], c["rms_norm_eps"])
        x = x + lin(p + "mlp.down_proj",
                    torch.nn.functional.silu(lin(p + "mlp.gate_proj", m)) * lin(p + "mlp.up_proj", m))
    x = rms(x, w["model.norm.weight"], c["rms_norm_eps"])
    head = w["model.embed_tokens.weight"] if c["tie_word_embeddings"] else w["lm_head.weight"]
    return (x @ head.T)[0]


def main():
    out, variant = sys.argv[1], sys.argv[2]
    c = dict(VARIANTS[variant])
    dtype, shards = c.pop("dtype"), c.pop("shards")
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    w = make_weights(c, gen)
    if dtype == "BF16":  # the reference computes with exactly the stored values
        w = {k: v.to(torch.bfloat16).float() for k, v in w.items()}
    config = dict(c, architectures=["LlamaForCausalLM"], hidden_act="silu", torch_dtype="float32")
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if shards == 1:
        write_safetensors(os.path.join(out, "model.safetensors"), w, dtype)
    else:
        names = sorted(w)
        parts = [names[: len(names) // 2], names[len(names) // 2:]]
        weight_map = {}
        for i, part in enumerate(parts):
            fname = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
            write_safetensors(os.path.join(out, fname), {n: w[n] for n in part}, dtype)
            weight_map.update({n: fname for n in part})
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f)
    tokens = [(7 * i + 3) % c["vocab_size"] for i in range(11)]
    with torch.no_grad():
        logits = forward(c, w, tokens)
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump({"tokens": tokens, "logits": logits.tolist()}, f)


if __name__ == "__main__":
    main()
