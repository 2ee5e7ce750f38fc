"""PyTorch peer of the end-to-end benchmark: the same Llama model, tokens and LoRA step, eager f32.

Reads a job as JSON on stdin:
  {"model": DIR, "prompt": [ids], "decodeTokens": D, "trainIds": [ids], "rank": r,
   "alpha": a, "dropout": p, "repeat": n}
loads DIR/config.json and its safetensors (parsed here: an 8-byte little-endian header length,
a JSON header, then raw little-endian data; bf16 widened to f32 by a 16-bit shift), and prints
one JSON object on stdout:
  {"torch": version, "threads": n, "blas": the libblas.so.3 it loads, "prefillSeconds": s,
   "decodeSecondsPerToken": s, "forwardSeconds": s, "trainStepSeconds": s, "trainLoss": x,
   "promptLogits": base64 of the prompt's last-row logits (V) as little-endian f32}
Prefill computes the last position's logits only, as generation needs (and as ours does); the
forward is the training step's forward alone, with the adapter: logits at every position and the
loss, without gradients. Each time is the best of `repeat` runs after one warm-up. Run by benchmarks/torch_side_by_side.ts;
needs python3-torch (Debian), a benchmark dependency only, and a fast libblas.so.3: Debian's
build calls the generic BLAS interface, which is the reference BLAS unless an optimised one
(`apt-get install libopenblas0-pthread`) takes over the alternative.
"""

import base64
import glob
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "BF16": np.uint16, "F16": np.float16}
PROJECTIONS = {
    "self_attn": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mlp": ["gate_proj", "up_proj", "down_proj"],
}


def read_safetensors(path):
    """Every tensor of one .safetensors file, as f32 torch tensors by name."""
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        data = f.read()
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        if spec["dtype"] not in DTYPES:
            raise ValueError(f"{path}: tensor {name} has dtype {spec['dtype']}, not F32/BF16/F16")
        start, end = spec["data_offsets"]
        raw = np.frombuffer(data[start:end], dtype=DTYPES[spec["dtype"]])
        if spec["dtype"] == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = torch.from_numpy(raw.astype(np.float32).reshape(spec["shape"]))
    return tensors


def read_model(folder):
    """config.json and the weights of every .safetensors file in `folder`."""
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    weights = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.safetensors"))):
        weights.update(read_safetensors(path))
    if not weights:
        raise ValueError(f"{folder} has no .safetensors files")
    return config, weights


def rope_frequencies(config, head_dim):
    """Inverse frequencies (head_dim / 2), with Llama 3's scaling when the config asks for it."""
    theta = config.get("rope_theta", 10000.0)
    inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    scaling = config.get("rope_scaling") or {}
    if scaling.get("rope_type") == "llama3":
        factor = scaling["factor"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen <= old / low) & (wavelen >= old / high)
        inv = torch.where(medium, smoothed, scaled)
    elif scaling:
        raise ValueError(f"rope_scaling {scaling} is not supported by the peer")
    return inv.float()


