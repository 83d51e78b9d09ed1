"""Time per step and bytes saved for backward of SLTT on three paths, at T = 8, 32, 128.

- ``torch``: the neuron on ``backend="torch"`` (the step function under autograd; unfused);
- ``cpp generic``: the multi-step C++ kernel called with T = 1 each step (what ran before the SLTT
  step kernel existed; forced here by disabling ``kernels/sltt.py``);
- ``cpp sltt``: the fused SLTT step (``kernels/sltt.py``).

Usage: ``OMP_NUM_THREADS=1 python tools/bench_sltt_fused.py [--hidden N] [--batch B] [T ...]``.
Network Linear(64, hidden) -> LIF(beta = 0.5, triangle) -> Linear(hidden, 10), cross-entropy at
every step, best of ``--repeats`` runs; memory is the peak of bytes saved for backward
(:class:`spikeforge.learning.online.SavedBytes`), not RSS. Prints a markdown table and the load
average (the machine is shared, so times are indicative).
"""

from __future__ import annotations

import argparse
import os
from contextlib import nullcontext
from unittest import mock

import torch
from torch import nn

import spikeforge.kernels.sltt as ksltt
from spikeforge.learning.online import sltt_backward
from spikeforge.learning.online.bench import measure_step
from spikeforge.neurons import LIF

PATHS = {"torch": ("torch", False), "cpp generic": ("cpp", False), "cpp sltt": ("cpp", True)}


def run(path: str, T: int, batch: int, hidden: int, repeats: int) -> tuple[float, float]:
    backend, step_kernel = PATHS[path]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, hidden), LIF.from_decay(0.5, surrogate="triangle", backend=backend),
                        nn.Linear(hidden, 10))
    xs = torch.rand(T, batch, 64)  # [T, B, 64]
    y = torch.randint(0, 10, (batch,))

    def loss_fn(o: torch.Tensor, t: int) -> torch.Tensor:
        return nn.functional.cross_entropy(o, y)

    off = nullcontext() if step_kernel else mock.patch.object(ksltt, "sltt_supports", lambda *a: "disabled")
    with off:
        best, kib = measure_step(lambda: sltt_backward(net, xs, loss_fn), net, repeats)
    return 1e3 * best / T, kib


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("ts", nargs="*", type=int, default=[8, 32, 128])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(1)
    print(f"load average before: {os.getloadavg()}")
    print(f"hidden {a.hidden}, batch {a.batch}\n")
    print("| path | T | ms / step | peak saved for backward [KiB] |\n|---|---|---|---|")
    for T in a.ts:
        for path in PATHS:
            ms, kib = run(path, T, a.batch, a.hidden, a.repeats)
            print(f"| {path} | {T} | {ms:.3f} | {kib:.1f} |", flush=True)
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
