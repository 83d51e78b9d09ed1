"""Phase (weighted bit-plane) coding and STEP's time-to-first-spike convention.

Both are the encodings of the STEP benchmark (BrainCog ``encode_type`` ``phase`` and ``ttfs``);
the formulas come from the STEP paper as summarised in the project reference (tagged [2nd]:
second-hand, not checked against BrainCog's source).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._base import ENCODERS, check_static, check_steps, check_unit_interval

__all__ = ["phase_encode", "phase_decode", "step_ttfs_encode", "PhaseEncoder", "StepTTFSEncoder"]


def _check_bits(bits: object, who: str) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 24:
        raise ValueError(f"{who}: bits must be an int in [1, 24], got {bits!r}")
    return bits


def phase_encode(x: Tensor, steps: int, *, bits: int = 8) -> Tensor:
    r"""Phase coding: step ``t`` carries bit ``t mod K`` (most significant first) of ``x``.

    .. math:: q = \min(\lfloor 2^K x \rfloor,\ 2^K - 1), \qquad
              z_t = \big\lfloor q / 2^{K - 1 - (t \bmod K)} \big\rfloor \bmod 2

    The spike at phase ``b = t mod K`` has weight :math:`2^{-(b+1)}`, so one period decodes as
    :math:`\sum_{b} z_b 2^{-(b+1)} = q / 2^K` (see :func:`phase_decode`): the representation is
    exact to ``K`` bits and ``x = 1`` saturates at :math:`1 - 2^{-K}`. The pattern repeats every
    ``K`` steps; ``T`` need not be a multiple of ``K``.

    Args:
        x: Intensities in ``[0, 1]``.
        steps: Number of time steps ``T`` (>= 1).
        bits: Bit planes ``K`` per period (STEP uses 8).

    Shapes:
        ``x [B, *F] -> z [T, B, *F]`` (0/1, dtype of ``x``).

    Example:
        >>> phase_encode(torch.tensor([[0.625]]), 4, bits=4)[:, 0, 0].tolist()   # 0.625 = 0.1010b
        [1.0, 0.0, 1.0, 0.0]
    """
    steps = check_steps(steps)
    bits = _check_bits(bits, "phase_encode")
    check_unit_interval(check_static(x, "phase_encode"), "phase_encode")
    levels = 2**bits
    q = torch.clamp(torch.floor(x.detach().double() * levels), max=levels - 1).long()  # [B, *F]
    phase = torch.arange(steps, device=x.device) % bits  # [T]
    shift = (bits - 1 - phase).view(steps, *([1] * x.dim()))  # [T] -> [T, 1, ..., 1]
    return ((q.unsqueeze(0) >> shift) & 1).to(x.dtype)  # [T, B, *F]


def phase_decode(z: Tensor, *, bits: int = 8) -> Tensor:
    r"""Inverse of :func:`phase_encode` over the first period: :math:`\sum_{b<K} z_b 2^{-(b+1)}`.

    Shapes:
        ``z [T >= K, B, *F] -> x [B, *F]``

    Example:
        >>> phase_decode(phase_encode(torch.tensor([[0.3]]), 8), bits=8).item() == 76 / 256
        True
    """
    bits = _check_bits(bits, "phase_decode")
    if z.dim() < 1 or z.shape[0] < bits:
        raise ValueError(f"phase_decode: need at least one full period of {bits} steps, got shape {tuple(z.shape)}")
    w = 2.0 ** -(torch.arange(bits, device=z.device, dtype=z.dtype) + 1)  # [K]
    w = w.view(bits, *([1] * (z.dim() - 1)))  # [K] -> [K, 1, ..., 1]
    return (z[:bits] * w).sum(0)  # [B, *F]


def step_ttfs_encode(x: Tensor, steps: int) -> Tensor:
    r"""STEP's time-to-first-spike: one spike at (1-based) step :math:`t^* = 1 + \lfloor (1 - x) T \rfloor`.

    With 0-based steps the spike is at :math:`\lfloor (1 - x) T \rfloor`; ``x = 1`` fires at step 0
    and ``x = 0`` would fire at step ``T``, i.e. never. This differs from :func:`latency_encode`
    (which rounds :math:`(T - 1)(1 - x)` and lets ``x = 0`` fire at the last step).

    Shapes:
        ``x [B, *F] -> z [T, B, *F]`` (0/1, at most one spike per element).

    Example:
        >>> step_ttfs_encode(torch.tensor([[1.0, 0.5, 0.0]]), 4)[:, 0].tolist()   # x = 0: no spike
        [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    steps = check_steps(steps)
    check_unit_interval(check_static(x, "step_ttfs_encode"), "step_ttfs_encode")
    t = torch.floor((1 - x.detach().double()) * steps).long()  # [B, *F]; x = 0 -> T (no spike)
    grid = torch.arange(steps, device=x.device).view(steps, *([1] * x.dim()))  # [T] -> [T, 1, ..., 1]
    return (grid == t.unsqueeze(0)).to(x.dtype)  # [T, B, *F]


@ENCODERS.register("phase", input="static")
class PhaseEncoder(nn.Module):
    """Phase (weighted bit-plane) encoder; see :func:`phase_encode`.

    Shapes:
        ``forward(x [B, *F]) -> [T, B, *F]``

    Example:
        >>> PhaseEncoder(steps=8)(torch.rand(4, 64)).shape
        torch.Size([8, 4, 64])
    """

    def __init__(self, steps: int, *, bits: int = 8) -> None:
        super().__init__()
        self.steps = check_steps(steps)
        self.bits = _check_bits(bits, "PhaseEncoder")

    def forward(self, x: Tensor) -> Tensor:
        return phase_encode(x, self.steps, bits=self.bits)

    def extra_repr(self) -> str:
        return f"steps={self.steps}, bits={self.bits}"


@ENCODERS.register("ttfs_step", input="static")
class StepTTFSEncoder(nn.Module):
    """STEP's time-to-first-spike encoder; see :func:`step_ttfs_encode`.

    Shapes:
        ``forward(x [B, *F]) -> [T, B, *F]``

    Example:
        >>> StepTTFSEncoder(steps=10)(torch.rand(4, 64)).sum(0).max().item() <= 1
        True
    """

    def __init__(self, steps: int) -> None:
        super().__init__()
        self.steps = check_steps(steps)

    def forward(self, x: Tensor) -> Tensor:
        return step_ttfs_encode(x, self.steps)

    def extra_repr(self) -> str:
        return f"steps={self.steps}"
