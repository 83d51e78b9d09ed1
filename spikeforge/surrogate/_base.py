"""The spike nonlinearity: Heaviside forward, a surrogate derivative backward.

One autograd function (:class:`SpikeFn`) serves every surrogate. A surrogate is an immutable
dataclass that declares ``grad(x)`` (the derivative used by backward) and ``primitive(x)`` (the
smooth function whose derivative that is, used for plots and as an ANN-mode activation).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["Surrogate", "SpikeFn", "heaviside"]


def heaviside(x: Tensor) -> Tensor:
    """Strict step ``H(x) = 1 if x > 0 else 0`` in the dtype of ``x`` (NIR's ``v > v_th``)."""
    return (x > 0).to(x.dtype)


class SpikeFn(torch.autograd.Function):
    """``z = H(x)`` forward; ``dL/dx = dL/dz * surrogate.grad(x)`` backward."""

    @staticmethod
    def forward(x: Tensor, surrogate: Surrogate) -> Tensor:
        return heaviside(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Surrogate], output: Tensor) -> None:
        x, surrogate = inputs
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None


@dataclass(frozen=True)
class Surrogate:
    """Base class: subclasses define :meth:`grad` and :meth:`primitive`.

    Calling a surrogate on ``x = v - v_th`` gives spikes ``H(x)`` with the surrogate gradient.

    Example:
        >>> from spikeforge.surrogate import ATan
        >>> z = ATan(alpha=2.0)(torch.tensor([-0.1, 0.2], requires_grad=True))
    """

    def grad(self, x: Tensor) -> Tensor:
        """Surrogate derivative ``dz/dx`` used in the backward pass."""
        raise NotImplementedError(f"{type(self).__name__} must define grad()")

    def primitive(self, x: Tensor) -> Tensor:
        """Smooth function whose derivative is :meth:`grad` (0 → 1 as x goes -∞ → +∞)."""
        raise NotImplementedError(f"{type(self).__name__} must define primitive()")

    def __call__(self, x: Tensor) -> Tensor:
        return SpikeFn.apply(x, self)

    def __post_init__(self) -> None:
        """Every numeric parameter (a width or a slope) must be a finite number > 0."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            numeric = isinstance(value, numbers.Real) and not isinstance(value, bool)
            if not numeric and f.type in ("float", "int", float, int):
                raise TypeError(f"{type(self).__name__}.{f.name} must be a number, got {type(value).__name__} "
                                f"{value!r}")
            if numeric and not (math.isfinite(value) and value > 0):
                raise ValueError(f"{type(self).__name__}.{f.name} must be finite and > 0, got {value!r}")
