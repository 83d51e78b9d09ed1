"""PDSG: the potential-dependent surrogate gradient (Lun et al., CVPR 2025, arXiv 2503.03272)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ._base import Surrogate
from .functions import SURROGATES

__all__ = ["PDSG", "membrane_sigma"]


def membrane_sigma(vs: Tensor, channel_dim: int | None = None) -> Tensor:
    """Spread ``σ`` of recorded membrane potentials that sets PDSG's width.

    The population standard deviation (``correction=0``) over every element of ``vs`` (a linear
    layer), or over every dimension but ``channel_dim`` (per channel, e.g. ``channel_dim=2`` for
    ``[T, B, C, H, W]``: over T, B, H, W), computed in float64. Where the spread is 0, ``σ = 1``.

    Shapes:
        vs: ``[T, B, ...]``; returns a scalar, or ``[C]`` with ``channel_dim``.
    """
    if not isinstance(vs, Tensor) or not vs.is_floating_point() or vs.numel() == 0:
        raise ValueError("membrane_sigma: expected a non-empty floating-point tensor of membrane potentials")
    v = vs.detach().to(torch.float64)  # float64: a constant float32 membrane must give exactly 0, not ~1e-8
    if channel_dim is None:
        s = v.std(correction=0)
    else:
        dims = [d for d in range(v.dim()) if d != channel_dim % v.dim()]
        s = v.std(dim=dims, correction=0)
    return torch.where(s > 0, s, torch.ones_like(s)).to(vs.dtype)


@SURROGATES.register("pdsg")
@dataclass(frozen=True)
class PDSG(Surrogate):
    r"""Potential-dependent surrogate gradient: a Gaussian pdf shifted by half its width,
    :math:`\partial s/\partial u \approx \mathcal{N}(x;\ \mu = \sigma/2,\ \sigma^2)` with
    :math:`x = u - \theta`; primitive :math:`\tfrac12\big(1 + \mathrm{erf}((x - \sigma/2)/(\sigma\sqrt2))\big)`.

    It integrates to 1 for any :math:`\sigma` and peaks at :math:`x = \sigma/2`. In the paper
    :math:`\sigma` is the spread of the network's own membrane potentials (:func:`membrane_sigma`;
    ``PDSG.from_membrane(vs)``), which makes the attack surrogate match an unknown victim's.

    Example:
        >>> sg = PDSG.from_membrane(torch.randn(8, 4, 16))
    """

    sigma: float = 1.0

    @property
    def peak(self) -> float:
        """Distance to threshold ``x`` where the derivative is largest: ``σ/2``."""
        return self.sigma / 2

    def grad(self, x: Tensor) -> Tensor:
        z = (x - self.sigma / 2) / self.sigma
        return torch.exp(-0.5 * z * z) / (self.sigma * math.sqrt(2 * math.pi))

    def primitive(self, x: Tensor) -> Tensor:
        return 0.5 * (1 + torch.erf((x - self.sigma / 2) / (self.sigma * math.sqrt(2))))

    @classmethod
    def from_membrane(cls, vs: Tensor) -> PDSG:
        """PDSG whose ``σ`` is the spread of the membrane potentials ``vs`` (all elements, σ = 0 → 1)."""
        return cls(sigma=float(membrane_sigma(vs)))
