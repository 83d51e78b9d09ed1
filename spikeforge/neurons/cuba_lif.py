"""Current-based LIF: a synaptic current filter feeding a LIF membrane."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ..types import ResetFn
from ._base import NEURONS, Neuron
from ._dynamics import checked_decay, leaky_integrate, synaptic_filter
from ._reset import reset_subtract

__all__ = ["CubaLIF", "CubaLIFDecayParams", "CubaLIFParams", "CubaLIFState", "cuba_lif_step"]


class CubaLIFParams(NamedTuple):
    tau_syn: Tensor | float = 5e-3  # synaptic current time constant [s]
    tau_mem: Tensor | float = 10e-3  # membrane time constant [s]
    r: Tensor | float = 1.0  # input resistance (current → voltage)
    v_leak: Tensor | float = 0.0  # resting potential
    v_th: Tensor | float = 1.0  # firing threshold
    v_reset: Tensor | float = 0.0  # value after a spike with reset="value"
    w_in: Tensor | float = 1.0  # input weight onto the synaptic current


class CubaLIFDecayParams(NamedTuple):  # stored with integrator="decay" (discrete time)
    alpha: Tensor | float = 0.8  # synaptic current decay per step, in [0, 1)
    beta: Tensor | float = 0.9  # membrane decay per step, in [0, 1)
    gain: Tensor | float = 1.0  # gain per step from current to voltage
    v_leak: Tensor | float = 0.0  # resting potential
    v_th: Tensor | float = 1.0  # firing threshold
    v_reset: Tensor | float = 0.0  # value after a spike with reset="value"
    gain_syn: Tensor | float = 1.0  # input gain per step onto the synaptic current


class CubaLIFState(NamedTuple):
    i: Tensor  # synaptic current [B, *]
    v: Tensor  # membrane potential [B, *]


def cuba_lif_step(
    x: Tensor,
    state: CubaLIFState,
    p: CubaLIFParams | CubaLIFDecayParams,
    *,
    dt: float = 1e-3,
    integrator: str = "euler",
    surrogate: Surrogate = ATan(),
    reset: ResetFn = reset_subtract,
    detach_reset: bool = False,
) -> tuple[Tensor, CubaLIFState]:
    r"""Advance current-based LIF neurons by one step of NIR's ``CubaLIF``.

    .. math::
        \tau_{syn}\dot i = -i + w_{in} x,\qquad \tau_{mem}\dot v = (v_{leak} - v) + r\,i

        i' = (1 - a_s)\,i + a_s w_{in} x,\quad v' = (1 - a_m)\,v + a_m r\,i' + a_m v_{leak}

        z = H(v' - v_{th}),\quad v \leftarrow \mathrm{reset}(v', z)

    with :math:`a_s = dt/\tau_{syn}`, :math:`a_m = dt/\tau_{mem}` for ``integrator="euler"``; the
    membrane uses the *updated* current (as Norse and snnTorch do). ``"exp"`` replaces each decay
    :math:`1 - a` by :math:`e^{-dt/\tau}` and :math:`a` by :math:`1 - e^{-dt/\tau}`; ``"decay"``
    takes a :class:`CubaLIFDecayParams`: :math:`i' = \alpha i + \mathrm{gain_{syn}} x`,
    :math:`v' = \beta v + \mathrm{gain}\,i' + (1 - \beta) v_{leak}` (see :mod:`._dynamics`).

    Shapes:
        x, state.i, state.v, z: ``[B, *]``

    Example:
        >>> s0 = CubaLIFState(torch.zeros(2, 3), torch.zeros(2, 3))
        >>> z, s = cuba_lif_step(torch.ones(2, 3), s0, CubaLIFParams())
    """
    i = synaptic_filter(state.i, x, p, dt, integrator)
    v = leaky_integrate(state.v, i, p, dt, integrator)
    z = surrogate(v - p.v_th)
    v = reset(v, z.detach() if detach_reset else z, p.v_th, p.v_reset)
    return z, CubaLIFState(i=i, v=v)


@NEURONS.register("cuba_lif")
class CubaLIF(Neuron[CubaLIFParams, CubaLIFState]):
    r"""Layer of current-based LIF neurons; dynamics in :func:`cuba_lif_step`.

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → spikes ``[T, B, *]``.

    Example:
        >>> zs = CubaLIF(tau_syn=5e-3, tau_mem=10e-3)(torch.rand(100, 4, 32) * 4)
    """

    params_cls = CubaLIFParams
    state_cls = CubaLIFState
    step_fn = staticmethod(cuba_lif_step)
    positive = ("tau_syn", "tau_mem")
    time_constants = ("tau_syn", "tau_mem")
    integrators = ("euler", "exp", "decay")
    decay_params_cls = CubaLIFDecayParams

    def step_kwargs(self) -> dict[str, Any]:
        return {**super().step_kwargs(), "integrator": self.integrator}

    def init_state(self, x: Tensor) -> CubaLIFState:
        v = torch.zeros_like(x) + self.v_leak.to(dtype=x.dtype, device=x.device)
        return CubaLIFState(i=torch.zeros_like(x), v=v)

    @classmethod
    def from_decay(cls, alpha: float | Tensor, beta: float | Tensor, *, dt: float = 1e-3,
                   **kwargs: Any) -> CubaLIF:
        """Discrete-time ``i' = alpha i + x``, ``v' = beta v + i'``, computed exactly so.

        Stores the decays and gains 1 themselves (``integrator="decay"``,
        :class:`CubaLIFDecayParams`); ``params()`` reports ``tau_syn = dt / (1 - alpha)``,
        ``w_in = tau_syn / dt``, ``tau_mem = dt / (1 - beta)``, ``r = tau_mem / dt``.
        ``snntorch.Synaptic(alpha, beta, reset_delay=False)`` corresponds as stated in
        :meth:`LIF.from_decay` (its zero reset leaves the current alone, as ours does).
        """
        return cls(integrator="decay", alpha=checked_decay(alpha, "alpha"), beta=checked_decay(beta),
                   gain=1.0, gain_syn=1.0, dt=dt, **kwargs)
