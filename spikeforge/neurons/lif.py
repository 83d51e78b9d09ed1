"""Leaky integrate-and-fire neuron."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ..types import ResetFn
from ._dynamics import leaky_integrate
from ._base import NEURONS, Neuron, tau_from_decay
from ._reset import reset_subtract

__all__ = ["LIF", "LIFParams", "LIFState", "lif_step"]


class LIFParams(NamedTuple):
    tau_mem: Tensor | float = 10e-3  # membrane time constant [s]
    r: Tensor | float = 1.0  # input resistance (gain from input current to voltage)
    v_leak: Tensor | float = 0.0  # resting potential
    v_th: Tensor | float = 1.0  # firing threshold
    v_reset: Tensor | float = 0.0  # value after a spike with reset="value"


class LIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def lif_step(
    x: Tensor,
    state: LIFState,
    p: LIFParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = ATan(),
    reset: ResetFn = reset_subtract,
    detach_reset: bool = False,
) -> tuple[Tensor, LIFState]:
    r"""Advance LIF neurons by one forward-Euler step of the NIR LIF equation.

    .. math::
        \tau_{mem}\dot v = (v_{leak} - v) + r\,x

        v' = (1 - a)\,v + a\,r\,x + a\,v_{leak},\quad a = dt/\tau_{mem}

        z = H(v' - v_{th}) \text{ (strict)},\quad v \leftarrow \mathrm{reset}(v', z)

    With ``r = tau_mem / dt`` this is the discrete-time ``v' = beta v + x`` with
    ``beta = 1 - dt / tau_mem`` (see :meth:`LIF.from_decay`).

    Args:
        x: Input current at this step.
        state: State before the step.
        p: Parameters; scalars or tensors broadcastable to ``x``.
        dt: Integration step in seconds.
        surrogate: Spike function gradient.
        reset: Reset function ``(v, z, v_th, v_reset) -> v``.
        detach_reset: Stop the gradient through the reset.

    Shapes:
        x, state.v, z: ``[B, *]``

    Returns:
        ``(z, new_state)``: spikes (0/1, differentiable through ``surrogate``) and the new state.

    Example:
        >>> z, s = lif_step(torch.ones(2, 3), LIFState(torch.zeros(2, 3)), LIFParams())
    """
    v = leaky_integrate(state.v, x, p.tau_mem, p.r, p.v_leak, dt)
    z = surrogate(v - p.v_th)
    v = reset(v, z.detach() if detach_reset else z, p.v_th, p.v_reset)
    return z, LIFState(v=v)


@NEURONS.register("lif")
class LIF(Neuron[LIFParams, LIFState]):
    r"""Layer of leaky integrate-and-fire neurons; dynamics in :func:`lif_step`.

    .. math:: \tau_{mem}\dot v = (v_{leak} - v) + r\,x, \quad z = H(v - v_{th}), \quad v \leftarrow \mathrm{reset}(v, z)

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *]`` input currents → spikes ``[T, B, *]`` (from rest).
        ``run(xs, state)`` → ``(zs, state)``; ``step(x, state)`` → ``(z, state)`` with ``x [B, *]``.

    Example:
        >>> lif = LIF(tau_mem=20e-3, dt=1e-3, learn=("tau_mem",), size=128)
        >>> zs = lif(torch.rand(100, 8, 128) * 3)   # [T=100, B=8, 128] spikes
    """

    params_cls = LIFParams
    state_cls = LIFState
    step_fn = staticmethod(lif_step)
    positive = ("tau_mem",)

    def init_state(self, x: Tensor) -> LIFState:
        return LIFState(v=_rest(x, self.v_leak))

    @classmethod
    def from_decay(cls, beta: float, *, dt: float = 1e-3, **kwargs: Any) -> LIF:
        """Discrete-time LIF ``v' = beta v + x`` (snnTorch's ``Leaky(beta)``):
        ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt``."""
        tau = tau_from_decay(beta, dt)
        return cls(tau_mem=tau, r=tau / dt, dt=dt, **kwargs)

    @property
    def decay(self) -> Tensor:
        """Per-step membrane decay ``1 - dt / tau_mem``."""
        return 1 - self.dt / torch.as_tensor(self.params().tau_mem)


def _rest(x: Tensor, v_leak: Tensor) -> Tensor:
    """Resting potential ``v_leak`` broadcast to the shape, dtype and device of ``x``."""
    return torch.zeros_like(x) + v_leak.to(dtype=x.dtype, device=x.device)
