"""Registries and input checks shared by every encoder and decoder."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .._registry import Registry
from ..numerics import check_finite

__all__ = ["ENCODERS", "DECODERS", "check_finite_param", "check_steps", "check_static", "check_unit_interval"]

ENCODERS: Registry[type[nn.Module]] = Registry("encoder")
"""Encoder modules; each constructs with ``ENCODERS.create(name, steps=T)``.

Metadata ``input="static"`` (``x [B, *F] -> [T, B, ...]``) or ``input="signal"``
(``xs [T, B, C, *S] -> [T, B, ...]``) tells callers which kind of data an encoder takes.
"""

DECODERS: Registry[type[nn.Module]] = Registry("decoder")
"""Decoder modules ``[T, B, *] -> [B, *]``; each constructs with ``DECODERS.create(name)``."""


def check_steps(steps: Any) -> int:
    """Return ``steps`` as an int, or raise if it is not a positive integer."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise TypeError(f"steps must be a positive int, got {type(steps).__name__} {steps!r}")
    if steps < 1:
        raise ValueError(f"steps must be a positive int (>= 1), got {steps}")
    return steps


def check_finite_param(value: Any, name: str, who: str) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` naming ``name`` if it is NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{who}: {name} must be finite, got {value!r}")
    return value


def check_static(x: Any, who: str) -> Tensor:
    """Validate a static floating-point input ``[B, *F]`` (finite, unless disabled) and return it."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: expected a torch.Tensor of shape [B, *F], got {type(x).__name__}")
    if x.dim() < 1:
        raise ValueError(f"{who}: expected an input of shape [B, *F] (at least 1 dim), got a 0-d tensor")
    if not x.is_floating_point():
        raise TypeError(f"{who}: expected a floating-point input, got dtype {x.dtype}; cast with x.float()")
    check_finite(x, who, time_major=False)
    return x


def check_unit_interval(x: Tensor, who: str) -> Tensor:
    """Raise ``ValueError`` if a value of ``x`` lies outside ``[0, 1]`` (±inf do; NaN is left to the
    non-finite policy, :func:`check_static`)."""
    if x.numel() and not x.is_meta and bool(torch.any((x < 0) | (x > 1))):
        finite = x[torch.isfinite(x)]
        lo, hi = (finite.min().item(), finite.max().item()) if finite.numel() else (float("nan"),) * 2
        raise ValueError(
            f"{who}: intensities must lie in [0, 1], got values in [{lo:g}, {hi:g}]"
            + (" and NaN/inf" if finite.numel() < x.numel() else "")
            + "; rescale the input first"
        )
    return x
