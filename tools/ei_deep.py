"""Deep SNN without BatchNorm (issue 16, reference §4.11): an 8-layer E-I SNN vs the same depth with
plain ``nn.Linear`` (no norm) and with tdBN, on sklearn's bundled digits (8x8, 10 classes).

Every model: ``depth − 1`` hidden blocks of width ``hidden`` with LIF (τ = 2 steps, soft detached
reset, sigmoid surrogate α = 4), a linear read-out averaged over T; static pixels (÷16, in [0, 1])
fed at every step. Adam, cross-entropy, fixed 1200/597 split from a seeded permutation.

Usage: python tools/ei_deep.py [--depth 8] [--hidden 256] [--epochs 15] [--seeds 0 1] [--steps 4]
Prints one row per (model, seed): test accuracy, best epoch, per-layer firing rates at init, wall time.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from sklearn.datasets import load_digits
from torch import nn

from spikeforge.layers import TDBatchNorm
from spikeforge.layers.ei import build_ei_mlp, build_plain_mlp
from spikeforge.neurons.lif import LIF


def data(seed: int) -> tuple[torch.Tensor, ...]:
    X, y = load_digits(return_X_y=True)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    x = torch.tensor(X / 16.0, dtype=torch.float32)[perm]
    t = torch.tensor(y)[perm]
    return x[:1200], t[:1200], x[1200:], t[1200:]


def build(kind: str, depth: int, hidden: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    if kind == "ei":
        return build_ei_mlp(64, hidden, depth, 10, generator=torch.Generator().manual_seed(seed))
    if kind == "plain":
        return build_plain_mlp(64, hidden, depth, 10)
    return build_plain_mlp(64, hidden, depth, 10, norm=lambda n: TDBatchNorm(n))


def init_rates(net: nn.Sequential, xs: torch.Tensor) -> list[float]:
    rates, h = [], xs
    with torch.no_grad():
        for m in net:
            h = m(h)
            if isinstance(m, LIF):
                rates.append(h.mean().item())
    return rates


def run(kind: str, args: argparse.Namespace, seed: int) -> dict[str, object]:
    xtr, ytr, xte, yte = data(seed)
    net = build(kind, args.depth, args.hidden, seed)
    T = args.steps
    net.train()
    rates = init_rates(net, xtr[:512].expand(T, 512, 64))  # E-I Init runs here, on this first batch
    opt = (torch.optim.Adam(net.parameters(), lr=args.lr) if args.opt == "adam"
           else torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9))
    g = torch.Generator().manual_seed(seed)
    best, best_epoch, t0 = 0.0, 0, time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        net.train()
        for idx in torch.randperm(len(ytr), generator=g).split(args.batch):
            xs = xtr[idx].expand(T, len(idx), 64)  # [T, B, 64]
            loss = nn.functional.cross_entropy(net(xs).mean(0), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            acc = (net(xte.expand(T, len(yte), 64)).mean(0).argmax(1) == yte).float().mean().item()
        if acc > best:
            best, best_epoch = acc, epoch
    return {"acc": acc, "best": best, "best_epoch": best_epoch, "rates": rates, "wall": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--opt", default="adam", choices=["adam", "sgd"], help="sgd: momentum 0.9")
    ap.add_argument("--models", nargs="+", default=["ei", "plain", "tdbn"], choices=["ei", "plain", "tdbn"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"digits, depth {args.depth}, hidden {args.hidden}, T {args.steps}, {args.opt} lr {args.lr}, "
          f"{args.epochs} epochs, batch {args.batch}; load average {os.getloadavg()[0]:.1f}")
    print("| model | seed | final test acc | best (epoch) | init firing rate per hidden layer | wall s |")
    print("|---|---|---|---|---|---|")
    for kind in args.models:
        for seed in args.seeds:
            r = run(kind, args, seed)
            rates = " ".join(f"{v:.3f}" for v in r["rates"])  # type: ignore[union-attr]
            print(f"| {kind} | {seed} | {r['acc']:.3f} | {r['best']:.3f} ({r['best_epoch']}) | {rates} "
                  f"| {r['wall']:.0f} |", flush=True)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
