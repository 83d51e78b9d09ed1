"""Leaky integrator: the non-spiking readout (output is the membrane)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._dynamics import leaky_integrate
from ._base import NEURONS, Neuron, tau_from_decay

__all__ = ["LI", "LIParams", "LIState", "li_step"]


class LIParams(NamedTuple):
    tau_mem: Tensor | float = 10e-3  # membrane time constant [s]
    r: Tensor | float = 1.0  # input resistance
    v_leak: Tensor | float = 0.0  # resting potential


class LIState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def li_step(x: Tensor, state: LIState, p: LIParams, *, dt: float = 1e-3) -> tuple[Tensor, LIState]:
    r"""Advance leaky integrators by one forward-Euler step of NIR's ``LI``.

    .. math:: \tau_{mem}\dot v = (v_{leak} - v) + r\,x \;\Rightarrow\;
              v' = (1 - a)\,v + a\,r\,x + a\,v_{leak},\quad a = dt/\tau_{mem}

    Shapes:
        x, state.v, output: ``[B, *]``

    Returns:
        ``(v', new_state)``: the membrane is the output.

    Example:
        >>> v, s = li_step(torch.ones(2, 3), LIState(torch.zeros(2, 3)), LIParams())
    """
    v = leaky_integrate(state.v, x, p.tau_mem, p.r, p.v_leak, dt)
    return v, LIState(v=v)


@NEURONS.register("li")
class LI(Neuron[LIParams, LIState]):
    r"""Layer of leaky integrators (non-spiking readout); dynamics in :func:`li_step`.

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → membrane ``[T, B, *]``; decode with ``.mean(0)`` or
        ``.amax(0)`` (see :mod:`spikeforge.encoders`).

    Example:
        >>> v = LI(tau_mem=20e-3)(torch.rand(50, 4, 10))   # [50, 4, 10]
    """

    params_cls = LIParams
    state_cls = LIState
    step_fn = staticmethod(li_step)
    positive = ("tau_mem",)
    spiking = False

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt}

    def init_state(self, x: Tensor) -> LIState:
        return LIState(v=torch.zeros_like(x) + self.v_leak.to(dtype=x.dtype, device=x.device))

    @classmethod
    def from_decay(cls, beta: float, *, dt: float = 1e-3, **kwargs: Any) -> LI:
        """Discrete-time ``v' = beta v + x``: ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt``."""
        tau = tau_from_decay(beta, dt)
        return cls(tau_mem=tau, r=tau / dt, dt=dt, **kwargs)
