"""Latency (time-to-first-spike) coding: stronger inputs spike earlier, each at most once."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._base import ENCODERS, check_finite_param, check_static, check_steps, check_unit_interval

__all__ = [
    "latency_encode", "log_latency_encode", "spikes_at", "LatencyEncoder", "LogLatencyEncoder",
]


def spikes_at(times: Tensor, steps: int) -> Tensor:
    """One spike per element at step ``round(times)``; ``inf``/NaN or times past ``T - 1`` give none.

    Shapes:
        ``times [B, *F] -> z [T, B, *F]`` (dtype of ``times``).

    Example:
        >>> spikes_at(torch.tensor([0.0, 2.0, float("inf")]), 3)[:, 0].tolist()
        [1.0, 0.0, 0.0]
    """
    steps = check_steps(steps)
    t = torch.round(times.detach())  # nearest step, ties to even
    grid = torch.arange(steps, device=times.device, dtype=times.dtype)  # [T]
    grid = grid.view(steps, *([1] * times.dim()))  # [T] -> [T, 1, ..., 1]
    return (grid == t.unsqueeze(0)).to(times.dtype)  # [T, B, *F]


def latency_encode(
    x: Tensor, steps: int, *, tau: float | None = None, threshold: float = 0.0
) -> Tensor:
    r"""Linear time-to-first-spike: one spike at step ``round(tau (1 - x))``.

    .. math:: t(x) = \mathrm{round}\big(\tau\,(1 - x)\big), \quad \tau = T - 1 \text{ by default}

    so ``x = 1`` fires at step 0 and ``x = 0`` at step ``T - 1`` (with the default ``tau``).
    Elements with ``x < threshold`` or with ``t(x) > T - 1`` (possible when ``tau > T - 1``)
    do not spike. Rounding is to the nearest step, ties to even.

    Args:
        x: Intensities in ``[0, 1]``.
        steps: Number of time steps ``T`` (>= 1).
        tau: Latency of ``x = 0`` in steps (> 0); default ``T - 1``.
        threshold: Intensities below it emit no spike.

    Shapes:
        ``x [B, *F] -> z [T, B, *F]`` (0/1, at most one spike per element).

    Example:
        >>> latency_encode(torch.tensor([[1.0, 0.5, 0.0]]), 5).argmax(0).tolist()
        [[0, 2, 4]]
    """
    steps = check_steps(steps)
    check_unit_interval(check_static(x, "latency_encode"), "latency_encode")
    tau = _check_tau(tau, default=float(steps - 1), who="latency_encode")
    threshold = check_finite_param(threshold, "threshold", "latency_encode")
    times = tau * (1 - x.detach())  # [B, *F]
    times = torch.where(x.detach() < threshold, torch.full_like(times, math.inf), times)
    return spikes_at(times, steps)


def log_latency_encode(
    x: Tensor, steps: int, *, tau: float | None = None, threshold: float = 0.0
) -> Tensor:
    r"""Logarithmic time-to-first-spike: one spike at step ``round(tau ln(1 / x))``.

    .. math:: t(x) = \mathrm{round}\big(\tau \ln(1/x)\big), \quad
              \tau = (T - 1) / \ln 100 \text{ by default}

    i.e. the time an exponential trace ``exp(-t / tau)`` takes to decay from 1 to ``x``, so
    :math:`x \approx e^{-t/\tau}` decodes it. ``x = 1`` fires at step 0; with the default ``tau``
    ``x = 0.01`` fires at step ``T - 1`` and smaller values (including 0) never fire. Elements
    with ``x < threshold`` do not spike either.

    Args:
        x: Intensities in ``[0, 1]``.
        steps: Number of time steps ``T`` (>= 1).
        tau: Time constant in steps (> 0).
        threshold: Intensities below it emit no spike.

    Shapes:
        ``x [B, *F] -> z [T, B, *F]`` (0/1, at most one spike per element).

    Example:
        >>> log_latency_encode(torch.tensor([[1.0, 0.1, 0.01]]), 21).argmax(0).tolist()
        [[0, 10, 20]]
    """
    steps = check_steps(steps)
    check_unit_interval(check_static(x, "log_latency_encode"), "log_latency_encode")
    tau = _check_tau(tau, default=(steps - 1) / math.log(100.0), who="log_latency_encode")
    threshold = check_finite_param(threshold, "threshold", "log_latency_encode")
    xd = x.detach()
    times = tau * -torch.log(xd)  # [B, *F]; x = 0 -> inf -> no spike
    times = torch.where(xd < threshold, torch.full_like(times, math.inf), times)
    return spikes_at(times, steps)


def _check_tau(tau: float | None, *, default: float, who: str) -> float:
    if tau is None:
        return default
    tau = float(tau)
    if not (tau > 0 and math.isfinite(tau)):
        raise ValueError(f"{who}: tau must be a positive number of steps, got {tau!r}")
    return tau


@ENCODERS.register("latency", input="static")
class LatencyEncoder(nn.Module):
    """Linear time-to-first-spike encoder; see :func:`latency_encode`.

    Shapes:
        ``forward(x [B, *F]) -> [T, B, *F]``

    Example:
        >>> LatencyEncoder(steps=10, threshold=0.05)(torch.rand(4, 64)).shape
        torch.Size([10, 4, 64])
    """

    def __init__(self, steps: int, *, tau: float | None = None, threshold: float = 0.0) -> None:
        super().__init__()
        self.steps = check_steps(steps)
        self.tau = None if tau is None else _check_tau(tau, default=0.0, who="LatencyEncoder")
        self.threshold = check_finite_param(threshold, "threshold", "LatencyEncoder")

    def forward(self, x: Tensor) -> Tensor:
        return latency_encode(x, self.steps, tau=self.tau, threshold=self.threshold)

    def extra_repr(self) -> str:
        return f"steps={self.steps}, tau={self.tau}, threshold={self.threshold:g}"


@ENCODERS.register("latency_log", input="static")
class LogLatencyEncoder(nn.Module):
    """Logarithmic time-to-first-spike encoder; see :func:`log_latency_encode`.

    Shapes:
        ``forward(x [B, *F]) -> [T, B, *F]``

    Example:
        >>> LogLatencyEncoder(steps=10, tau=3.0)(torch.rand(4, 64)).shape
        torch.Size([10, 4, 64])
    """

    def __init__(self, steps: int, *, tau: float | None = None, threshold: float = 0.0) -> None:
        super().__init__()
        self.steps = check_steps(steps)
        self.tau = None if tau is None else _check_tau(tau, default=0.0, who="LogLatencyEncoder")
        self.threshold = check_finite_param(threshold, "threshold", "LogLatencyEncoder")

    def forward(self, x: Tensor) -> Tensor:
        return log_latency_encode(x, self.steps, tau=self.tau, threshold=self.threshold)

    def extra_repr(self) -> str:
        return f"steps={self.steps}, tau={self.tau}, threshold={self.threshold:g}"
