"""Delta activation layer: transmit only changes of an activation larger than a threshold Θ."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite

__all__ = ["DeltaActivation", "delta_activation", "delta_accumulate"]


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"delta threshold must be a number, got {type(threshold).__name__}")
    threshold = float(threshold)
    if not (math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"delta threshold must be finite and >= 0, got {threshold!r}")
    return threshold


def delta_activation(xs: Tensor, threshold: float = 0.0, x_hat: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""Delta encoding of a sequence (Neil et al. 2017; Yousefzadeh & Sifalakis, arXiv 2107.07305).

    Per element, keep the last transmitted value :math:`\hat x` (0 before the first step):

    .. math::
        \Delta_t = x_t - \hat x_{t-1},\qquad
        \tilde\Delta_t = \Delta_t\,[|\Delta_t| > \Theta],\qquad
        \hat x_t = \hat x_{t-1} + \tilde\Delta_t

    so :math:`|x_t - \hat x_t| \le \Theta`, and with :math:`\Theta = 0` every change is sent and
    :math:`\hat x_t = x_t`. A following linear layer accumulates :math:`W\hat x_t = W\hat x_{t-1} +
    W\tilde\Delta_t` (:func:`delta_accumulate`), touching only the nonzero deltas.

    Args:
        xs: Activations ``[T, B, *]``.
        threshold: :math:`\Theta \ge 0`.
        x_hat: Last transmitted values ``[B, *]`` to continue a sequence (``None``: zeros).

    Returns:
        ``(deltas [T, B, *], x_hat [B, *])``: the transmitted deltas and the final :math:`\hat x`.

    Example:
        >>> d, _ = delta_activation(torch.tensor([[1.0], [1.05], [2.0]])[:, :, None], 0.1)
        >>> d.flatten().tolist()
        [1.0, 0.0, 1.0]
    """
    check_sequence(xs, "delta_activation")
    check_finite(xs, "delta_activation")
    theta = _check_threshold(threshold)
    if x_hat is None:
        x_hat = torch.zeros_like(xs[0])
    elif not isinstance(x_hat, Tensor) or x_hat.shape != xs.shape[1:]:
        raise ValueError(f"delta_activation: x_hat must be a tensor of shape {tuple(xs.shape[1:])} ([B, *]), "
                         f"got {tuple(x_hat.shape) if isinstance(x_hat, Tensor) else type(x_hat).__name__}")
    deltas = []
    for x in xs:  # x: [B, *]
        d = x - x_hat
        send = d.abs() > theta
        d = torch.where(send, d, torch.zeros_like(d))
        x_hat = torch.where(send, x, x_hat)  # exactly x where sent (no rounding from x_hat + d)
        deltas.append(d)
    return torch.stack(deltas), x_hat  # [T, B, *], [B, *]


def delta_accumulate(deltas: Tensor, layer: Callable[[Tensor], Tensor], bias: Tensor | None = None) -> Tensor:
    r"""Outputs of a linear ``layer`` (no bias) driven by deltas: :math:`M_t = M_{t-1} + W\tilde\Delta_t`,
    :math:`M_{-1} = b`. Equals ``layer`` applied to :math:`\hat x_t` up to rounding.

    Shapes:
        deltas: ``[T, B, *]``; returns ``[T, B, *out]``.
    """
    check_sequence(deltas, "delta_accumulate")
    m = None
    out = []
    for d in deltas:  # d: [B, *]
        step = layer(d)
        m = step + (bias if bias is not None else 0) if m is None else m + step
        out.append(m)
    return torch.stack(out)


class DeltaActivation(nn.Module):
    """Delta activation layer; see :func:`delta_activation`. Each call starts from x̂ = 0.

    Shapes:
        ``forward(xs [T, B, *]) -> deltas [T, B, *]``

    Example:
        >>> layer = DeltaActivation(threshold=0.1)
        >>> d = layer(torch.rand(10, 2, 8))
    """

    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__()
        self.threshold = _check_threshold(threshold)

    def forward(self, xs: Tensor) -> Tensor:
        return delta_activation(xs, self.threshold)[0]

    def extra_repr(self) -> str:
        return f"threshold={self.threshold:g}"
