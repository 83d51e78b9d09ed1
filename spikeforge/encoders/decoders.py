"""Decoders: reduce a time-major output ``[T, B, *]`` to one value per element ``[B, *]``."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ._base import DECODERS

__all__ = [
    "spike_count", "mean_membrane", "max_membrane", "first_spike_time",
    "SpikeCount", "MeanMembrane", "MaxMembrane", "FirstSpikeTime",
]


def spike_count(zs: Tensor) -> Tensor:
    """Number of spikes per element, :math:`\\sum_t z_t` (differentiable).

    Shapes:
        ``zs [T, B, *] -> [B, *]``

    Example:
        >>> spike_count(torch.tensor([[1.0], [0.0], [1.0]])).tolist()
        [2.0]
    """
    return check_sequence(zs).sum(0)


def mean_membrane(vs: Tensor) -> Tensor:
    """Time-averaged membrane (or any output), :math:`\\frac{1}{T}\\sum_t v_t` (differentiable).

    Shapes:
        ``vs [T, B, *] -> [B, *]``

    Example:
        >>> mean_membrane(torch.tensor([[1.0], [2.0], [6.0]])).tolist()
        [3.0]
    """
    return check_sequence(vs).mean(0)


def max_membrane(vs: Tensor) -> Tensor:
    """Peak membrane over time, :math:`\\max_t v_t` (gradient flows to the arg-max step).

    Shapes:
        ``vs [T, B, *] -> [B, *]``

    Example:
        >>> max_membrane(torch.tensor([[1.0], [5.0], [2.0]])).tolist()
        [5.0]
    """
    return check_sequence(vs).amax(0)


def first_spike_time(zs: Tensor, *, no_spike: float | None = None) -> Tensor:
    """Index of the first step with a spike (``z > 0``); ``no_spike`` where there is none.

    Args:
        zs: Spikes.
        no_spike: Value for elements that never spike; default ``T`` (one past the last step).

    Shapes:
        ``zs [T, B, *] -> [B, *]`` (dtype of ``zs``; not differentiable).

    Example:
        >>> zs = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0]])   # [T=3, B=2]
        >>> first_spike_time(zs).tolist()
        [1.0, 3.0]
    """
    check_sequence(zs)
    T = zs.shape[0]
    fill = float(T) if no_spike is None else float(no_spike)
    if math.isnan(fill):
        raise ValueError("first_spike_time: no_spike must not be NaN")
    fired = zs.detach() > 0  # [T, B, *]
    first = fired.to(torch.uint8).argmax(0).to(zs.dtype)  # [B, *]; argmax returns the first max
    return torch.where(fired.any(0), first, torch.full_like(first, fill))


@DECODERS.register("spike_count")
class SpikeCount(nn.Module):
    """Spike-count decoder; see :func:`spike_count`. ``[T, B, *] -> [B, *]``.

    Example:
        >>> SpikeCount()(torch.ones(10, 4, 3)).shape
        torch.Size([4, 3])
    """

    def forward(self, zs: Tensor) -> Tensor:
        return spike_count(zs)


@DECODERS.register("mean_membrane")
class MeanMembrane(nn.Module):
    """Mean-over-time decoder; see :func:`mean_membrane`. ``[T, B, *] -> [B, *]``.

    Example:
        >>> MeanMembrane()(torch.ones(10, 4, 3)).shape
        torch.Size([4, 3])
    """

    def forward(self, vs: Tensor) -> Tensor:
        return mean_membrane(vs)


@DECODERS.register("max_membrane")
class MaxMembrane(nn.Module):
    """Max-over-time decoder; see :func:`max_membrane`. ``[T, B, *] -> [B, *]``.

    Example:
        >>> MaxMembrane()(torch.ones(10, 4, 3)).shape
        torch.Size([4, 3])
    """

    def forward(self, vs: Tensor) -> Tensor:
        return max_membrane(vs)


@DECODERS.register("first_spike_time")
class FirstSpikeTime(nn.Module):
    """First-spike-time decoder; see :func:`first_spike_time`. ``[T, B, *] -> [B, *]``.

    Smaller is stronger: classify with ``argmin``.

    Args:
        no_spike: Value for elements that never spike; default ``T``.

    Example:
        >>> FirstSpikeTime(no_spike=-1.0)(torch.zeros(10, 4, 3)).unique().tolist()
        [-1.0]
    """

    def __init__(self, no_spike: float | None = None) -> None:
        super().__init__()
        self.no_spike = None if no_spike is None else float(no_spike)

    def forward(self, zs: Tensor) -> Tensor:
        return first_spike_time(zs, no_spike=self.no_spike)

    def extra_repr(self) -> str:
        return f"no_spike={self.no_spike}"