def rotate(x, cos, sin):
    """RoPE in Hugging Face's half-split layout; x (heads, T, head_dim), cos/sin (T, head_dim)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Llama:
    """A Llama decoder in plain tensors, with optional LoRA on the seven projections."""

    def __init__(self, config, weights):
        self.c = config
        self.w = weights
        self.D = config["hidden_size"]
        self.H = config["num_attention_heads"]
        self.KV = config["num_key_value_heads"]
        self.HD = config.get("head_dim") or self.D // self.H
        self.L = config["num_hidden_layers"]
        self.eps = config["rms_norm_eps"]
        self.head = weights.get("lm_head.weight", weights["model.embed_tokens.weight"])
        self.inv_freq = rope_frequencies(config, self.HD)
        self.lora = {}
        self.lora_scale = 0.0
        self.lora_dropout = 0.0

    def add_lora(self, rank, alpha, dropout):
        """LoRA A (r, in), Kaiming-uniform, and B (out, r), zero, on every projection."""
        gen = torch.Generator().manual_seed(0)
        for layer in range(self.L):
            for block, names in PROJECTIONS.items():
                for name in names:
                    out_features, in_features = self.w[self.key(layer, block, name)].shape
                    bound = 1 / math.sqrt(in_features)
                    a = (torch.rand(rank, in_features, generator=gen) * 2 - 1) * bound
                    self.lora[(layer, name)] = (
                        a.requires_grad_(),
                        torch.zeros(out_features, rank, requires_grad=True),
                    )
        self.lora_scale = alpha / rank
        self.lora_dropout = dropout
        return [p for pair in self.lora.values() for p in pair]

    @staticmethod
    def key(layer, block, name):
        return f"model.layers.{layer}.{block}.{name}.weight"

    def project(self, x, layer, block, name):
        y = x @ self.w[self.key(layer, block, name)].t()
        if (layer, name) in self.lora:
            a, b = self.lora[(layer, name)]
            dropped = F.dropout(x, self.lora_dropout, training=True)
            y = y + self.lora_scale * ((dropped @ a.t()) @ b.t())
        return y

    def norm(self, x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * weight

    def forward(self, ids, start=0, cache=None, last_only=False):
        """Logits (T, V) of `ids` at positions start…, or (1, V) of the last with `last_only`;
        `cache` (per layer: K, V) grows in place."""
        T = len(ids)
        x = self.w["model.embed_tokens.weight"][torch.tensor(ids)]
        angles = torch.outer(torch.arange(start, start + T, dtype=torch.float32), self.inv_freq)
        cos = torch.cat([angles.cos(), angles.cos()], -1)
        sin = torch.cat([angles.sin(), angles.sin()], -1)
        group = self.H // self.KV
        for layer in range(self.L):
            p = f"model.layers.{layer}."
            h = self.norm(x, self.w[p + "input_layernorm.weight"])
            q = self.project(h, layer, "self_attn", "q_proj").view(T, self.H, self.HD).transpose(0, 1)
            k = self.project(h, layer, "self_attn", "k_proj").view(T, self.KV, self.HD).transpose(0, 1)
            v = self.project(h, layer, "self_attn", "v_proj").view(T, self.KV, self.HD).transpose(0, 1)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
            if cache is not None:
                keys, values = cache[layer]
                keys[:, start : start + T] = k
                values[:, start : start + T] = v
                k, v = keys[:, : start + T], values[:, : start + T]
            k = k.repeat_interleave(group, dim=0)
            v = v.repeat_interleave(group, dim=0)
            scores = (q @ k.transpose(1, 2)) / math.sqrt(self.HD)  # (H, T, start + T)
            if T > 1:
                if start > 0:
                    raise ValueError("A multi-token chunk after the first is not supported")
                scores = scores + torch.full((T, T), -math.inf).triu(1)
            a = torch.softmax(scores, dim=-1) @ v  # (H, T, HD)
            a = a.transpose(0, 1).reshape(T, self.H * self.HD)
            x = x + self.project(a, layer, "self_attn", "o_proj")
            h = self.norm(x, self.w[p + "post_attention_layernorm.weight"])
            gate = self.project(h, layer, "mlp", "gate_proj")
            up = self.project(h, layer, "mlp", "up_proj")
            x = x + self.project(F.silu(gate) * up, layer, "mlp", "down_proj")
        if last_only:
            x = x[-1:]
        return self.norm(x, self.w["model.norm.weight"]) @ self.head.t()

    def new_cache(self, length):
        return [
            (torch.zeros(self.KV, length, self.HD), torch.zeros(self.KV, length, self.HD))
            for _ in range(self.L)
        ]


def best_of(repeat, run):
    """Seconds of the fastest of `repeat` runs of `run`, after one warm-up; and its last result."""
    result = run()
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main():
    job = json.load(sys.stdin)
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # every core, as lavapipe uses
    config, weights = read_model(job["model"])
    model = Llama(config, weights)
    prompt, D, repeat = job["prompt"], job["decodeTokens"], job["repeat"]

    with torch.no_grad():
        prefill_seconds, logits = best_of(repeat, lambda: model.forward(prompt, last_only=True)[-1])

        def decode_seconds():
            """Seconds of D greedy decode steps after a prefill (the prefill not counted)."""
            cache = model.new_cache(len(prompt) + D + 1)
            token = int(model.forward(prompt, 0, cache, last_only=True)[-1].argmax())
            start = time.perf_counter()
            for i in range(D):
                token = int(model.forward([token], len(prompt) + i, cache)[-1].argmax())
            return time.perf_counter() - start

        decode_seconds()  # warm-up
        decode_best = min(decode_seconds() for _ in range(repeat))

    ids = torch.tensor(job["trainIds"])
    params = model.add_lora(job["rank"], job["alpha"], job["dropout"])
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)

    def forward_loss():
        return float(F.cross_entropy(model.forward(job["trainIds"])[:-1], ids[1:]))

    def train_step():
        optimizer.zero_grad()
        loss = F.cross_entropy(model.forward(job["trainIds"])[:-1], ids[1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        return float(loss)

    train_seconds, loss = best_of(repeat, train_step)
    model.lora_dropout = 0.0  # the forward alone runs as validation does, ours too
    with torch.no_grad():
        forward_seconds, _ = best_of(repeat, forward_loss)
    json.dump(
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "blas": os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3"),
            "prefillSeconds": prefill_seconds,
            "decodeSecondsPerToken": decode_best / D,
            "forwardSeconds": forward_seconds,
            "trainStepSeconds": train_seconds,
            "trainLoss": loss,
            "promptLogits": base64.b64encode(logits.numpy().astype("<f4").tobytes()).decode(),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
