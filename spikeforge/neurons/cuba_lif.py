"""Current-based LIF: a synaptic current filter feeding a LIF membrane."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ..types import ResetFn
from ._dynamics import leaky_integrate, synaptic_filter
from ._base import NEURONS, Neuron, tau_from_decay
from ._reset import reset_subtract

__all__ = ["CubaLIF", "CubaLIFParams", "CubaLIFState", "cuba_lif_step"]


class CubaLIFParams(NamedTuple):
    tau_syn: Tensor | float = 5e-3  # synaptic current time constant [s]
    tau_mem: Tensor | float = 10e-3  # membrane time constant [s]
    r: Tensor | float = 1.0  # input resistance (current → voltage)
    v_leak: Tensor | float = 0.0  # resting potential
    v_th: Tensor | float = 1.0  # firing threshold
    v_reset: Tensor | float = 0.0  # value after a spike with reset="value"
    w_in: Tensor | float = 1.0  # input weight onto the synaptic current


class CubaLIFState(NamedTuple):
    i: Tensor  # synaptic current [B, *]
    v: Tensor  # membrane potential [B, *]


def cuba_lif_step(
    x: Tensor,
    state: CubaLIFState,
    p: CubaLIFParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = ATan(),
    reset: ResetFn = reset_subtract,
    detach_reset: bool = False,
) -> tuple[Tensor, CubaLIFState]:
    r"""Advance current-based LIF neurons by one forward-Euler step of NIR's ``CubaLIF``.

    .. math::
        \tau_{syn}\dot i = -i + w_{in} x,\qquad \tau_{mem}\dot v = (v_{leak} - v) + r\,i

        i' = (1 - a_s)\,i + a_s w_{in} x,\quad v' = (1 - a_m)\,v + a_m r\,i' + a_m v_{leak}

        z = H(v' - v_{th}),\quad v \leftarrow \mathrm{reset}(v', z)

    with :math:`a_s = dt/\tau_{syn}`, :math:`a_m = dt/\tau_{mem}`; the membrane uses the
    *updated* current (as Norse and snnTorch do).

    Shapes:
        x, state.i, state.v, z: ``[B, *]``

    Example:
        >>> s0 = CubaLIFState(torch.zeros(2, 3), torch.zeros(2, 3))
        >>> z, s = cuba_lif_step(torch.ones(2, 3), s0, CubaLIFParams())
    """
    i = synaptic_filter(state.i, x, p.tau_syn, p.w_in, dt)
    v = leaky_integrate(state.v, i, p.tau_mem, p.r, p.v_leak, dt)
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

    def init_state(self, x: Tensor) -> CubaLIFState:
        v = torch.zeros_like(x) + self.v_leak.to(dtype=x.dtype, device=x.device)
        return CubaLIFState(i=torch.zeros_like(x), v=v)

    @classmethod
    def from_decay(cls, alpha: float, beta: float, *, dt: float = 1e-3, **kwargs: Any) -> CubaLIF:
        """Discrete-time ``i' = alpha i + x``, ``v' = beta v + i'`` (snnTorch's ``Synaptic``)."""
        tau_syn, tau_mem = tau_from_decay(alpha, dt), tau_from_decay(beta, dt)
        return cls(tau_syn=tau_syn, tau_mem=tau_mem, w_in=tau_syn / dt, r=tau_mem / dt, dt=dt, **kwargs)
