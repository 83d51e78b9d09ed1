r"""Learnable delays, DCLS style: per-synapse (:class:`DelayLinear`) and per-neuron (:class:`LearnableDelay`).

A delay is the position of the single non-zero tap of a temporal kernel of ``K`` taps
(Hammouamri et al., ICLR 2024). Each delayed connection has a continuous *position*
:math:`P \in [-\lfloor K/2\rfloor, K-1-\lfloor K/2\rfloor]` whose tap centre is
:math:`c = P + \lfloor K/2 \rfloor \in [0, K-1]`.

Interpolation over the taps ``k = 0 … K-1``:

* training (``gauss``): :math:`g_k = e^{-\frac12((k-c)/\sigma_{eff})^2} / (\sum_j e^{\dots} + 10^{-7})`
  with :math:`\sigma_{eff} = |\mathrm{SIG}| + 0.27` (the reference implementation's definition:
  ``SIG`` is the value you set, 0.27 a floor so the Gaussian never collapses; at ``SIG = 0`` an
  integer position keeps 99.79 % of its mass, 0.105 % on each neighbour);
* evaluation (``round``): :math:`g_k = \max(0, 1 - |k - \mathrm{round}(c)|)`, a one-hot → exact
  integer delays;
* ``triangle`` (optional, any mode): :math:`g_k = \max(0, 1 - |k - c|)` without rounding.

Time convention (causal, left zero padding of ``K-1``, output length equals input length ``T``):

.. math:: y_t = \sum_k g_k\, x_{t + k - (K-1)} \quad\Rightarrow\quad
          \text{delay } d = K - 1 - c = (K-1) - \lfloor K/2\rfloor - P \;(= (K-1)/2 - P \text{ for odd } K)

so ``d ∈ [0, K-1]`` steps. (The reference script also pads ``(K-1)/2`` on the right and returns
``T + (K-1)/2`` steps; we drop those trailing steps, which only hold inputs delayed past the end.)

Streaming: ``run(xs, state) -> (ys, state)`` and ``step(x, state)`` carry the last ``K-1`` inputs
(:class:`~spikeforge.layers.delay.DelayState`) in place of the zero padding, so a sequence run in
chunks gives the outputs of one run (and a :class:`~spikeforge.layers.graph.ModuleGraph` can step
these layers inside a cycle).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..neurons._base import check_sequence, check_step_input
from ..numerics import check_finite
from .delay import DelayState

__all__ = [
    "DelayLinear", "LearnableDelay", "SIGMA_FLOOR", "delay_param_groups", "delay_taps", "sigma_schedule",
]

SIGMA_FLOOR = 0.27  # sigma_eff = |SIG| + SIGMA_FLOOR (reference implementation)
_MODES = ("auto", "gauss", "triangle", "round")


def delay_taps(positions: Tensor, K: int, mode: str = "gauss", sig: Tensor | float = 0.0) -> Tensor:
    r"""Interpolation taps ``[*, K]`` for tap centres ``c = positions + ⌊K/2⌋`` (see the module docstring).

    Args:
        positions: Delay positions ``[*]`` (clamped by the caller to ``[-⌊K/2⌋, K-1-⌊K/2⌋]``).
        K: Number of taps.
        mode: ``"gauss"`` (normalized Gaussian, :math:`\sigma_{eff} = |sig| + 0.27`), ``"triangle"``
            or ``"round"`` (triangle at the rounded centre: one-hot).
        sig: ``SIG`` for the Gaussian, broadcastable to ``positions``.

    Example:
        >>> delay_taps(torch.tensor([0.0]), 5, "round")
        tensor([[0., 0., 1., 0., 0.]])
    """
    k = torch.arange(K, device=positions.device, dtype=positions.dtype)  # [K]
    c = (positions + K // 2).unsqueeze(-1)  # [*, 1]
    if mode == "gauss":
        s = torch.as_tensor(sig, device=positions.device, dtype=positions.dtype)
        s_eff = (s.abs() + SIGMA_FLOOR).expand_as(positions).unsqueeze(-1)  # [*, 1]
        g = torch.exp(-0.5 * ((k - c) / s_eff) ** 2)  # [*, K]
        return g / (g.sum(-1, keepdim=True) + 1e-7)
    if mode == "triangle":
        return torch.relu(1 - (k - c).abs())
    if mode == "round":
        return torch.relu(1 - (k - torch.round(c)).abs())
    raise ValueError(f"delay_taps: mode must be 'gauss', 'triangle' or 'round', got {mode!r}")


def sigma_schedule(step: int, total: int, start: float, end: float = 0.0, kind: str = "linear") -> float:
    r"""``SIG`` at ``step`` of a decay from ``start`` (step 0) to ``end`` (step ``total`` and after).

    ``kind``: ``"linear"``, ``"cosine"`` (:math:`end + (start-end)(1+\cos(\pi s/S))/2`) or
    ``"exponential"`` (geometric, as the DCLS script: needs ``start, end > 0``).

    Example:
        >>> [sigma_schedule(s, 4, 12.0, 0.0) for s in range(6)]
        [12.0, 9.0, 6.0, 3.0, 0.0, 0.0]
    """
    if total <= 0:
        raise ValueError(f"sigma_schedule: total must be >= 1, got {total}")
    f = min(max(step, 0), total) / total
    if kind == "linear":
        return start + (end - start) * f
    if kind == "cosine":
        return end + (start - end) * 0.5 * (1 + math.cos(math.pi * f))
    if kind == "exponential":
        if not (start > 0 and end > 0):
            raise ValueError(f"sigma_schedule: exponential decay needs start, end > 0, got {start}, {end}")
        return start * (end / start) ** f
    raise ValueError(f"sigma_schedule: kind must be 'linear', 'cosine' or 'exponential', got {kind!r}")


class _DelayTaps(nn.Module):
    """Shared state of the learnable-delay layers: positions, SIG, the window ``K`` and the mode."""

    positions: nn.Parameter
    sig: Tensor

    def _init_taps(self, shape: tuple[int, ...], K: int, sig: float, per_synapse_sigma: bool) -> None:
        if K < 1:
            raise ValueError(f"{type(self).__name__}: K (taps) must be >= 1, got {K}")
        self.K = int(K)
        self.mode = "auto"
        lo, hi = self.position_range
        # reference init: U(-⌊K/2⌋ - 1, ⌊K/2⌋), then clamped
        self.positions = nn.Parameter(torch.empty(shape).uniform_(lo - 1, hi).clamp_(lo, hi))
        self.register_buffer("sig", torch.full(shape if per_synapse_sigma else (), float(sig)))

    @property
    def position_range(self) -> tuple[int, int]:
        """Allowed positions ``(lo, hi)`` = ``(-⌊K/2⌋, K-1-⌊K/2⌋)``, i.e. delays ``K-1 … 0`` steps."""
        return -(self.K // 2), self.K - 1 - self.K // 2

    @property
    def sigma_eff(self) -> Tensor:
        """:math:`\\sigma_{eff} = |SIG| + 0.27` (scalar, or one per delay)."""
        return self.sig.abs() + SIGMA_FLOOR

    def set_sigma(self, sig: float | Tensor) -> None:
        """Set ``SIG`` (``σ_eff = |SIG| + 0.27``); a scalar, or a tensor of the shape of ``sig``."""
        with torch.no_grad():
            self.sig.copy_(torch.as_tensor(sig, dtype=self.sig.dtype).expand_as(self.sig))

    def set_mode(self, mode: str) -> None:
        """``"auto"`` (Gaussian when training, rounded one-hot in eval), or force ``gauss``/``triangle``/``round``."""
        if mode not in _MODES:
            raise ValueError(f"{type(self).__name__}: mode must be one of {_MODES}, got {mode!r}")
        self.mode = mode

    def clamp_positions_(self) -> None:
        """Clamp positions in place into :attr:`position_range` (call after each optimizer step)."""
        with torch.no_grad():
            self.positions.clamp_(*self.position_range)

    @property
    def delays(self) -> Tensor:
        """Integer delays in steps used in evaluation: ``K-1 - round(P + ⌊K/2⌋)`` (positions clamped).

        The rounding is that of the tap centre, as in ``delay_taps(..., "round")`` (``torch.round``
        rounds halves to even, so ``round(P) + ⌊K/2⌋`` would differ for half-integer ``P`` and odd ``⌊K/2⌋``).
        """
        c = self.positions.detach().clamp(*self.position_range) + self.K // 2
        return (self.K - 1 - torch.round(c)).long()

    def taps(self) -> Tensor:
        """Current interpolation taps ``[*positions.shape, K]`` (positions clamped into range)."""
        mode = self.mode if self.mode != "auto" else ("gauss" if self.training else "round")
        p = self.positions.clamp(*self.position_range)
        return delay_taps(p, self.K, mode, self.sig)

    # --- streaming: the last K-1 inputs replace the zero padding ---------------------------------
    in_size: int  # input features (N_in)

    def _conv(self, line: Tensor) -> Tensor:
        """Valid (unpadded) temporal convolution ``[B, N_in, K-1+T] -> [B, N_out, T]``."""
        raise NotImplementedError

    def init_state(self, x: Tensor) -> DelayState:
        """Empty delay line (``K-1`` steps of zeros) for single-step inputs ``x [B, N_in]``."""
        return DelayState(buffer=x.new_zeros((self.K - 1, *x.shape)))

    def _check_input(self, xs: Tensor) -> None:
        who = type(self).__name__
        check_sequence(xs, who)
        if xs.dim() != 3 or xs.shape[2] != self.in_size:
            raise ValueError(f"{who}: expected input [T, B, {self.in_size}], got {tuple(xs.shape)}")
        check_finite(xs, who)

    def run(self, xs: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        """Run over ``xs [T, B, N_in]`` continuing the delay line ``state`` (zeros if ``None``);
        returns ``(ys [T, B, N_out], state)`` with the last ``K-1`` inputs as the new state."""
        self._check_input(xs)
        T, lag = xs.shape[0], self.K - 1
        if state is None:
            buffer = xs.new_zeros((lag, *xs.shape[1:]))  # [K-1, B, N_in]: causal zero padding
            line = F.pad(xs.permute(1, 2, 0), (lag, 0))  # [B, N_in, K-1+T]
        else:
            buffer = self._checked_buffer(state, xs[0])
            line = torch.cat([buffer.permute(1, 2, 0), xs.permute(1, 2, 0)], dim=2)  # [B, N_in, K-1+T]
        ys = self._conv(line)  # [B, N_out, T]
        last = xs[T - lag:] if T >= lag else torch.cat([buffer[T:], xs])  # [K-1, B, N_in]: the last K-1 inputs
        return ys.permute(2, 0, 1), DelayState(buffer=last)  # [T, B, N_out]

    def step(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        """One step: ``x [B, N_in]`` → ``(y [B, N_out], state)``."""
        check_step_input(x, type(self).__name__)
        ys, state = self.run(x.unsqueeze(0), state)  # [1, B, N_in] -> [1, B, N_out]
        return ys[0], state

    def forward(self, xs: Tensor) -> Tensor:
        """Whole sequence ``[T, B, N_in]`` from an empty line → ``[T, B, N_out]``."""
        return self.run(xs)[0]

    def _checked_buffer(self, state: DelayState, x: Tensor) -> Tensor:
        """``state.buffer`` if it is a delay line ``[K-1, B, N_in]`` for step inputs ``x [B, N_in]``."""
        who = type(self).__name__
        if not isinstance(state, DelayState):
            raise TypeError(f"{who}: state must be a DelayState(buffer), got {type(state).__name__}")
        want = (self.K - 1, *x.shape)
        if not isinstance(state.buffer, Tensor) or state.buffer.shape != want:
            got = tuple(state.buffer.shape) if isinstance(state.buffer, Tensor) else type(state.buffer).__name__
            raise ValueError(f"{who}: state.buffer must have shape {want} ([K-1, B, N_in]), got {got}")
        return state.buffer


class DelayLinear(_DelayTaps):
    r"""Linear layer with a learnable delay per synapse (DCLS-Delays).

    .. math:: y_t[j] = b_j + \sum_i w_{ji} \sum_k g_{ji,k}\, x_{t+k-(K-1)}[i]

    computed as one ``conv1d`` over time with kernel ``w ⊗ g`` ``[N_out, N_in, K]`` and left padding ``K-1``.

    Args:
        in_features, out_features: ``N_in``, ``N_out``.
        K: Taps in the window (maximum delay ``K-1`` steps).
        bias: Learnable bias (the DCLS SHD model has none).
        sig: Initial ``SIG`` (``σ_eff = |SIG| + 0.27``); the DCLS recipe starts at ``⌊K/2⌋``.
        per_synapse_sigma: One ``SIG`` per synapse instead of one shared value.

    Shapes:
        ``[T, B, N_in] → [T, B, N_out]`` (same ``T``; causal); ``run(xs, state) -> (ys, state)`` and
        ``step(x [B, N_in], state)`` stream it with the delay line as state.

    Example:
        >>> layer = DelayLinear(3, 2, K=5).eval()
        >>> layer(torch.zeros(7, 4, 3)).shape
        torch.Size([7, 4, 2])
    """

    def __init__(
        self, in_features: int, out_features: int, K: int, bias: bool = False, sig: float | None = None,
        per_synapse_sigma: bool = False,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.in_size = self.in_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self._init_taps((out_features, in_features), K, K // 2 if sig is None else sig, per_synapse_sigma)

    def kernel(self) -> Tensor:
        """Effective temporal kernel ``[N_out, N_in, K]`` = weight × taps."""
        return self.weight.unsqueeze(-1) * self.taps()

    def _conv(self, line: Tensor) -> Tensor:
        return F.conv1d(line, self.kernel(), self.bias)  # [B, N_in, K-1+T] -> [B, N_out, T]

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, K={self.K}, bias={self.bias is not None}, mode={self.mode}"


class LearnableDelay(_DelayTaps):
    r"""A learnable delay per neuron (axonal if placed after the neurons, dendritic if before them).

    .. math:: y_t[n] = \sum_k g_{n,k}\, x_{t+k-(K-1)}[n]

    computed as a depthwise ``conv1d`` (``groups = N``) with left padding ``K-1``.

    Shapes:
        ``[T, B, N] → [T, B, N]`` (same ``T``; causal); ``run`` / ``step`` stream it as for :class:`DelayLinear`.

    Example:
        >>> d = LearnableDelay(2, K=5).eval()
        >>> with torch.no_grad():
        ...     _ = d.positions.copy_(torch.tensor([2.0, 1.0]))  # delays 0 and 1 step
        >>> d(torch.tensor([[1.0, 1.0], [0.0, 0.0]]).unsqueeze(1))[:, 0].detach()
        tensor([[1., 0.],
                [0., 1.]])
    """

    def __init__(self, features: int, K: int, sig: float | None = None, per_neuron_sigma: bool = False) -> None:
        super().__init__()
        self.features = self.in_size = int(features)
        self._init_taps((self.features,), K, K // 2 if sig is None else sig, per_neuron_sigma)

    def _conv(self, line: Tensor) -> Tensor:
        return F.conv1d(line, self.taps().unsqueeze(1), groups=self.features)  # [B, N, K-1+T] -> [B, N, T]

    def extra_repr(self) -> str:
        return f"{self.features}, K={self.K}, mode={self.mode}"


def delay_param_groups(
    model: nn.Module, lr: float, lr_positions: float, weight_decay: float = 0.0
) -> list[dict[str, object]]:
    """Optimizer parameter groups: delay positions at ``lr_positions`` (no weight decay), all else at ``lr``.

    Example:
        >>> m = nn.Sequential(DelayLinear(3, 2, K=5), nn.Linear(2, 2))
        >>> [len(g["params"]) for g in delay_param_groups(m, 1e-3, 0.1)]
        [3, 1]
    """
    pos: list[nn.Parameter] = [m.positions for m in model.modules() if isinstance(m, _DelayTaps)]
    ids = {id(p) for p in pos}
    rest: Iterable[nn.Parameter] = [p for p in model.parameters() if id(p) not in ids]
    return [
        {"params": list(rest), "lr": lr, "weight_decay": weight_decay},
        {"params": pos, "lr": lr_positions, "weight_decay": 0.0},
    ]
