"""Worked ANN -> SNN conversion on sklearn digits: ANN accuracy vs converted-SNN accuracy per T.

Usage: python tools/convert_digits.py [mlp|cnn] (prints one line per conversion method)
"""

from __future__ import annotations

import sys
import time

import torch
from sklearn.datasets import load_digits
from torch import nn

from spikeforge.convert import QCFS, conversion_accuracy, convert

STEPS = (1, 2, 4, 8, 16, 32, 64)


def train(ann: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 300) -> nn.Module:
    opt = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for _ in range(steps):  # full batch
        opt.zero_grad()
        nn.functional.cross_entropy(ann(x), y).backward()
        opt.step()
    return ann.eval()


def net(kind: str, act: type[nn.Module] | None) -> nn.Sequential:
    a = (lambda: QCFS(levels=8, lam=2.0)) if act is None else act
    if kind == "cnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), a(), nn.AvgPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), a(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(128, 10))
    return nn.Sequential(nn.Linear(64, 64), a(), nn.Linear(64, 32), a(), nn.Linear(32, 10))


def main(kind: str) -> None:
    t0 = time.time()
    torch.manual_seed(0)
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0  # [1797, 64]
    if kind == "cnn":
        x = x.reshape(-1, 1, 8, 8)  # [1797, 64] -> [1797, 1, 8, 8]
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1400], perm[1400:]
    relu = train(net(kind, nn.ReLU), x[tr], y[tr])
    qcfs = train(net(kind, None), x[tr], y[tr])
    runs = [(relu, m, cw) for m in ("max", "robust") for cw in (False, True)] + [(qcfs, "qcfs", False)]
    for ann, method, cw in runs:
        snn = convert(ann, x[tr][:500], method=method, channelwise=cw)
        r = conversion_accuracy(ann, snn, x[te], y[te], steps=STEPS)
        cells = " ".join(f"{k}:{100 * v:.1f}" for k, v in r.items())
        print(f"{kind} {method:6s} {'channel' if cw else 'layer':7s} {cells}", flush=True)
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mlp")
