"""Temporal-memory tasks: the adding problem and a delayed-cue (long-delay) classification task."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["adding_problem", "delayed_cue"]


def adding_problem(n: int, steps: int, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """The adding problem (Hochreiter & Schmidhuber, 1997), time-major per sample.

    Channel 0 holds uniform values in [0, 1]; channel 1 marks two steps, one in each half of the
    sequence. The target is the sum of the two marked values.

    Returns:
        ``(x [n, steps, 2], target [n])`` (float32).
    """
    if n < 1 or steps < 2:
        raise ValueError(f"need n >= 1 and steps >= 2, got n={n}, steps={steps}")
    values = torch.rand(n, steps, generator=generator)
    half = steps // 2
    i = torch.randint(0, half, (n,), generator=generator)
    j = torch.randint(half, steps, (n,), generator=generator)
    marks = torch.zeros(n, steps)
    rows = torch.arange(n)
    marks[rows, i] = 1.0
    marks[rows, j] = 1.0
    target = values[rows, i] + values[rows, j]
    return torch.stack([values, marks], dim=-1), target  # [n, steps, 2], [n]


def delayed_cue(n: int, num_classes: int = 4, *, cue_steps: int = 10, delay: int = 50,
                channels_per_class: int = 4, cue_rate: float = 0.5, noise_rate: float = 0.01,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Remember a cue across a silent delay, then report it when asked.

    Layout (time-major per sample): ``cue_steps`` steps in which the channels of the cued class fire
    at ``cue_rate``, then ``delay`` steps of background noise only, then one "go" step in which the
    last channel fires. Every channel also fires at ``noise_rate`` throughout.

    Returns:
        ``(x [n, cue_steps + delay + 1, num_classes · channels_per_class + 1], label [n])``, spikes 0/1.
    """
    if n < 1 or num_classes < 2 or cue_steps < 1 or delay < 0 or channels_per_class < 1:
        raise ValueError("need n >= 1, num_classes >= 2, cue_steps >= 1, delay >= 0, channels_per_class >= 1")
    steps = cue_steps + delay + 1
    C = num_classes * channels_per_class + 1
    label = torch.randint(0, num_classes, (n,), generator=generator)
    x = (torch.rand(n, steps, C, generator=generator) < noise_rate).float()  # [n, T, C]
    cue = torch.rand(n, cue_steps, channels_per_class, generator=generator) < cue_rate
    for k in range(num_classes):
        rows = label == k
        sl = slice(k * channels_per_class, (k + 1) * channels_per_class)
        x[rows, :cue_steps, sl] = torch.maximum(x[rows, :cue_steps, sl], cue[rows].float())
    x[:, -1, -1] = 1.0
    return x, label
