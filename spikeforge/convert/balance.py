r"""Threshold balancing: per-layer (or per-channel) activation scales ``λ`` from calibration data.

Each method maps the post-ReLU activations ``a`` of one layer on the calibration set,
``[N, C, *S]`` (or ``[N, C]``), to ``λ`` (shape ``[]`` layer-wise, ``[C]`` channel-wise):

- ``max``: :math:`\lambda = \max a` (data-based max-norm; Diehl et al. 2015).
- ``robust``: :math:`\lambda` = the ``percentile``-th percentile of ``a`` (99.9 by default;
  Rueckauer et al. 2017), which clips rare outliers so rates are higher at a given ``T``.
- ``qcfs``: every activation must be a :class:`~spikeforge.convert.QCFS`, whose trained ``λ`` is
  used; a ReLU raises.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .._registry import Registry
from ._graph import ConversionError

__all__ = ["CONVERTERS", "percentile"]

StatFn = Callable[[Tensor, bool, float, str], Tensor]
CONVERTERS: Registry[StatFn] = Registry("conversion method")
"""Threshold-balancing methods for :func:`~spikeforge.convert.convert` (``method=``)."""


def _per_channel(a: Tensor, channelwise: bool) -> Tensor:
    """``a [N, C, *S]`` as rows to reduce: ``[1, N*C*S]`` layer-wise or ``[C, N*S]`` channel-wise."""
    if not channelwise:
        return a.reshape(1, -1)  # [N, C, *S] -> [1, N*C*S]
    return a.transpose(0, 1).reshape(a.shape[1], -1)  # [N, C, *S] -> [C, N*S]


def percentile(rows: Tensor, p: float) -> Tensor:
    """The ``p``-th percentile of each row (linear interpolation, as ``numpy.percentile``).

    Unlike ``torch.quantile`` it has no size limit. ``rows``: ``[R, M]`` → ``[R]``.
    """
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {p!r}")
    s = rows.sort(dim=1).values
    pos = p / 100.0 * (s.shape[1] - 1)
    lo = int(pos)
    hi = min(lo + 1, s.shape[1] - 1)
    return s[:, lo] + (pos - lo) * (s[:, hi] - s[:, lo])


@CONVERTERS.register("max")
def max_norm(a: Tensor, channelwise: bool, p: float, name: str) -> Tensor:
    """Largest activation (per layer or per channel)."""
    r = _per_channel(a, channelwise).amax(dim=1)
    return r if channelwise else r[0]


@CONVERTERS.register("robust")
def robust_norm(a: Tensor, channelwise: bool, p: float, name: str) -> Tensor:
    """``p``-th percentile of the activations (per layer or per channel)."""
    r = percentile(_per_channel(a, channelwise), p)
    return r if channelwise else r[0]


@CONVERTERS.register("qcfs")
def qcfs_only(a: Tensor, channelwise: bool, p: float, name: str) -> Tensor:
    """No calibration: thresholds are the QCFS layers' ``λ``; called only for a ReLU, so it raises."""
    raise ConversionError(f"method='qcfs' needs every activation to be a QCFS layer, but layer {name!r} is a "
                          "ReLU; train with QCFS or use method='max' / 'robust'")


def safe_scale(lam: Tensor) -> Tensor:
    """``λ`` with silent (``λ <= 0``) layers/channels set to 1, so nothing is divided by zero."""
    return torch.where(lam > 0, lam, torch.ones_like(lam))
