"""Train a tiny Spikformer and its ReLU/softmax ViT twin on sklearn digits (8x8 upsampled to 16x16).

Both models have the same layers and parameter count (SPS stem, one transformer block, linear
head); the twin replaces every spiking neuron by ReLU and SSA by softmax attention and runs one
time step (its steps would be identical). Same data, split, optimiser, schedule and epochs.

    .venv/bin/python tools/transformer_digits.py --epochs 15

Prints per-epoch test accuracy and wall time, then one summary line per model.
"""

from __future__ import annotations

import argparse
import ast
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.data import load_dataset
from spikeforge.models import create_model
from spikeforge.models.transformers import Spikformer


def images(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_dataset("digits", split).tensors()  # [N, 64] in [0, 1]
    x = x.view(-1, 1, 8, 8)  # [N, 1, 8, 8]
    return F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False), y  # [N, 1, 16, 16]


def relu(v_th: float) -> nn.Module:
    return nn.ReLU()


def build(kind: str, **overrides: Any) -> nn.Module:
    """``"vit"``: the ReLU/softmax twin of ``spikformer_tiny``; ``"spikformer"`` or any zoo name
    (e.g. ``sdt_tiny``, ``maxformer_tiny``): that model sized to 1 x 16 x 16 inputs, 10 classes."""
    opts = {"in_channels": 1, "num_classes": 10, "img_size": 16, **overrides}
    if kind == "vit":
        return Spikformer(embed_dim=64, depth=1, num_heads=4, attention="softmax", neuron=relu, T=1, **opts)
    return create_model("spikformer_tiny" if kind == "spikformer" else kind, **opts)  # T = 4 for the tiny ones


def train(kind: str, epochs: int, seed: int, batch: int = 64, lr: float = 3e-3,
          overrides: dict[str, Any] | None = None) -> tuple[nn.Module, float, float]:
    """Train ``build(kind, **overrides)``; returns ``(net, last-epoch test accuracy, seconds)``."""
    torch.manual_seed(seed)
    xtr, ytr = images("train")
    xte, yte = images("test")
    net = build(kind, **(overrides or {}))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    t0, acc = time.time(), 0.0
    for epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(net(xtr[idx]).mean(0), ytr[idx])  # mean of per-step logits
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        net.eval()
        with torch.no_grad():
            pred = torch.cat([net(xte[i:i + 256]).mean(0).argmax(-1) for i in range(0, len(xte), 256)])
        acc = float((pred == yte).float().mean())
        print(f"{kind:14s} epoch {epoch + 1:2d}  loss {loss.item():.3f}  test acc {acc:.4f}  {time.time() - t0:6.1f} s",
              flush=True)
    return net, acc, time.time() - t0


def run(kind: str, epochs: int, seed: int, batch: int, lr: float,
        overrides: dict[str, Any] | None = None) -> tuple[float, float, int]:
    net, acc, secs = train(kind, epochs, seed, batch, lr, overrides)
    return acc, secs, sum(p.numel() for p in net.parameters())


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["KEY=VALUE", ...]`` (``--set``) -> constructor overrides, values read as Python literals."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = ast.literal_eval(value)
    return overrides


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--models", default="spikformer,vit")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="constructor override for every model, e.g. --set layer_scale=1e-6")
    args = ap.parse_args()
    try:
        overrides = parse_overrides(args.set)
    except ValueError as e:
        ap.error(str(e))
    torch.set_num_threads(1)
    results = {k: run(k, args.epochs, args.seed, args.batch, args.lr, overrides) for k in args.models.split(",")}
    for k, (acc, secs, n) in results.items():
        print(f"{k}: params {n}, test accuracy {acc:.4f} after {args.epochs} epochs, {secs:.0f} s")


if __name__ == "__main__":
    main()
