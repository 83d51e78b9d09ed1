"""Time per step and bytes saved for backward vs ``T``: BPTT, checkpoint-through-time, SLTT, SLTT-K, OTTT.

Run ``python -m spikeforge.learning.online.bench [T ...]`` (default ``8 32 128``); prints a markdown
table. Memory is the peak of bytes saved for backward alive at once (:class:`SavedBytes`), not RSS.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from functools import partial

import torch
from torch import Tensor, nn

from ...neurons import LIF
from ...runtime.recompute import checkpoint_through_time
from .memory import SavedBytes
from .sltt import ottt_backward, sltt_backward

__all__ = ["MODES", "bench_online"]


def _ce(y: Tensor) -> Callable[[Tensor, int], Tensor]:
    return lambda o, t: nn.functional.cross_entropy(o, y)


def _bptt(net: nn.Sequential, xs: Tensor, y: Tensor) -> None:
    out = net(xs)  # [T, B, C]
    nn.functional.cross_entropy(out.flatten(0, 1), y.repeat(xs.shape[0])).backward()


def _ckpt(net: nn.Sequential, xs: Tensor, y: Tensor) -> None:
    out = checkpoint_through_time(net, xs, chunk=8)  # [T, B, C]
    nn.functional.cross_entropy(out.flatten(0, 1), y.repeat(xs.shape[0])).backward()


MODES: dict[str, Callable[[nn.Sequential, Tensor, Tensor], object]] = {
    "bptt": _bptt,
    "checkpoint(chunk=8)": _ckpt,
    "sltt": lambda net, xs, y: sltt_backward(net, xs, _ce(y)),
    "sltt-k(k=2)": lambda net, xs, y: sltt_backward(net, xs, _ce(y), k=2),
    "ottt": lambda net, xs, y: ottt_backward(net, xs, _ce(y), decay=0.5),
}


def measure_step(step: Callable[[], object], net: nn.Module, repeats: int) -> tuple[float, float]:
    """``(best wall seconds over repeats, KiB saved for backward at peak)`` of one training step
    ``step()`` (forward + backward of ``net``): one untimed run under :class:`SavedBytes`, then
    ``repeats`` timed runs with the gradients zeroed before each."""
    with SavedBytes() as sb:
        step()
    best = float("inf")
    for _ in range(repeats):
        net.zero_grad()
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return best, sb.peak / 1024


def bench_online(ts: Sequence[int] = (8, 32, 128), *, batch: int = 32, n_in: int = 64, hidden: int = 128,
                 repeats: int = 3) -> list[dict[str, object]]:
    """One row per (mode, T): ``ms_per_step`` (wall time of forward + backward / T) and ``saved_kib``."""
    rows: list[dict[str, object]] = []
    for T in ts:
        for name, run in MODES.items():
            torch.manual_seed(0)
            net = nn.Sequential(nn.Linear(n_in, hidden), LIF.from_decay(0.5, surrogate="triangle"),
                                nn.Linear(hidden, 10))
            xs = torch.rand(T, batch, n_in)  # [T, B, n_in]
            y = torch.randint(0, 10, (batch,))
            best, kib = measure_step(partial(run, net, xs, y), net, repeats)
            rows.append({"mode": name, "T": T, "ms_per_step": 1e3 * best / T, "saved_kib": kib})
    return rows


def main(argv: Sequence[str] = ()) -> None:
    ts = [int(a) for a in argv] or [8, 32, 128]
    print("| mode | T | ms / step | peak saved for backward [KiB] |\n|---|---|---|---|")
    for r in bench_online(ts):
        print(f"| {r['mode']} | {r['T']} | {r['ms_per_step']:.3f} | {r['saved_kib']:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
