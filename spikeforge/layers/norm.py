"""Batch normalisation for spiking sequences: threshold-dependent (tdBN) and per-time-step (BNTT)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite

__all__ = ["td_batch_norm", "TDBatchNorm", "BNTT"]


def td_batch_norm(
    xs: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    *,
    training: bool,
    alpha: float = 1.0,
    v_th: float = 1.0,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    r"""Threshold-dependent batch norm (Zheng et al., AAAI 2021).

    Statistics are taken per channel over time, batch and space together:

    .. math:: y = \lambda_c\,\frac{\alpha V_{th}\,(x - \mu_c)}{\sqrt{\sigma_c^2 + \epsilon}} + \beta_c,
              \quad \mu_c, \sigma_c^2 \text{ over } (T, B, *S)

    In training the batch statistics are used (biased variance) and ``running_mean`` /
    ``running_var`` are updated in place with ``momentum`` (unbiased variance), as in
    :func:`torch.nn.functional.batch_norm`; in evaluation the running statistics are used.

    Args:
        xs: Input sequence; channels on dim 2.
        weight, bias: Per-channel :math:`\lambda`, :math:`\beta` (``[C]``) or ``None`` for 1 / 0.
        running_mean, running_var: ``[C]`` buffers or ``None`` (then batch stats are always used).
        training: Use and update batch statistics.
        alpha, v_th: Scale of the normalised value, :math:`\alpha V_{th}`.

    Shapes:
        ``xs [T, B, C, *S] -> [T, B, C, *S]``

    Example:
        >>> y = td_batch_norm(torch.randn(4, 8, 3, 5, 5), None, None, None, None, training=True)
    """
    check_sequence(xs)
    if xs.dim() < 3:
        raise ValueError(f"td_batch_norm: expected [T, B, C, *S] (at least 3 dims), got shape {tuple(xs.shape)}")
    C = xs.shape[2]
    scale = alpha * v_th
    w = torch.full((C,), scale, dtype=xs.dtype, device=xs.device) if weight is None else weight * scale
    T, B = xs.shape[:2]
    ys = F.batch_norm(
        xs.flatten(0, 1),  # [T, B, C, *S] -> [T*B, C, *S]
        running_mean, running_var, w, bias,
        training=training or running_mean is None, momentum=momentum, eps=eps,
    )
    return ys.unflatten(0, (T, B))  # [T*B, C, *S] -> [T, B, C, *S]


class _SeqBatchNorm(nn.Module):
    """Shared parameter/buffer set-up for the two sequence batch norms."""

    running_mean: Tensor | None  # buffers when track_running_stats
    running_var: Tensor | None

    def __init__(self, shape: tuple[int, ...], *, eps: float, momentum: float, affine: bool,
                 track_running_stats: bool, device: torch.device | str | None,
                 dtype: torch.dtype | None) -> None:
        super().__init__()
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in shape):
            raise ValueError(f"{type(self).__name__}: sizes must be positive ints, got {shape}")
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"{type(self).__name__}: eps must be > 0, got {eps!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1], got {momentum!r}")
        factory: dict[str, Any] = {"device": device, "dtype": dtype}
        self.eps, self.momentum = float(eps), float(momentum)
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        self.weight = nn.Parameter(torch.ones(shape, **factory)) if affine else None
        self.bias = nn.Parameter(torch.zeros(shape, **factory)) if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(shape, **factory))
            self.register_buffer("running_var", torch.ones(shape, **factory))
        else:
            self.running_mean = None
            self.running_var = None

    def reset_running_stats(self) -> None:
        """Running mean to 0 and running variance to 1."""
        if self.running_mean is not None and self.running_var is not None:
            self.running_mean.zero_()
            self.running_var.fill_(1.0)


class TDBatchNorm(_SeqBatchNorm):
    r"""Threshold-dependent batch norm (tdBN) over time, batch and space; see :func:`td_batch_norm`.

    Args:
        num_features: Channels ``C`` (dim 2 of the input).
        alpha: Scale factor :math:`\alpha` (1 for most layers; :math:`1/\sqrt{2}` before a
            residual addition in the tdBN paper).
        v_th: Threshold :math:`V_{th}` of the neurons that follow.
        eps, momentum, affine, track_running_stats: As in :class:`torch.nn.BatchNorm2d`.

    Shapes:
        ``[T, B, C, *S] -> [T, B, C, *S]`` (any number of spatial dims, including none).

    Example:
        >>> bn = TDBatchNorm(16, v_th=0.5)
        >>> bn(torch.randn(4, 8, 16, 10, 10)).shape
        torch.Size([4, 8, 16, 10, 10])
    """

    def __init__(self, num_features: int, *, alpha: float = 1.0, v_th: float = 1.0, eps: float = 1e-5,
                 momentum: float = 0.1, affine: bool = True, track_running_stats: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__((num_features,), eps=eps, momentum=momentum, affine=affine,
                         track_running_stats=track_running_stats, device=device, dtype=dtype)
        self.num_features = num_features
        self.alpha, self.v_th = float(alpha), float(v_th)

    def forward(self, xs: Tensor) -> Tensor:
        _check_channels(xs, self.num_features, type(self).__name__)
        return td_batch_norm(xs, self.weight, self.bias, self.running_mean, self.running_var,
                             training=self.training, alpha=self.alpha, v_th=self.v_th,
                             momentum=self.momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, alpha={self.alpha:g}, v_th={self.v_th:g}, eps={self.eps:g}"


class BNTT(_SeqBatchNorm):
    r"""Batch norm through time (Kim & Panda, 2021): separate statistics and affine per step.

    .. math:: y_t = \gamma_{t,c}\,\frac{x_t - \mu_{t,c}}{\sqrt{\sigma_{t,c}^2 + \epsilon}} + \beta_{t,c},
              \quad \mu_{t,c}, \sigma_{t,c}^2 \text{ over } (B, *S) \text{ at step } t

    Because the parameters are indexed by absolute step, the input must have exactly ``steps``
    steps (streaming chunk by chunk is not supported).

    Args:
        num_features: Channels ``C`` (dim 2 of the input).
        steps: Number of time steps ``T``.
        eps, momentum, affine, track_running_stats: As in :class:`torch.nn.BatchNorm2d`.

    Shapes:
        ``[T, B, C, *S] -> [T, B, C, *S]``; parameters and buffers ``[T, C]``.

    Example:
        >>> bn = BNTT(16, steps=4)
        >>> bn(torch.randn(4, 8, 16, 10, 10)).shape
        torch.Size([4, 8, 16, 10, 10])
    """

    def __init__(self, num_features: int, steps: int, *, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__((steps, num_features), eps=eps, momentum=momentum, affine=affine,
                         track_running_stats=track_running_stats, device=device, dtype=dtype)
        self.num_features, self.steps = num_features, steps

    def forward(self, xs: Tensor) -> Tensor:
        _check_channels(xs, self.num_features, type(self).__name__)
        T, B = xs.shape[:2]
        if T != self.steps:
            raise ValueError(f"BNTT: built for steps={self.steps} time steps, got T={T} (shape {tuple(xs.shape)})")
        # Treat each (t, c) pair as its own channel: stats over (B, *S) per step and channel.
        folded = xs.transpose(0, 1).flatten(1, 2)  # [T, B, C, *S] -> [B, T, C, *S] -> [B, T*C, *S]
        flat = [None if t is None else t.view(-1) for t in
                (self.running_mean, self.running_var, self.weight, self.bias)]  # [T, C] -> [T*C]
        ys = F.batch_norm(folded, flat[0], flat[1], flat[2], flat[3],
                          training=self.training or self.running_mean is None,
                          momentum=self.momentum, eps=self.eps)
        return ys.unflatten(1, (T, self.num_features)).transpose(0, 1)  # [B, T*C, *S] -> [T, B, C, *S]

    def extra_repr(self) -> str:
        return f"{self.num_features}, steps={self.steps}, eps={self.eps:g}"


def _check_channels(xs: Tensor, c: int, who: str) -> None:
    check_sequence(xs, who)
    if xs.dim() < 3 or xs.shape[2] != c:
        raise ValueError(f"{who}: expected input [T, B, C={c}, *S], got shape {tuple(xs.shape)}")
    check_finite(xs, who)
