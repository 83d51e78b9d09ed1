"""Weight constraints applied after a plasticity update (in place, under ``torch.no_grad``)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["apply_dale_", "clamp_", "dale_signs", "normalize_incoming_"]


@torch.no_grad()
def clamp_(w: Tensor, w_min: float | None = None, w_max: float | None = None) -> Tensor:
    """Hard bounds ``w_min <= w <= w_max`` (either may be ``None``), in place."""
    if w_min is not None and w_max is not None and w_max < w_min:
        raise ValueError(f"clamp_: w_max ({w_max}) must be >= w_min ({w_min})")
    return w.clamp_(min=w_min, max=w_max)


def dale_signs(n_exc: int, n_inh: int, *, dtype: torch.dtype | None = None) -> Tensor:
    """Sign per presynaptic neuron for Dale's law: ``+1`` for the first ``n_exc``, ``-1`` for the next ``n_inh``.

    Example:
        >>> dale_signs(3, 1)
        tensor([ 1.,  1.,  1., -1.])
    """
    if n_exc < 0 or n_inh < 0:
        raise ValueError(f"dale_signs: population sizes must be >= 0, got n_exc={n_exc}, n_inh={n_inh}")
    return torch.cat([torch.ones(n_exc, dtype=dtype), -torch.ones(n_inh, dtype=dtype)])


@torch.no_grad()
def apply_dale_(w: Tensor, signs: Tensor) -> Tensor:
    """Keep every presynaptic neuron's outgoing weights (a column of ``w [N_out, N_in]``) on its sign side.

    Excitatory columns (``signs > 0``) are clamped to ``>= 0``, inhibitory ones (``signs < 0``) to ``<= 0``.
    """
    if signs.shape != (w.shape[1],):
        raise ValueError(f"apply_dale_: signs of shape {tuple(signs.shape)} must have one entry per "
                         f"presynaptic neuron ({w.shape[1]})")
    exc = (signs > 0).to(w.device)
    inh = (signs < 0).to(w.device)
    w[:, exc] = w[:, exc].clamp(min=0)
    w[:, inh] = w[:, inh].clamp(max=0)
    return w


@torch.no_grad()
def normalize_incoming_(w: Tensor, total: float) -> Tensor:
    """Rescale each postsynaptic neuron's incoming weights (a row of ``w [N_out, N_in]``) to sum to ``total``.

    Diehl & Cook 2015 normalise every excitatory neuron's input weights to 78 before each example.
    Rows that sum to 0 are left unchanged.
    """
    s = w.sum(1, keepdim=True)  # [N_out, 1]
    scale = torch.where(s != 0, total / torch.where(s != 0, s, torch.ones_like(s)), torch.ones_like(s))
    return w.mul_(scale)
