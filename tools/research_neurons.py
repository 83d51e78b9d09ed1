"""Measure the research neurons of issue 16 on offline tasks; numbers go to docs/research_neurons.md.

Task ``cue``: ELM vs a LIF SNN vs an LSTM of similar parameter count on the delayed-cue generator
(remember which of 4 classes was cued, across a silent delay, report at the go step).
Task ``lzc``: SNN with fixed-parameter LIF vs the meta neuron (every intrinsic parameter learned),
and the SNN-LZC read-out (LZC of the meta-SNN's output spike trains, nearest class mean), on a
generated two-class spike-train task: Poisson vs. a regular (periodic-burst) train of equal rate.

    .venv/bin/python tools/research_neurons.py cue --delay 50 --seeds 0 1
    .venv/bin/python tools/research_neurons.py lzc --seeds 0 1
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import Tensor, nn

from spikeforge.data.generators import delayed_cue
from spikeforge.encoders.lzc import lempel_ziv_complexity
from spikeforge.layers.elm import ELM
from spikeforge.neurons import LIF, MetaNeuron


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


class LIFNet(nn.Module):
    """Linear -> recurrent-free LIF -> Linear; logits are the read-out at the last step."""

    def __init__(self, i: int, h: int, o: int, neuron: nn.Module) -> None:
        super().__init__()
        self.fc, self.neuron, self.out = nn.Linear(i, h), neuron, nn.Linear(h, o)

    def forward(self, xs: Tensor) -> Tensor:  # [T, B, I] -> [T, B, O]
        return self.out(self.neuron(self.fc(xs)))


class LSTMNet(nn.Module):
    def __init__(self, i: int, h: int, o: int) -> None:
        super().__init__()
        self.lstm, self.out = nn.LSTM(i, h), nn.Linear(h, o)

    def forward(self, xs: Tensor) -> Tensor:
        return self.out(self.lstm(xs)[0])


def train(model: nn.Module, x: Tensor, y: Tensor, xt: Tensor, yt: Tensor, *, epochs: int, lr: float,
          readout: str = "last") -> float:
    """Adam on cross-entropy; x time-major [T, N, I]; returns test accuracy."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def logits(xs: Tensor) -> Tensor:
        out = model(xs)
        return out[-1] if readout == "last" else out.mean(0)

    for _ in range(epochs):
        perm = torch.randperm(x.shape[1])
        for k in range(0, x.shape[1], 64):
            idx = perm[k:k + 64]
            loss = nn.functional.cross_entropy(logits(x[:, idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return (logits(xt).argmax(-1) == yt).float().mean().item()


def task_cue(args: argparse.Namespace) -> None:
    print("| model | params | delay | seed | test acc | wall s |")
    for seed in args.seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = delayed_cue(args.n_train, 4, delay=args.delay, generator=g)
        xt, yt = delayed_cue(500, 4, delay=args.delay, generator=g)
        x, xt = x.transpose(0, 1), xt.transpose(0, 1)  # [N, T, C] -> [T, N, C]
        C = x.shape[-1]
        torch.manual_seed(seed)
        models = {
            "ELM d_m=16": ELM(C, memory_size=16, output_size=4, hidden_size=16),
            "LIF SNN h=48": LIFNet(C, 48, 4, LIF(tau_mem=20e-3, size=48, learn=("tau_mem",))),
            "LSTM h=16": LSTMNet(C, 16, 4),
        }
        for name, m in models.items():
            t0 = time.time()
            acc = train(m, x, y, xt, yt, epochs=args.epochs, lr=args.lr)
            wall = time.time() - t0
            print(f"| {name} | {n_params(m)} | {args.delay} | {seed} | {acc:.3f} | {wall:.0f} |", flush=True)


def spike_task(n: int, T: int, C: int, rate: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """Class 0: Poisson (Bernoulli per step) trains; class 1: periodic bursts (phase random) of the
    same mean rate. Returns ``(x [T, n, C], y [n])``."""
    y = torch.randint(0, 2, (n,), generator=g)
    pois = (torch.rand(T, n, C, generator=g) < rate).float()
    period = int(round(1 / rate))
    phase = torch.randint(0, period, (1, n, C), generator=g)
    t = torch.arange(T).view(T, 1, 1)
    reg = ((t + phase) % period == 0).float()
    jitter = (torch.rand(T, n, C, generator=g) < 0.02).float()  # a little noise on the regular class
    reg = torch.clamp(reg + jitter, max=1.0)
    x = torch.where((y == 1).view(1, n, 1), reg, pois)
    return x, y


def task_lzc(args: argparse.Namespace) -> None:
    print("| model | params | seed | test acc | wall s |")
    for seed in args.seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = spike_task(args.n_train, 100, 8, 0.2, g)
        xt, yt = spike_task(500, 100, 8, 0.2, g)
        results = {}
        for name, neuron in (("LIF (fixed intrinsic)", LIF(tau_mem=5e-3, size=16)),
                             ("meta (learned intrinsic)", MetaNeuron(tau_mem=5e-3, size=16))):
            torch.manual_seed(seed)
            m = LIFNet(8, 16, 2, neuron)
            t0 = time.time()
            acc = train(m, x, y, xt, yt, epochs=args.epochs, lr=args.lr, readout="mean")
            results[name] = m
            print(f"| {name} | {n_params(m)} | {seed} | {acc:.3f} | {time.time() - t0:.0f} |", flush=True)
        # SNN-LZC: LZC of the meta-SNN's hidden spike trains, averaged over neurons; nearest class mean
        meta = results["meta (learned intrinsic)"]
        with torch.no_grad():
            f = lempel_ziv_complexity(meta.neuron(meta.fc(x))).mean(-1)  # [T, N, H] -> [N, H] -> [N]
            ft = lempel_ziv_complexity(meta.neuron(meta.fc(xt))).mean(-1)
            raw, rawt = lempel_ziv_complexity(x).mean(-1), lempel_ziv_complexity(xt).mean(-1)
        for label, (a, b) in (("SNN-LZC (meta hidden spikes)", (f, ft)), ("LZC of the input spikes", (raw, rawt))):
            mu = torch.stack([a[y == k].mean() for k in (0, 1)])
            pred = (b[:, None] - mu).abs().argmin(-1)
            print(f"| {label} | 2 class means | {seed} | {(pred == yt).float().mean().item():.3f} | - |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task", choices=["cue", "lzc"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--delay", type=int, default=50)
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--lr", type=float, default=5e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    {"cue": task_cue, "lzc": task_lzc}[args.task](args)


if __name__ == "__main__":
    main()
