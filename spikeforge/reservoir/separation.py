r"""Kernel quality, generalisation rank and the separation property (Legenstein & Maass 2007; Maass et al. 2002).

- :func:`kernel_quality` — rank of the ``[m, N]`` state matrix a reservoir produces for ``m`` *different* input
  streams (run as one batch; each stream's state is ``state_fn(spikes [T, m, N]) -> [m, N]``, by default the spike
  count). High = the reservoir separates its inputs; ≤ min(m, N).
- :func:`generalization_rank` — the same rank for ``m`` noisy variants of *one* stream. Low = it generalises;
  good reservoirs have a large kernel quality − generalisation rank (NALSM reports SP − AP, reference §3.2).
- :func:`separation` — state distance vs time for pairs of runs: :math:`d(t) = \frac{1}{BN}\sum_{b,i}
  (s^u_{b,i}(t) - s^v_{b,i}(t))^2`, per pair or averaged (``tools/maass_separation.py``).
- :func:`spike_distance` — the input distance of Maass 2002 Fig. 2 (as Brian2's reproduction computes it):
  :math:`\int(\sum_i g(t-a_i) - \sum_j g(t-b_j))^2 dt` with :math:`g(t) = e^{-(t/\tau)^2}`, in closed form
  :math:`\sum K(a_i - a_{i'}) + \sum K(b_j - b_{j'}) - 2\sum K(a_i - b_j)`,
  :math:`K(\Delta) = \tau\sqrt{\pi/2}\,e^{-\Delta^2/(2\tau^2)}`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .metrics import state_rank

__all__ = ["generalization_rank", "kernel_quality", "separation", "spike_distance"]

Reservoir = Callable[[Tensor], Tensor]


def _count(z: Tensor) -> Tensor:
    return z.sum(0)  # [T, m, N] -> [m, N]


def kernel_quality(reservoir: Reservoir, inputs: Tensor, *, state_fn: Callable[[Tensor], Tensor] = _count,
                   tol: float | None = None) -> int:
    """Rank of the states of ``m`` input streams ``inputs [T, m, n_in]`` (``reservoir: [T, m, n_in] -> [T, m, N]``)."""
    if inputs.ndim != 3:
        raise ValueError(f"kernel_quality: need inputs [T, m, n_in], got shape {tuple(inputs.shape)}")
    states = state_fn(reservoir(inputs))
    if states.ndim != 2 or states.shape[0] != inputs.shape[1]:
        raise ValueError(f"kernel_quality: state_fn must give [m={inputs.shape[1]}, N], got {tuple(states.shape)}")
    return state_rank(states, tol)


def generalization_rank(reservoir: Reservoir, u: Tensor, m: int, noise: float | Callable[[Tensor], Tensor], *,
                        generator: torch.Generator | None = None, state_fn: Callable[[Tensor], Tensor] = _count,
                        tol: float | None = None) -> int:
    """Rank of the states of ``m`` noisy variants of one stream ``u [T, n_in]``.

    ``noise``: a float = probability of flipping each entry of a binary (spike) ``u``; or a callable mapping the
    ``[T, m, n_in]`` stack of copies to its noisy version (e.g. additive Gaussian noise for a rate input).
    """
    if u.ndim != 2 or m < 1:
        raise ValueError(f"generalization_rank: need u [T, n_in] and m >= 1, got {tuple(u.shape)}, m={m}")
    copies = u[:, None, :].expand(u.shape[0], m, u.shape[1]).clone()  # [T, m, n_in]
    if callable(noise):
        noisy = noise(copies)
    else:
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"generalization_rank: flip probability must be in [0, 1], got {noise}")
        if not bool(((u == 0) | (u == 1)).all()):
            raise ValueError("generalization_rank: a float noise flips spikes, so u must be binary (0/1)")
        flip = torch.rand(copies.shape, generator=generator, dtype=torch.float64) < noise
        noisy = torch.where(flip.to(copies.device), 1 - copies, copies)
    return kernel_quality(reservoir, noisy, state_fn=state_fn, tol=tol)


def separation(states_u: Tensor, states_v: Tensor, *, mean: bool = True) -> Tensor:
    """State distance of paired runs ``[T, B, N]``: ``[T]`` averaged over pairs (or ``[T, B]`` with ``mean=False``)."""
    if states_u.shape != states_v.shape or states_u.ndim != 3:
        raise ValueError(f"separation: need two [T, B, N] state tensors of one shape, got {tuple(states_u.shape)} "
                         f"and {tuple(states_v.shape)}")
    d = ((states_u.to(torch.float64) - states_v.to(torch.float64)) ** 2).mean(-1)  # [T, B]
    return d.mean(-1) if mean else d


def spike_distance(a: Tensor, b: Tensor, tau: float = 5.0) -> float:
    """Closed-form Gaussian-filtered L2² distance of spike times ``a [n_a]``, ``b [n_b]`` (same unit as ``tau``)."""
    if a.ndim != 1 or b.ndim != 1 or tau <= 0:
        raise ValueError(f"spike_distance: need 1-D spike-time tensors and tau > 0, got {tuple(a.shape)}, "
                         f"{tuple(b.shape)}, tau={tau}")
    a64, b64 = a.to(torch.float64), b.to(torch.float64)

    def k(x: Tensor, y: Tensor) -> float:
        d = x[:, None] - y[None, :]  # [n_x, n_y]
        return float((tau * math.sqrt(math.pi / 2) * torch.exp(-(d**2) / (2 * tau**2))).sum())
    return k(a64, a64) + k(b64, b64) - 2 * k(a64, b64)
