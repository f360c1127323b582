#!/usr/bin/env python3
"""pmc's train step against PyTorch eager on the CPU: loss curves and step time.

Three models are built in PyTorch with random weights (an MLP, a transformer
encoder classifier, a small GPT), exported to ONNX (the ONNX file carries the
same initial weights; parameters their initialisation leaves constant get
noise first, or the exporter would share equal initializers), and trained for STEPS steps on the same batches, by
PyTorch (torch.optim) and by pmc.compile_training at 1 and 4 devices (the
planner's plans), with AdamW and with SGD + momentum. Printed per run: the
largest relative difference of pmc's loss curve from PyTorch's, and the mean
step time of both (ratio pmc / torch, measured in the same run; the machine is
noisy, so compare ratios, not times).

Needs torch (not in CI's install: `pip install torch`):

    PYTHONPATH=build/python python3 bench/train_vs_torch.py [--steps 50] [--devices 1,4]
"""

import argparse
import io
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "build", "python"))

import pmc  # noqa: E402

BATCH, SEQ, VOCAB, CLASSES, WIDTH = 8, 16, 64, 10, 64


def models():
    import torch
    from torch import nn

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(WIDTH, 128), nn.ReLU(), nn.Linear(128, 128),
                                     nn.GELU(), nn.Linear(128, CLASSES))

        def forward(self, x):
            return self.net(x)

    class Block(nn.Module):
        """Pre-norm attention + MLP, written out (no fused kernels)."""

        def __init__(self, causal):
            super().__init__()
            self.causal, self.heads = causal, 4
            self.norm1, self.norm2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
            self.qkv, self.out = nn.Linear(WIDTH, 3 * WIDTH), nn.Linear(WIDTH, WIDTH)
            self.up, self.down = nn.Linear(WIDTH, 4 * WIDTH), nn.Linear(4 * WIDTH, WIDTH)

        def forward(self, x):
            b, s, d = x.shape
            q, k, v = self.qkv(self.norm1(x)).split(d, dim=-1)
            shape = (b, s, self.heads, d // self.heads)
            q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))
            scores = q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5
            if self.causal:
                mask = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)
                scores = scores.masked_fill(mask, float("-inf"))
            attn = torch.softmax(scores, dim=-1) @ v
            x = x + self.out(attn.transpose(1, 2).reshape(b, s, d))
            return x + self.down(torch.nn.functional.gelu(self.up(self.norm2(x))))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.Sequential(Block(False), Block(False))
            self.head = nn.Linear(WIDTH, CLASSES)

        def forward(self, x):
            return self.head(self.blocks(x).mean(dim=1))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, WIDTH)
            self.pos = nn.Parameter(0.02 * torch.randn(SEQ, WIDTH))
            self.blocks = nn.Sequential(Block(True), Block(True))
            self.norm, self.head = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, VOCAB)

        def forward(self, ids):
            return self.head(self.norm(self.blocks(self.embed(ids) + self.pos)))

    return {"mlp": (MLP, "x", lambda g: torch.randn(BATCH, WIDTH, generator=g), CLASSES),
            "transformer": (Encoder, "x", lambda g: torch.randn(BATCH, SEQ, WIDTH, generator=g),
                            CLASSES),
            "gpt": (GPT, "input_ids",
                    lambda g: torch.randint(0, VOCAB, (BATCH, SEQ), generator=g), VOCAB)}


def randomise(module):
    """Noise on the parameters their initialisation leaves constant (LayerNorm's
    ones and zeros): the exporter shares initializers of equal values, which
    would tie parameters that PyTorch trains apart."""
    import torch

    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in module.parameters():
            if p.numel() > 1 and float(p.std()) == 0.0:
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    return module


def export(module, example, input_name):
    import onnx
    import torch

    buffer = io.BytesIO()
    torch.onnx.export(module, (example,), buffer, dynamo=False, input_names=[input_name],
                      output_names=["logits"], opset_version=17, do_constant_folding=False)
    return onnx.load_from_string(buffer.getvalue())


def batches(make_input, classes, logits_shape, steps, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        x = make_input(g)
        y = torch.randint(0, classes, logits_shape[:-1], generator=g)
        out.append((x, y))
    return out


def torch_run(module, data, optimizer_kind, lr):
    import torch

    params = list(module.parameters())
    opt = (torch.optim.AdamW(params, lr=lr, weight_decay=0.01) if optimizer_kind == "adamw"
           else torch.optim.SGD(params, lr=lr, momentum=0.9))
    losses, times = [], []
    for x, y in data:
        start = time.perf_counter()
        opt.zero_grad()
        logits = module(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 y.reshape(-1))
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
        losses.append(float(loss))
    return np.array(losses), np.median(times)


def pmc_run(model, input_name, data, optimizer_kind, lr, devices):
    optimizer = (pmc.AdamW(lr=lr, weight_decay=0.01) if optimizer_kind == "adamw"
                 else pmc.SGD(lr=lr, momentum=0.9))
    trainer = pmc.compile_training(model, loss=pmc.CrossEntropyLoss(logits="logits"),
                                   optimizer=optimizer, devices=devices)
    losses, times = [], []
    for x, y in data:
        feeds = {input_name: x.numpy(), "labels": y.numpy().astype(np.int64)}
        start = time.perf_counter()
        losses.append(trainer.step(feeds)["loss"])
        times.append(time.perf_counter() - start)
    return np.array(losses), np.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--devices", default="1,4")
    p.add_argument("--models", default="mlp,transformer,gpt")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    for name in args.models.split(","):
        cls, input_name, make_input, classes = models()[name]
        for kind, lr in (("adamw", 3e-3), ("sgd", 0.05)):
            torch.manual_seed(7)
            module = randomise(cls())
            example = make_input(torch.Generator().manual_seed(0))
            onnx_model = export(module, example, input_name)
            logits_shape = tuple(module(example).shape)
            data = batches(make_input, classes, logits_shape, args.steps, seed=11)
            ref, ref_time = torch_run(module, data, kind, lr)
            for devices in (int(d) for d in args.devices.split(",")):
                got, step_time = pmc_run(onnx_model, input_name, data, kind, lr, devices)
                diff = float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12)))
                rows.append((name, kind, devices, ref[0], ref[-1], diff, ref_time * 1e3,
                             step_time * 1e3))
                print(f"{name:12} {kind:6} {devices} devices: loss {ref[0]:.4f} -> {ref[-1]:.4f}, "
                      f"max rel diff {diff:.2e}", flush=True)
    print()
    print(f"{'model':12} {'opt':6} {'dev':>3} {'loss 0':>8} {'loss N':>8} {'max rel diff':>13} "
          f"{'torch ms':>9} {'pmc ms':>8} {'pmc/torch':>9}")
    for name, kind, devices, first, last, diff, t_ms, p_ms in rows:
        print(f"{name:12} {kind:6} {devices:>3} {first:8.4f} {last:8.4f} {diff:13.2e} "
              f"{t_ms:9.2f} {p_ms:8.2f} {p_ms / t_ms:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
