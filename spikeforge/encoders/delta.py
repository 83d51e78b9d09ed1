"""Delta (temporal-contrast) coding of signals: spike when the signal moves by ``threshold``."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..numerics import check_finite
from ._base import ENCODERS, check_steps

__all__ = ["delta_encode", "DeltaEncoder"]


def delta_encode(xs: Tensor, *, threshold: float = 0.1) -> Tensor:
    r"""Send-on-delta coding with ON and OFF channels.

    Each element keeps a reference level ``r``, starting at the first sample ``xs[0]`` (so step 0
    never spikes). At every step

    .. math::
        z^{on}_t = H(x_t - r \ge \theta),\quad z^{off}_t = H(r - x_t \ge \theta),\quad
        r \leftarrow x_t \text{ where } z^{on}_t + z^{off}_t = 1

    i.e. at most one spike per channel and step, and the reference jumps to the current value
    whenever a spike is sent (like a DVS pixel's temporal-contrast event).

    Args:
        xs: Signal, time-major.
        threshold: Change needed to spike (> 0), in the signal's units.

    Shapes:
        ``xs [T, B, C, *S] -> z [T, B, 2C, *S]``: channels ``[:C]`` are ON (increase) spikes,
        ``[C:]`` OFF (decrease) spikes.

    Example:
        >>> xs = torch.tensor([0.0, 0.5, 1.2, 1.0, 0.4]).view(5, 1, 1)
        >>> delta_encode(xs, threshold=0.5)[:, 0].tolist()
        [[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0]]
    """
    if not isinstance(xs, Tensor):
        raise TypeError(f"delta_encode: expected a torch.Tensor [T, B, C, *S], got {type(xs).__name__}")
    if xs.dim() < 3:
        raise ValueError(
            f"delta_encode: expected a time-major signal [T, B, C, *S] (at least 3 dims), "
            f"got shape {tuple(xs.shape)}"
        )
    if xs.shape[0] == 0:
        raise ValueError(f"delta_encode: got an empty signal (T = 0 time steps, shape {tuple(xs.shape)}); need T >= 1")
    if not xs.is_floating_point():
        raise TypeError(f"delta_encode: expected a floating-point signal, got dtype {xs.dtype}")
    check_finite(xs, "delta_encode")
    threshold = float(threshold)
    if not (threshold > 0 and math.isfinite(threshold)):
        raise ValueError(f"delta_encode: threshold must be > 0, got {threshold!r}")
    xs = xs.detach()
    ref = xs[0].clone()  # [B, C, *S]
    on, off = [], []
    for x in xs:  # x: [B, C, *S]
        up = x - ref >= threshold
        down = ref - x >= threshold
        ref = torch.where(up | down, x, ref)
        on.append(up)
        off.append(down)
    z = torch.cat([torch.stack(on), torch.stack(off)], dim=2)  # 2 x [T, B, C, *S] -> [T, B, 2C, *S]
    return z.to(xs.dtype)


@ENCODERS.register("delta", input="signal")
class DeltaEncoder(nn.Module):
    """Delta / temporal-contrast encoder for signals; see :func:`delta_encode`.

    Unlike the static encoders it takes a signal that already has a time axis.

    Args:
        steps: If given, the expected number of time steps of the input (checked); the encoder
            adds no steps of its own.
        threshold: Change needed to spike (> 0).

    Shapes:
        ``forward(xs [T, B, C, *S]) -> [T, B, 2C, *S]`` (ON channels first, then OFF).

    Example:
        >>> DeltaEncoder(threshold=0.2)(torch.randn(50, 4, 3).cumsum(0)).shape
        torch.Size([50, 4, 6])
    """

    def __init__(self, steps: int | None = None, *, threshold: float = 0.1) -> None:
        super().__init__()
        self.steps = None if steps is None else check_steps(steps)
        threshold = float(threshold)
        if not (threshold > 0 and math.isfinite(threshold)):
            raise ValueError(f"DeltaEncoder: threshold must be > 0, got {threshold!r}")
        self.threshold = threshold

    def forward(self, xs: Tensor) -> Tensor:
        if self.steps is not None and isinstance(xs, Tensor) and xs.dim() >= 1 and xs.shape[0] != self.steps:
            raise ValueError(
                f"DeltaEncoder: expected a signal with T={self.steps} steps on dim 0, "
                f"got shape {tuple(xs.shape)}"
            )
        return delta_encode(xs, threshold=self.threshold)

    def extra_repr(self) -> str:
        return f"steps={self.steps}, threshold={self.threshold:g}"
