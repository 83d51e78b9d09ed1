"""The registered surrogate gradients (each: derivative + smooth primitive).

``x`` is the distance to threshold, ``v - v_th``. Scale parameters set the width of the
surrogate; larger values give a sharper (narrower) derivative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from .._registry import Registry
from ._base import Surrogate

__all__ = [
    "SURROGATES", "StraightThrough", "Sigmoid", "ATan", "FastSigmoid", "Triangle", "Rectangle",
    "Erf", "PiecewiseQuadratic", "QPseudoSpike", "Custom", "get_surrogate",
]

SURROGATES: Registry[type[Surrogate]] = Registry("surrogate")


@SURROGATES.register("straight_through")
@dataclass(frozen=True)
class StraightThrough(Surrogate):
    r"""Straight-through estimator: :math:`\partial z/\partial x = 1` (Bengio et al., 2013)."""

    def grad(self, x: Tensor) -> Tensor:
        return torch.ones_like(x)

    def primitive(self, x: Tensor) -> Tensor:
        return x + 0.5


@SURROGATES.register("sigmoid")
@dataclass(frozen=True)
class Sigmoid(Surrogate):
    r""":math:`\sigma(\alpha x)`; derivative :math:`\alpha\,\sigma(\alpha x)(1-\sigma(\alpha x))`."""

    alpha: float = 4.0

    def grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.alpha * x)
        return self.alpha * s * (1 - s)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.alpha * x)


@SURROGATES.register("atan")
@dataclass(frozen=True)
class ATan(Surrogate):
    r"""Arctan (Fang et al., ICCV 2021): :math:`\tfrac{1}{\pi}\arctan(\tfrac{\pi}{2}\alpha x) + \tfrac12`;
    derivative :math:`\tfrac{\alpha}{2}/(1 + (\tfrac{\pi}{2}\alpha x)^2)`."""

    alpha: float = 2.0

    def grad(self, x: Tensor) -> Tensor:
        return self.alpha / 2 / (1 + (math.pi / 2 * self.alpha * x) ** 2)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.atan(math.pi / 2 * self.alpha * x) / math.pi + 0.5


@SURROGATES.register("fast_sigmoid")
@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    r"""SuperSpike (Zenke & Ganguli, 2018): derivative :math:`1/(1 + k|x|)^2`;
    primitive :math:`\tfrac12 + x/(1 + k|x|)`."""

    slope: float = 25.0

    def grad(self, x: Tensor) -> Tensor:
        return 1.0 / (1.0 + self.slope * x.abs()) ** 2

    def primitive(self, x: Tensor) -> Tensor:
        # d/dx [x / (1 + k|x|)] = 1 / (1 + k|x|)^2 (range 0.5 ± 1/k, not 0..1).
        return 0.5 + x / (1.0 + self.slope * x.abs())


@SURROGATES.register("triangle")
@dataclass(frozen=True)
class Triangle(Surrogate):
    r"""Triangle (Esser et al., 2016): derivative :math:`\max(0, 1 - |x|/w)/w`."""

    width: float = 1.0

    def grad(self, x: Tensor) -> Tensor:
        return (1 - x.abs() / self.width).clamp_min(0) / self.width

    def primitive(self, x: Tensor) -> Tensor:
        u = (x / self.width).clamp(-1, 1)
        return 0.5 + u - u * u.abs() / 2


@SURROGATES.register("rectangle")
@dataclass(frozen=True)
class Rectangle(Surrogate):
    r"""Rectangle / boxcar (Wu et al., 2018): derivative :math:`\mathbb{1}[|x| < w/2] / w`."""

    width: float = 1.0

    def grad(self, x: Tensor) -> Tensor:
        return (x.abs() < self.width / 2).to(x.dtype) / self.width

    def primitive(self, x: Tensor) -> Tensor:
        return (x / self.width + 0.5).clamp(0, 1)


@SURROGATES.register("erf")
@dataclass(frozen=True)
class Erf(Surrogate):
    r"""Gaussian derivative :math:`\mathcal{N}(x; 0, \sigma^2)`; primitive
    :math:`\tfrac12(1 + \mathrm{erf}(x / (\sigma\sqrt2)))`."""

    sigma: float = 0.5

    def grad(self, x: Tensor) -> Tensor:
        return torch.exp(-0.5 * (x / self.sigma) ** 2) / (self.sigma * math.sqrt(2 * math.pi))

    def primitive(self, x: Tensor) -> Tensor:
        return 0.5 * (1 + torch.erf(x / (self.sigma * math.sqrt(2))))


@SURROGATES.register("piecewise_quadratic")
@dataclass(frozen=True)
class PiecewiseQuadratic(Surrogate):
    r"""Piecewise quadratic (Esser et al.; SpikingJelly's ``PiecewiseQuadratic``):
    derivative :math:`\max(0, \alpha - \alpha^2|x|)`, zero for :math:`|x| > 1/\alpha`."""

    alpha: float = 1.0

    def grad(self, x: Tensor) -> Tensor:
        return (self.alpha - self.alpha**2 * x.abs()).clamp_min(0)

    def primitive(self, x: Tensor) -> Tensor:
        u = (self.alpha * x).clamp(-1, 1)
        return 0.5 + u - u * u.abs() / 2


@SURROGATES.register("q_pseudo_spike")
@dataclass(frozen=True)
class QPseudoSpike(Surrogate):
    r"""q-PseudoSpike (Herranz-Celotti & Rouat, arXiv 2202.00282): derivative
    :math:`(1 + 2|x|/(q-1))^{-q}`, a heavy-tailed bump of peak 1 and unit area for every :math:`q > 1`.

    Primitive :math:`\tfrac12(1 + 2|x|/(q-1))^{1-q}` for :math:`x < 0` and one minus that for
    :math:`x \ge 0`. Small ``q`` gives fat (power-law) tails; :math:`q \to \infty` tends to
    :math:`e^{-2|x|}`; ``q = 2`` is SuperSpike's :math:`1/(1 + 2|x|)^2`.
    """

    q: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.q > 1:
            raise ValueError(f"QPseudoSpike.q must be > 1 (the tail integral diverges otherwise), got {self.q!r}")

    def grad(self, x: Tensor) -> Tensor:
        return (1 + 2 * x.abs() / (self.q - 1)) ** (-self.q)

    def primitive(self, x: Tensor) -> Tensor:
        half_tail = 0.5 * (1 + 2 * x.abs() / (self.q - 1)) ** (1 - self.q)  # mass beyond |x| on one side
        return torch.where(x < 0, half_tail, 1 - half_tail)


@SURROGATES.register("custom")
@dataclass(frozen=True)
class Custom(Surrogate):
    """A user-supplied derivative (and optionally primitive).

    ``grad_fn`` must be a picklable (module-level) function for the surrogate to pickle.

    Example:
        >>> sg = Custom(grad_fn=lambda x: torch.exp(-x.abs()))
    """

    grad_fn: Callable[[Tensor], Tensor] = field(default=lambda x: torch.ones_like(x))
    primitive_fn: Callable[[Tensor], Tensor] | None = None

    def __post_init__(self) -> None:
        if not callable(self.grad_fn):
            raise TypeError(f"Custom.grad_fn must be callable, got {type(self.grad_fn).__name__}")

    def grad(self, x: Tensor) -> Tensor:
        return self.grad_fn(x)

    def primitive(self, x: Tensor) -> Tensor:
        if self.primitive_fn is None:
            raise ValueError("Custom surrogate has no primitive_fn; pass one to plot or use ANN mode")
        return self.primitive_fn(x)


def get_surrogate(spec: str | Surrogate) -> Surrogate:
    """Resolve a surrogate given by registry name (default parameters) or instance."""
    if isinstance(spec, Surrogate):
        return spec
    if isinstance(spec, str):
        return SURROGATES.create(spec)
    raise TypeError(f"surrogate must be a name or a Surrogate instance, got {type(spec).__name__}")
