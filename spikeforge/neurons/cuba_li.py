"""Current-based leaky integrator: NIR's ``CubaLI``, a synaptic filter feeding a non-spiking membrane."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._base import NEURONS, Neuron
from ._dynamics import checked_decay, leaky_integrate, synaptic_filter

__all__ = ["CubaLI", "CubaLIDecayParams", "CubaLIParams", "CubaLIState", "cuba_li_step"]


class CubaLIParams(NamedTuple):
    tau_syn: Tensor | float = 5e-3  # synaptic current time constant [s]
    tau_mem: Tensor | float = 10e-3  # membrane time constant [s]
    r: Tensor | float = 1.0  # input resistance (current → voltage)
    v_leak: Tensor | float = 0.0  # resting potential
    w_in: Tensor | float = 1.0  # input weight onto the synaptic current


class CubaLIDecayParams(NamedTuple):  # stored with integrator="decay" (discrete time)
    alpha: Tensor | float = 0.8  # synaptic current decay per step, in [0, 1)
    beta: Tensor | float = 0.9  # membrane decay per step, in [0, 1)
    gain: Tensor | float = 1.0  # gain per step from current to voltage
    v_leak: Tensor | float = 0.0  # resting potential
    gain_syn: Tensor | float = 1.0  # input gain per step onto the synaptic current


class CubaLIState(NamedTuple):
    i: Tensor  # synaptic current [B, *]
    v: Tensor  # membrane potential [B, *]


def cuba_li_step(
    x: Tensor, state: CubaLIState, p: CubaLIParams | CubaLIDecayParams, *, dt: float = 1e-3,
    integrator: str = "euler",
) -> tuple[Tensor, CubaLIState]:
    r"""Advance current-based leaky integrators by one step of NIR's ``CubaLI``.

    .. math::
        \tau_{syn}\dot i = -i + w_{in} x,\qquad \tau_{mem}\dot v = (v_{leak} - v) + r\,i

        i' = (1 - a_s)\,i + a_s w_{in} x,\quad v' = (1 - a_m)\,v + a_m r\,i' + a_m v_{leak}

    with :math:`a_s = dt/\tau_{syn}`, :math:`a_m = dt/\tau_{mem}` (``integrator="euler"``); the
    membrane uses the *updated* current. ``"exp"`` and ``"decay"`` as in
    :func:`~spikeforge.neurons.cuba_lif.cuba_lif_step`.

    Shapes:
        x, state.i, state.v, output: ``[B, *]``

    Returns:
        ``(v', new_state)``: the membrane is the output.

    Example:
        >>> s0 = CubaLIState(torch.zeros(2, 3), torch.zeros(2, 3))
        >>> v, s = cuba_li_step(torch.ones(2, 3), s0, CubaLIParams())
    """
    i = synaptic_filter(state.i, x, p, dt, integrator)
    v = leaky_integrate(state.v, i, p, dt, integrator)
    return v, CubaLIState(i=i, v=v)


@NEURONS.register("cuba_li")
class CubaLI(Neuron[CubaLIParams, CubaLIState]):
    r"""Layer of current-based leaky integrators (non-spiking readout); dynamics in :func:`cuba_li_step`.

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → membrane ``[T, B, *]``.

    Example:
        >>> v = CubaLI(tau_syn=5e-3, tau_mem=20e-3)(torch.rand(50, 4, 10))   # [50, 4, 10]
    """

    params_cls = CubaLIParams
    state_cls = CubaLIState
    step_fn = staticmethod(cuba_li_step)
    positive = ("tau_syn", "tau_mem")
    spiking = False
    time_constants = ("tau_syn", "tau_mem")
    integrators = ("euler", "exp", "decay")
    decay_params_cls = CubaLIDecayParams

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "integrator": self.integrator}

    @classmethod
    def from_decay(cls, alpha: float | Tensor, beta: float | Tensor, *, dt: float = 1e-3, **kwargs: Any) -> CubaLI:
        """Discrete-time ``i' = alpha i + x``, ``v' = beta v + i'``, exactly (see :meth:`CubaLIF.from_decay`)."""
        return cls(integrator="decay", alpha=checked_decay(alpha, "alpha"), beta=checked_decay(beta),
                   gain=1.0, gain_syn=1.0, dt=dt, **kwargs)

    def init_state(self, x: Tensor) -> CubaLIState:
        v = torch.zeros_like(x) + self.v_leak.to(dtype=x.dtype, device=x.device)
        return CubaLIState(i=torch.zeros_like(x), v=v)
