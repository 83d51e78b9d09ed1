"""Population coding: each value drives ``n_pop`` neurons with Gaussian receptive fields."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._base import ENCODERS, check_finite_param, check_static, check_steps
from .latency import latency_encode

__all__ = ["gaussian_receptive_fields", "population_encode", "PopulationEncoder"]


def gaussian_receptive_fields(
    x: Tensor, n_pop: int, *, x_min: float = 0.0, x_max: float = 1.0, sigma: float | None = None
) -> Tensor:
    r"""Responses of ``n_pop`` Gaussian receptive fields tiling ``[x_min, x_max]``.

    .. math:: r_j(x) = \exp\!\Big(-\frac{(x - c_j)^2}{2\sigma^2}\Big),\quad
              c_j = x_{min} + j\,\Delta,\quad \Delta = \frac{x_{max} - x_{min}}{n_{pop} - 1}

    Args:
        x: Values (any real; those outside the range respond most in the edge fields).
        n_pop: Neurons per value (>= 2).
        x_min, x_max: Centres of the first and last field (``x_min < x_max``).
        sigma: Field width; default the centre spacing ``Δ``.

    Shapes:
        ``x [B, *F] -> r [B, *F, n_pop]`` with values in ``(0, 1]`` (differentiable in ``x``).

    Example:
        >>> gaussian_receptive_fields(torch.tensor([0.5]), 3).tolist()[0][1]
        1.0
    """
    check_static(x, "gaussian_receptive_fields")
    centres, sigma = _fields(n_pop, x_min, x_max, sigma, x)
    return torch.exp(-((x.unsqueeze(-1) - centres) ** 2) / (2 * sigma**2))  # [B, *F, 1] - [n_pop]


def population_encode(
    x: Tensor,
    steps: int,
    n_pop: int = 8,
    *,
    x_min: float = 0.0,
    x_max: float = 1.0,
    sigma: float | None = None,
    threshold: float = 0.1,
) -> Tensor:
    r"""Population latency code (Bohte et al., 2002): each field fires once, earlier when closer.

    Each receptive-field response :math:`r_j(x)` (see :func:`gaussian_receptive_fields`) is
    latency-coded linearly: one spike at step ``round((T - 1)(1 - r_j))``, so the field centred on
    ``x`` fires at step 0; fields with :math:`r_j < \text{threshold}` stay silent.

    Args:
        x: Values to encode.
        steps: Number of time steps ``T`` (>= 1).
        n_pop: Neurons per value (>= 2).
        x_min, x_max, sigma: Field layout, as in :func:`gaussian_receptive_fields`.
        threshold: Minimum response that produces a spike.

    Shapes:
        ``x [B, *F] -> z [T, B, *F, n_pop]``; use ``z.flatten(2)`` for ``[T, B, F * n_pop]``.

    Example:
        >>> z = population_encode(torch.tensor([[0.5]]), 5, n_pop=3)   # [5, 1, 1, 3]
        >>> z[0, 0, 0].tolist()    # the middle field (centre 0.5) fires first
        [0.0, 1.0, 0.0]
    """
    steps = check_steps(steps)
    check_static(x, "population_encode")
    r = gaussian_receptive_fields(x, n_pop, x_min=x_min, x_max=x_max, sigma=sigma)  # [B, *F, n_pop]
    return latency_encode(r, steps, threshold=threshold)  # [T, B, *F, n_pop]


def _fields(n_pop: int, x_min: float, x_max: float, sigma: float | None, like: Tensor) -> tuple[Tensor, float]:
    """Centres ``[n_pop]`` and width of the receptive fields, validated."""
    if isinstance(n_pop, bool) or not isinstance(n_pop, int) or n_pop < 2:
        raise ValueError(f"n_pop must be an int >= 2, got {n_pop!r}")
    x_min, x_max = float(x_min), float(x_max)
    if not (math.isfinite(x_min) and math.isfinite(x_max) and x_min < x_max):
        raise ValueError(f"need finite x_min < x_max, got x_min={x_min!r}, x_max={x_max!r}")
    spacing = (x_max - x_min) / (n_pop - 1)
    sigma = spacing if sigma is None else float(sigma)
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    centres = torch.linspace(x_min, x_max, n_pop, dtype=like.dtype, device=like.device)  # [n_pop]
    return centres, sigma


@ENCODERS.register("population", input="static")
class PopulationEncoder(nn.Module):
    """Gaussian-receptive-field population encoder; see :func:`population_encode`.

    The output has one extra trailing axis of size ``n_pop``; downstream layers see
    ``F * n_pop`` features after ``flatten(2)``.

    Shapes:
        ``forward(x [B, *F]) -> [T, B, *F, n_pop]``

    Example:
        >>> PopulationEncoder(steps=10, n_pop=5)(torch.rand(4, 64)).shape
        torch.Size([10, 4, 64, 5])
    """

    def __init__(
        self,
        steps: int,
        *,
        n_pop: int = 8,
        x_min: float = 0.0,
        x_max: float = 1.0,
        sigma: float | None = None,
        threshold: float = 0.1,
    ) -> None:
        super().__init__()
        self.steps = check_steps(steps)
        _fields(n_pop, x_min, x_max, sigma, torch.empty(0))  # validate now, not at first call
        self.n_pop, self.x_min, self.x_max = n_pop, float(x_min), float(x_max)
        self.sigma = None if sigma is None else float(sigma)
        self.threshold = check_finite_param(threshold, "threshold", "PopulationEncoder")

    def forward(self, x: Tensor) -> Tensor:
        return population_encode(x, self.steps, self.n_pop, x_min=self.x_min, x_max=self.x_max,
                                 sigma=self.sigma, threshold=self.threshold)

    def extra_repr(self) -> str:
        return (f"steps={self.steps}, n_pop={self.n_pop}, x_min={self.x_min:g}, x_max={self.x_max:g}, "
                f"sigma={self.sigma}, threshold={self.threshold:g}")
