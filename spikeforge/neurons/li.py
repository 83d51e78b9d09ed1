"""Leaky integrator: the non-spiking readout (output is the membrane)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._base import NEURONS, Neuron
from ._dynamics import checked_decay, leaky_integrate

__all__ = ["LI", "LIDecayParams", "LIParams", "LIState", "li_step"]


class LIParams(NamedTuple):
    tau_mem: Tensor | float = 10e-3  # membrane time constant [s]
    r: Tensor | float = 1.0  # input resistance
    v_leak: Tensor | float = 0.0  # resting potential


class LIDecayParams(NamedTuple):  # stored with integrator="decay" (discrete time)
    beta: Tensor | float = 0.9  # membrane decay per step, in [0, 1)
    gain: Tensor | float = 1.0  # input gain per step
    v_leak: Tensor | float = 0.0  # resting potential


class LIState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def li_step(x: Tensor, state: LIState, p: LIParams | LIDecayParams, *, dt: float = 1e-3,
            integrator: str = "euler") -> tuple[Tensor, LIState]:
    r"""Advance leaky integrators by one step of NIR's ``LI``.

    .. math:: \tau_{mem}\dot v = (v_{leak} - v) + r\,x \;\Rightarrow\;
              v' = (1 - a)\,v + a\,r\,x + a\,v_{leak},\quad a = dt/\tau_{mem}

    for ``integrator="euler"``; ``"exp"`` uses the exact decay :math:`e^{-dt/\tau_{mem}}` and
    :math:`a = 1 - e^{-dt/\tau_{mem}}`; ``"decay"`` takes a :class:`LIDecayParams`:
    :math:`v' = \beta v + \mathrm{gain}\,x + (1 - \beta) v_{leak}` (see :func:`~spikeforge.neurons.lif.lif_step`).

    Shapes:
        x, state.v, output: ``[B, *]``

    Returns:
        ``(v', new_state)``: the membrane is the output.

    Example:
        >>> v, s = li_step(torch.ones(2, 3), LIState(torch.zeros(2, 3)), LIParams())
    """
    v = leaky_integrate(state.v, x, p, dt, integrator)
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
    time_constants = ("tau_mem",)
    integrators = ("euler", "exp", "decay")
    decay_params_cls = LIDecayParams

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "integrator": self.integrator}

    def init_state(self, x: Tensor) -> LIState:
        return LIState(v=torch.zeros_like(x) + self.v_leak.to(dtype=x.dtype, device=x.device))

    @classmethod
    def from_decay(cls, beta: float | Tensor, *, dt: float = 1e-3, **kwargs: Any) -> LI:
        """Discrete-time ``v' = beta v + x``, exactly (stores ``beta`` and gain 1, ``integrator="decay"``;
        ``params()`` reports ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt``), as :meth:`LIF.from_decay`."""
        return cls(integrator="decay", beta=checked_decay(beta), gain=1.0, dt=dt, **kwargs)
