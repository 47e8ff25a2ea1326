#!/usr/bin/python3
"""The PyTorch side of bench_step: one LoRA training step of the same
Llama-family classifier as fedq's built-in model, written plainly in
PyTorch (python3-torch 1.13.1, the same build as libtorch).

    torch_step.py D LAYERS HEADS KV_HEADS FFN BATCH TOKENS RANK R_MAX STEPS REPEATS THREADS

Frozen fp32 backbone (RMSNorm, RoPE, grouped-query causal attention, SwiGLU),
LoRA on q, k, v, o at RANK scaled by 16 / R_MAX, mean pooling over the tokens,
a linear head over 4 classes, cross-entropy, AdamW (lr 5e-3). Prints the
median seconds per step over REPEATS timings of STEPS steps each.
"""
import math
import sys
import time

import torch


def main(a):
    d, layers, heads, kv, ffn, batch, tokens, rank, r_max, steps, repeats, threads = map(int, a)
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    hd = d // heads
    g = lambda *s: torch.randn(*s) * (1.0 / math.sqrt(s[-1]))
    emb = torch.randn(258, d)
    W = [dict(q=g(d, d), k=g(kv * hd, d), v=g(kv * hd, d), o=g(d, d), gate=g(ffn, d), up=g(ffn, d),
              down=g(d, ffn), n1=torch.ones(d), n2=torch.ones(d)) for _ in range(layers)]
    norm = torch.ones(d)
    lora = []
    for _ in range(layers):
        m = {}
        for name, out in (("q", d), ("k", kv * hd), ("v", kv * hd), ("o", d)):
            m[name] = (torch.randn(rank, d).mul_(0.01).requires_grad_(), torch.zeros(out, rank, requires_grad=True))
        lora.append(m)
    head_w = torch.randn(4, d).mul_(0.01).requires_grad_()
    head_b = torch.zeros(4, requires_grad=True)
    params = [p for m in lora for ab in m.values() for p in ab] + [head_w, head_b]
    opt = torch.optim.AdamW(params, lr=5e-3, weight_decay=0.0)
    scale = 16.0 / r_max
    inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
    ang = torch.outer(torch.arange(tokens).float(), inv)
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
    mask = torch.full((tokens, tokens), float("-inf")).triu(1)

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

    def rot(x):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
        return torch.cat([-x2, x1], -1)

    def lin(x, w, ab=None):
        y = x @ w.t()
        if ab is not None:
            y = y + (x @ ab[0].t()) @ ab[1].t() * scale
        return y

    def step(ids, labels):
        x = emb[ids]
        for w, m in zip(W, lora):
            h = rms(x, w["n1"])
            q = lin(h, w["q"], m["q"]).view(batch, tokens, heads, hd).transpose(1, 2)
            k = lin(h, w["k"], m["k"]).view(batch, tokens, kv, hd).transpose(1, 2)
            v = lin(h, w["v"], m["v"]).view(batch, tokens, kv, hd).transpose(1, 2)
            q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
            k = k.repeat_interleave(heads // kv, 1)
            v = v.repeat_interleave(heads // kv, 1)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, -1) @ v
            x = x + lin(att.transpose(1, 2).reshape(batch, tokens, d), w["o"], m["o"])
            h = rms(x, w["n2"])
            x = x + lin(torch.nn.functional.silu(lin(h, w["gate"])) * lin(h, w["up"]), w["down"])
        pooled = rms(x, norm).mean(1)
        loss = torch.nn.functional.cross_entropy(pooled @ head_w.t() + head_b, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    ids = torch.randint(1, 258, (batch, tokens))
    labels = torch.randint(0, 4, (batch,))
    step(ids, labels)  # warm-up
    step(ids, labels)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step(ids, labels)
        times.append((time.perf_counter() - t0) / steps)
    times.sort()
    print(f"{times[len(times) // 2]:.6f}")


if __name__ == "__main__":
    main(sys.argv[1:])
