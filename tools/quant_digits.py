"""Quantization accuracy vs bits on sklearn digits: a small LIF SNN trained in float, with QAT at
8/4/2 bits and ternary weights, post-training quantization (PTQ) of the float net for contrast,
and SQUAT state quantization (uniform vs threshold-centred) on top of 4-bit weights.

Usage: python tools/quant_digits.py [epochs] [seeds] [digits|mnist1d] [variant,variant,...]
(defaults 20, 3, digits, all variants; prints one line per variant)

Network: direct input current (digits: pixels / 16; mnist1d: the 40 values, standardised) held for
T = 8 steps -> Linear(n_in, 128) -> LIF (decay 0.9) -> Linear(128, 10) -> LI (decay 0.9), logits =
mean membrane over time; Adam 5e-3, batch 64. digits: 1400 train / 397 test images (fixed split);
mnist1d: the package's local generator (seed 42), 4000 train / 1000 test. Every variant trains
from the same seed and initial weights for the same number of epochs (QAT from scratch).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
from sklearn.datasets import load_digits
from torch import nn

import spikeforge as sf
from spikeforge.quant import LSQ, IntQuant, StateQuant, TernaryQuant, quantize_model

T = 8


DATASET = "digits"


def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    if DATASET == "mnist1d":
        from spikeforge.data.datasets.mnist1d_data import mnist1d

        tr, te = mnist1d("train"), mnist1d("test")
        mu, sd = tr.x.mean(), tr.x.std()
        return (tr.x - mu) / sd, tr.y, (te.x - mu) / sd, te.y  # [4000, 40], [1000, 40]
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0  # [1797, 64]
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1400], perm[1400:]
    return x[tr], y[tr], x[te], y[te]


def snn(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    n_in = 40 if DATASET == "mnist1d" else 64
    return nn.Sequential(nn.Linear(n_in, 128), sf.LIF.from_decay(0.9), nn.Linear(128, 10), sf.LI.from_decay(0.9))


def logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net(x.expand(T, *x.shape)).mean(0)  # [B, n_in] -> [T, B, n_in] -> [T, B, 10] -> [B, 10]


def train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> nn.Module:
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(logits(net, x[idx]), y[idx]).backward()
            opt.step()
    return net


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits(net, x).argmax(1) == y).float().mean())


VARIANTS: dict[str, Callable[[nn.Module], nn.Module]] = {
    "float": lambda n: n,
    "int8": lambda n: quantize_model(n, IntQuant(8)),
    "int4": lambda n: quantize_model(n, IntQuant(4)),
    "int4-channel": lambda n: quantize_model(n, IntQuant(4, per_channel=True)),
    "int2": lambda n: quantize_model(n, IntQuant(2)),
    "lsq2-channel": lambda n: quantize_model(n, LSQ(2, per_channel=True)),
    "ternary": lambda n: quantize_model(n, TernaryQuant()),
    "int4+state4-uniform": lambda n: quantize_model(n, IntQuant(4), state=StateQuant.uniform(4)),
    "int4+state4-centred": lambda n: quantize_model(n, IntQuant(4), state=StateQuant.threshold_centred(4)),
    "int4+state2-uniform": lambda n: quantize_model(n, IntQuant(4), state=StateQuant.uniform(2)),
    "int4+state2-centred": lambda n: quantize_model(n, IntQuant(4), state=StateQuant.threshold_centred(2)),
}


def run(variant: str, epochs: int, seed: int, float_net: nn.Module | None = None) -> tuple[float, float | None]:
    """``(QAT test accuracy, PTQ test accuracy: the trained float net with the same quantizers)``."""
    xtr, ytr, xte, yte = data()
    qat = train(VARIANTS[variant](snn(seed)), xtr, ytr, epochs, seed)
    ptq = None
    if variant != "float":
        float_net = float_net if float_net is not None else train(snn(seed), xtr, ytr, epochs, seed)
        ptq = accuracy(VARIANTS[variant](float_net), xte, yte)
    return accuracy(qat, xte, yte), ptq


def main(epochs: int, seeds: int, variants: list[str]) -> None:
    torch.set_num_threads(1)
    t0 = time.time()
    print(f"{DATASET}, T={T}, {epochs} epochs, seeds 0..{seeds - 1}: test accuracy % (mean [min, max])")
    xtr, ytr, _, _ = data()
    float_nets = [train(snn(s), xtr, ytr, epochs, s) for s in range(seeds)]
    for variant in variants:
        results = [run(variant, epochs, s, float_nets[s]) for s in range(seeds)]
        qat = [100 * r[0] for r in results]
        cells = f"QAT {sum(qat) / len(qat):5.1f} [{min(qat):5.1f}, {max(qat):5.1f}]"
        if results[0][1] is not None:
            ptq = [100 * r[1] for r in results if r[1] is not None]
            cells += f"   PTQ {sum(ptq) / len(ptq):5.1f} [{min(ptq):5.1f}, {max(ptq):5.1f}]"
        print(f"{variant:22s} {cells}", flush=True)
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    args = sys.argv[1:]
    DATASET = args[2] if len(args) > 2 else "digits"
    if DATASET not in ("digits", "mnist1d"):
        raise SystemExit(f"dataset must be digits or mnist1d, got {DATASET!r}")
    chosen = args[3].split(",") if len(args) > 3 else list(VARIANTS)
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; valid: {list(VARIANTS)}")
    main(int(args[0]) if args else 20, int(args[1]) if len(args) > 1 else 3, chosen)
