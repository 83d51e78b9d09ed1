"""Rate coding: the intensity of a value sets how often its neuron spikes."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..numerics import check_finite_enabled
from ._base import ENCODERS, check_static, check_steps, check_unit_interval

__all__ = ["bernoulli_encode", "poisson_encode", "BernoulliEncoder", "PoissonEncoder"]


def bernoulli_encode(x: Tensor, steps: int, *, generator: torch.Generator | None = None) -> Tensor:
    r"""Independent Bernoulli spikes at every step with probability ``x``.

    .. math:: z_{t} \sim \mathrm{Bernoulli}(x) \text{ i.i.d. over } t,
              \quad \mathbb{E}[\textstyle\sum_t z_t] = T x,\ \mathrm{Var} = T x (1 - x)

    Args:
        x: Spike probability per step, in ``[0, 1]``.
        steps: Number of time steps ``T`` (>= 1).
        generator: Random source; the output is a function of its seed.

    Shapes:
        ``x [B, *F] -> z [T, B, *F]`` (0/1, dtype of ``x``, no gradient).

    Example:
        >>> zs = bernoulli_encode(torch.full((2, 3), 0.5), 100)   # [100, 2, 3], ~50 spikes each
    """
    steps = check_steps(steps)
    check_unit_interval(check_static(x, "bernoulli_encode"), "bernoulli_encode")
    u = torch.rand((steps, *x.shape), generator=generator, dtype=x.dtype, device=x.device)  # [T, B, *F]
    return (u < x.detach()).to(x.dtype)


def poisson_encode(x: Tensor, steps: int, *, generator: torch.Generator | None = None) -> Tensor:
    r"""Poisson spike counts, at most one spike per step, placed at uniformly random steps.

    Each element first draws its spike count from a Poisson distribution with mean ``T x``,
    capped at ``T`` (a step holds at most one spike); the spikes then go to a uniformly random
    subset of that many distinct steps:

    .. math:: n \sim \min(\mathrm{Poisson}(T x),\, T), \qquad
              \{t : z_t = 1\} \sim \mathrm{Uniform}\{S \subseteq \{0..T-1\} : |S| = n\}

    Unlike :func:`bernoulli_encode` (binomial count, variance ``T x (1 - x)``), the count is
    Poisson: mean and variance both equal ``T x`` (until the cap matters, for ``T x`` near ``T``).

    Args:
        x: Mean spikes per step, in ``[0, 1]``.
        steps: Number of time steps ``T`` (>= 1).
        generator: Random source; the output is a function of its seed.

    Shapes:
        ``x [B, *F] -> z [T, B, *F]`` (0/1, dtype of ``x``, no gradient).

    Example:
        >>> zs = poisson_encode(torch.full((2, 3), 0.2), 50)   # [50, 2, 3], ~10 spikes each
    """
    steps = check_steps(steps)
    check_unit_interval(check_static(x, "poisson_encode"), "poisson_encode")
    rate = (x.detach() * steps).to(torch.float64 if x.dtype == torch.float64 else torch.float32)
    if not check_finite_enabled():  # NaN let through on purpose: no spikes there, like Bernoulli's u < NaN
        rate = rate.nan_to_num(nan=0.0)
    counts = torch.poisson(rate, generator=generator).clamp_(max=steps)  # [B, *F]
    u = torch.rand((steps, *x.shape), generator=generator, dtype=rate.dtype, device=x.device)  # [T, B, *F]
    rank = u.argsort(dim=0).argsort(dim=0)  # [T, B, *F]: a uniform random permutation of 0..T-1
    return (rank < counts).to(x.dtype)


@ENCODERS.register("bernoulli", input="static")
class BernoulliEncoder(nn.Module):
    """Rate encoder with i.i.d. Bernoulli spikes; see :func:`bernoulli_encode`.

    Shapes:
        ``forward(x [B, *F], generator=None) -> [T, B, *F]``

    Example:
        >>> enc = BernoulliEncoder(steps=20)
        >>> enc(torch.rand(4, 64), generator=torch.Generator().manual_seed(0)).shape
        torch.Size([20, 4, 64])
    """

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = check_steps(steps)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return bernoulli_encode(x, self.steps, generator=generator)

    def extra_repr(self) -> str:
        return f"steps={self.steps}"


@ENCODERS.register("poisson", input="static")
class PoissonEncoder(nn.Module):
    """Rate encoder with Poisson spike counts (one spike per step at most); see :func:`poisson_encode`.

    Shapes:
        ``forward(x [B, *F], generator=None) -> [T, B, *F]``

    Example:
        >>> PoissonEncoder(steps=20)(torch.rand(4, 64)).shape
        torch.Size([20, 4, 64])
    """

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = check_steps(steps)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return poisson_encode(x, self.steps, generator=generator)

    def extra_repr(self) -> str:
        return f"steps={self.steps}"
