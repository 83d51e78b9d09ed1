"""Worked ANN -> SNN conversion on sklearn digits: ANN accuracy vs converted-SNN accuracy per T.

Usage: python tools/convert_digits.py [mlp|cnn] (prints one line per conversion method);
``neurons``: conversion error |SNN − ANN| (accuracy) per T with IF, signed (SNM) and burst neurons.
``report``: accuracy, SynOps (effective ACs) and energy (FP32 45 nm) per sample per T of the converted
MLP (IF neurons) on digits and mnist1d, from ``sf.metrics.profile``.
"""

from __future__ import annotations

import sys
import time
from typing import Any

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


def neurons() -> None:
    """IF vs signed (SNM) vs burst neurons: mean |SNN − ANN| output error and accuracy per T (MLP)."""
    from spikeforge.encoders import direct_encode

    torch.manual_seed(0)
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0  # [1797, 64]
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1400], perm[1400:]
    relu = train(net("mlp", nn.ReLU), x[tr], y[tr])
    qcfs = train(net("mlp", None), x[tr], y[tr])
    steps = (2, 4, 8, 16, 32)
    print("| ANN, method | neuron | " + " | ".join(f"T={t}" for t in steps) + " |")
    print("|---|---|" + "---|" * len(steps))
    runs = [(relu, "relu", "robust", p) for p in (99.9, 95.0, 90.0)] + [(qcfs, "qcfs", "qcfs", None)]
    with torch.no_grad():
        for ann, name, method, p in runs:
            a = ann(x[te])
            for neuron in ("if", "signed_if", "burst_if"):
                kw: dict[str, Any] = {"percentile": p} if p is not None else {}
                snn = convert(ann, x[tr][:500], method=method, neuron=neuron, **kw)
                cum = snn(direct_encode(x[te], max(steps))).cumsum(0)  # [T, B, 10]
                cells = []
                for t in steps:
                    m = cum[t - 1] / t
                    acc = 100 * (m.argmax(1) == y[te]).float().mean()
                    cells.append(f"{(m - a).abs().mean().item():.3f} ({acc:.1f})")
                label = f"{name}, {method}" + (f" {p:g}%" if p is not None else "")
                print(f"| {label} | {neuron} | " + " | ".join(cells) + " |", flush=True)


def _data(name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    if name == "mnist1d":
        from spikeforge.data.datasets.mnist1d_data import mnist1d

        tr, te = mnist1d("train"), mnist1d("test")
        mu, sd = tr.x.mean(), tr.x.std()
        return (tr.x - mu) / sd, tr.y, (te.x - mu) / sd, te.y  # [4000, 40], [1000, 40]
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0  # [1797, 64]
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm[:1400]], y[perm[:1400]], x[perm[1400:]], y[perm[1400:]]


def report() -> None:
    """Markdown rows: dataset, model, ANN accuracy, then per T: accuracy / effective ACs / energy (nJ)."""
    from spikeforge.encoders import direct_encode
    from spikeforge.metrics import profile
    from spikeforge.metrics.energy import FP32_45NM

    steps = (4, 8, 16, 32, 64)
    print("| data, model | ANN | " + " | ".join(f"T={t}: acc, ACs, nJ" for t in steps) + " |")
    print("|---|---|" + "---|" * len(steps))
    for name in ("digits", "mnist1d"):
        torch.manual_seed(0)
        xtr, ytr, xte, yte = _data(name)
        n_in = xtr.shape[1]
        for label, act, method in (("ReLU robust", nn.ReLU, "robust"), ("QCFS L=8", None, "qcfs")):
            a = (lambda: QCFS(levels=8, lam=2.0)) if act is None else act
            ann = train(nn.Sequential(nn.Linear(n_in, 64), a(), nn.Linear(64, 32), a(), nn.Linear(32, 10)),
                        xtr, ytr, steps=500)
            with torch.no_grad():
                acc_ann = 100 * (ann(xte).argmax(1) == yte).float().mean().item()
                snn = convert(ann, xtr[:500], method=method)
                cells = []
                for t in steps:
                    with profile(snn) as prof:
                        out = snn(direct_encode(xte, t)).mean(0)  # [T, B, 64] -> [T, B, 10] -> [B, 10]
                    acc = 100 * (out.argmax(1) == yte).float().mean().item()
                    acs = prof.synops()["Effective_ACs"]
                    nj = prof.energy(FP32_45NM).total / 1e3  # pJ -> nJ
                    cells.append(f"{acc:.1f}, {acs:.0f}, {nj:.1f}")
            print(f"| {name}, {label} | {acc_ann:.1f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "mlp"
    {"neurons": neurons, "report": report}.get(what, lambda: main(what))()
