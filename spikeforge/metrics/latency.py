"""Inference latency and throughput, measured with warm-up and repetitions."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .profile import is_time_major_module

__all__ = ["Latency", "measure_latency"]


@dataclass(frozen=True)
class Latency:
    """Wall-clock timing of ``repeats`` forward passes of one batch.

    Attributes:
        seconds: Each timed pass [s].
        batch_size, steps: Samples per pass and time steps ``T`` per sample.
    """

    seconds: tuple[float, ...]
    batch_size: int
    steps: int

    @property
    def median_s(self) -> float:
        """Median time per pass [s]."""
        return statistics.median(self.seconds)

    @property
    def std_s(self) -> float:
        return statistics.stdev(self.seconds) if len(self.seconds) > 1 else 0.0

    @property
    def samples_per_s(self) -> float:
        """Throughput from the median pass [samples/s]."""
        return self.batch_size / self.median_s if self.median_s > 0 else float("inf")

    @property
    def seconds_per_step(self) -> float:
        """Median pass time per time step (whole batch) [s]."""
        return self.median_s / self.steps

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(median_s=self.median_s, std_s=self.std_s, samples_per_s=self.samples_per_s,
                 seconds_per_step=self.seconds_per_step)
        return d


def _batch_and_steps(model: nn.Module, x: Tensor) -> tuple[int | None, int | None]:
    """Run ``model(x)`` once and read ``(B, T)`` from its first time-major module."""
    found: list[tuple[int, int]] = []

    def pre(module: nn.Module, args: tuple[Any, ...]) -> None:
        if not found and args and isinstance(args[0], Tensor) and args[0].dim() >= 2:
            found.append((int(args[0].shape[1]), int(args[0].shape[0])))

    handles = [m.register_forward_pre_hook(pre) for m in model.modules() if is_time_major_module(m)]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return found[0] if found else (None, None)


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    x: Tensor,
    *,
    warmup: int = 3,
    repeats: int = 10,
    batch_size: int | None = None,
    steps: int | None = None,
) -> Latency:
    """Time ``model(x)`` in eval mode without gradients.

    The first warm-up pass also reads the batch size and ``T`` from the first time-major
    module (a neuron sees ``[T, B, ...]``) unless both are given; warm-up passes are not timed.
    On CUDA the device is synchronised around each timed pass.

    Args:
        model: Module to time.
        x: One input batch.
        warmup: Untimed passes first (at least one pass runs when sizes must be inferred).
        repeats: Timed passes (>= 1).
        batch_size, steps: Override the inferred sizes.

    Example:
        >>> lat = measure_latency(net, xs, warmup=2, repeats=5)
        >>> lat.samples_per_s > 0 and lat.seconds_per_step > 0
        True
    """
    if isinstance(warmup, bool) or int(warmup) < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup!r}")
    if isinstance(repeats, bool) or int(repeats) < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats!r}")
    was_training = model.training
    model.eval()
    try:
        done = 0
        if batch_size is None or steps is None:
            b, t = _batch_and_steps(model, x)
            batch_size = batch_size if batch_size is not None else b
            steps = steps if steps is not None else t
            done = 1
        if batch_size is None or steps is None:
            raise ValueError("model has no time-major module to read the batch size and steps from; "
                             "pass batch_size= and steps=")
        for _ in range(max(int(warmup) - done, 0)):
            model(x)
        cuda = x.is_cuda
        times = []
        for _ in range(int(repeats)):
            if cuda:
                torch.cuda.synchronize(x.device)
            t0 = time.perf_counter()
            model(x)
            if cuda:
                torch.cuda.synchronize(x.device)
            times.append(time.perf_counter() - t0)
    finally:
        model.train(was_training)
    return Latency(seconds=tuple(times), batch_size=int(batch_size), steps=int(steps))
