"""Fixed per-neuron transmission delays measured in whole time steps."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence, check_step_input
from ..numerics import check_finite

__all__ = ["Delay", "DelayState", "delay_shift", "delay_steps_from_seconds"]


def delay_shift(xs: Tensor, delays: Tensor, max_delay: int | None = None) -> Tensor:
    r"""Delay each neuron's signal by its own number of steps, filling with zeros.

    .. math:: y_t[n] = x_{t - d[n]}[n] \text{ if } t \ge d[n] \text{ else } 0

    Args:
        xs: Time-major input.
        delays: Non-negative integer delays in steps, broadcastable to ``xs.shape[2:]``.
        max_delay: ``delays.max()`` if the caller knows it (needed on the ``meta`` device).

    Shapes:
        xs, output: ``[T, B, *]``; delays: ``[*]`` (or any shape broadcastable to it).

    Example:
        >>> delay_shift(torch.arange(4.0).view(4, 1, 1), torch.tensor([2]))[:, 0, 0]
        tensor([0., 0., 0., 1.])
    """
    check_sequence(xs)
    d = torch.as_tensor(delays, device=xs.device).long().expand(xs.shape[2:])  # [*]
    if max_delay is None and d.is_meta:
        raise ValueError("delay_shift: on the meta device the delays have no values; pass max_delay")
    steps = max_delay if max_delay is not None else (int(d.max().item()) if d.numel() else 0)
    if steps == 0:
        return xs
    T = xs.shape[0]
    padded = torch.cat([xs.new_zeros((steps, *xs.shape[1:])), xs])  # [steps + T, B, *]
    t = torch.arange(T, device=xs.device).view(T, *([1] * (xs.dim() - 1)))  # [T, 1, ..., 1]
    index = (t + steps - d).expand(xs.shape)  # [T, B, *]: row of `padded` holding x_{t-d}
    return padded.gather(0, index)


def delay_steps_from_seconds(delay: Any, dt: float) -> Tensor:
    """Convert delays in seconds to whole steps of ``dt``.

    Raises ``ValueError`` if a delay is negative, not finite or not a whole number of steps
    (relative tolerance 1e-6), since rounding would silently change the network's timing.
    """
    dt = float(dt)
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a positive number of seconds, got {dt!r}")
    d = torch.as_tensor(delay, dtype=torch.float64)
    if not bool(torch.all(torch.isfinite(d))) or bool(torch.any(d < 0)):
        raise ValueError(f"delays must be finite and >= 0 seconds, got {d.tolist()}")
    steps = d / dt
    rounded = torch.round(steps)
    if not bool(torch.all(torch.abs(steps - rounded) <= 1e-6 * torch.clamp(rounded, min=1.0))):
        bad = steps[torch.abs(steps - rounded) > 1e-6 * torch.clamp(rounded, min=1.0)]
        raise ValueError(
            f"delays must be whole multiples of dt={dt:g} s; got {bad.flatten()[:5].tolist()} steps"
        )
    return rounded.long()


class DelayState(NamedTuple):
    buffer: Tensor  # the last `max delay` inputs, oldest first [D, B, *]


class Delay(nn.Module):
    r"""Per-neuron fixed delay in time steps: ``y_t = x_{t-d}`` (zeros before the first input).

    Args:
        delays: Non-negative integer steps, a scalar or one per neuron (shape of the per-sample
            input, or broadcastable to it).

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → ``[T, B, *]`` (from an empty line).
        ``run(xs, state)`` → ``(ys, state)``; ``step(x, state)`` → ``(y, state)`` with ``x [B, *]``.

    Example:
        >>> Delay(torch.tensor([0, 1, 2]))(torch.ones(3, 1, 3))[:, 0]
        tensor([[1., 0., 0.],
                [1., 1., 0.],
                [1., 1., 1.]])
    """

    delays: Tensor  # registered buffer

    def __init__(self, delays: Tensor | int | list[int]) -> None:
        super().__init__()
        d = torch.as_tensor(delays)
        if d.is_floating_point():
            if not bool(torch.all(d == torch.round(d))):
                raise ValueError(f"Delay: delays must be whole numbers of steps, got {d.tolist()}")
        elif d.dtype == torch.bool or d.is_complex():
            raise TypeError(f"Delay: delays must be integer steps, got dtype {d.dtype}")
        d = d.long()
        if bool(torch.any(d < 0)):
            raise ValueError(f"Delay: delays must be >= 0 steps, got {d.tolist()}")
        self.register_buffer("delays", d.clone())
        self._max_at_init = int(d.max()) if d.numel() else 0  # for the meta device, where values are unknown

    @classmethod
    def from_seconds(cls, delay: Any, dt: float) -> Delay:
        """Delay given in seconds (NIR's ``Delay.delay``) at integration step ``dt``."""
        return cls(delay_steps_from_seconds(delay, dt))

    @property
    def max_delay(self) -> int:
        if self.delays.is_meta:
            return self._max_at_init
        return int(self.delays.max().item()) if self.delays.numel() else 0

    def forward(self, xs: Tensor) -> Tensor:
        check_sequence(xs, "Delay")
        check_finite(xs, "Delay")
        return delay_shift(xs, self.delays, max_delay=self.max_delay)

    def init_state(self, x: Tensor) -> DelayState:
        """Empty delay line for single-step inputs ``x [B, *]``."""
        return DelayState(buffer=x.new_zeros((self.max_delay, *x.shape)))

    def step(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        """Advance one step: push ``x [B, *]``, return the delayed ``[B, *]`` and the new line."""
        check_step_input(x, "Delay")
        check_finite(x, "Delay", time_major=False)
        if state is None:
            state = self.init_state(x)
        else:
            self._check_state(state, x)
        line = torch.cat([state.buffer, x.unsqueeze(0)])  # [D + 1, B, *], newest last
        D = line.shape[0] - 1
        index = (D - self.delays.to(x.device).expand(x.shape[1:])).expand(x.shape).unsqueeze(0)  # [1, B, *]
        y = line.gather(0, index).squeeze(0)  # [B, *]
        return y, DelayState(buffer=line[1:])

    def run(self, xs: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        """Run over ``xs [T, B, *]`` continuing from ``state``; returns ``(ys, final state)``."""
        check_sequence(xs, "Delay")
        if state is None:
            return self.forward(xs), DelayState(buffer=_last(xs, self.max_delay))
        check_finite(xs, "Delay")
        self._check_state(state, xs[0])
        full = torch.cat([state.buffer, xs])  # [D + T, B, *]
        ys = delay_shift(full, self.delays)[state.buffer.shape[0]:]  # [T, B, *]
        return ys, DelayState(buffer=_last(full, self.max_delay))

    def _check_state(self, state: DelayState, x: Tensor) -> None:
        """``state`` must be a :class:`DelayState` holding ``max_delay`` steps of inputs like ``x [B, *]``."""
        if not isinstance(state, DelayState):
            raise TypeError(f"Delay: state must be a DelayState(buffer), got {type(state).__name__}")
        want = (self.max_delay, *x.shape)
        if not isinstance(state.buffer, Tensor) or state.buffer.shape != want:
            got = tuple(state.buffer.shape) if isinstance(state.buffer, Tensor) else type(state.buffer).__name__
            raise ValueError(f"Delay: state.buffer must have shape {want} ([max_delay, B, *]), got {got}")

    def extra_repr(self) -> str:
        d = self.delays
        if d.numel() == 1:
            return f"delays={d.item()}"
        return f"delays=tensor{tuple(d.shape)}[{d.min().item()}..{d.max().item()}]"


def _last(xs: Tensor, n: int) -> Tensor:
    """The last ``n`` steps of ``xs [T, B, *]``, zero-padded in front when ``T < n``."""
    if xs.shape[0] >= n:
        return xs[xs.shape[0] - n:]
    return torch.cat([xs.new_zeros((n - xs.shape[0], *xs.shape[1:])), xs])
