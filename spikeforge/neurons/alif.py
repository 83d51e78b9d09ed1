"""Adaptive LIF: a LIF whose threshold rises with each spike and decays back."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ..types import ResetFn
from ._base import NEURONS, Neuron
from ._dynamics import leaky_integrate, step_fractions
from ._reset import reset_subtract

__all__ = ["ALIF", "ALIFParams", "ALIFState", "alif_step"]


class ALIFParams(NamedTuple):
    tau_mem: Tensor | float = 20e-3  # membrane time constant [s]
    tau_adapt: Tensor | float = 200e-3  # adaptation time constant [s]
    adapt: Tensor | float = 0.2  # threshold increase per unit of adaptation variable
    r: Tensor | float = 1.0  # input resistance
    v_leak: Tensor | float = 0.0  # resting potential
    v_th: Tensor | float = 1.0  # baseline threshold
    v_reset: Tensor | float = 0.0  # value after a spike with reset="value"


class ALIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]
    a: Tensor  # adaptation variable [B, *]


def alif_step(
    x: Tensor,
    state: ALIFState,
    p: ALIFParams,
    *,
    dt: float = 1e-3,
    integrator: str = "euler",
    surrogate: Surrogate = ATan(),
    reset: ResetFn = reset_subtract,
    detach_reset: bool = False,
) -> tuple[Tensor, ALIFState]:
    r"""Advance adaptive-threshold LIF neurons (Bellec et al., 2018) by one step.

    .. math::
        v' = (1 - a_m)\,v + a_m r\,x + a_m v_{leak},\quad a_m = dt/\tau_{mem}

        \theta = v_{th} + \mathrm{adapt}\cdot a,\quad z = H(v' - \theta),\quad
        v \leftarrow \mathrm{reset}(v', z; \theta)

        a' = (1 - dt/\tau_{adapt})\,a + z

    Subtractive reset removes the *effective* threshold :math:`\theta`. With
    ``integrator="exp"`` both decays are exact: :math:`e^{-dt/\tau_{mem}}` (and
    :math:`a_m = 1 - e^{-dt/\tau_{mem}}`), :math:`e^{-dt/\tau_{adapt}}`.

    Shapes:
        x, state.v, state.a, z: ``[B, *]``

    Example:
        >>> s0 = ALIFState(torch.zeros(2, 3), torch.zeros(2, 3))
        >>> z, s = alif_step(torch.ones(2, 3) * 30, s0, ALIFParams())
    """
    v = leaky_integrate(state.v, x, p, dt, integrator)
    theta = p.v_th + p.adapt * state.a
    z = surrogate(v - theta)
    v = reset(v, z.detach() if detach_reset else z, theta, p.v_reset)
    a = step_fractions(p.tau_adapt, dt, integrator)[0] * state.a + z
    return z, ALIFState(v=v, a=a)


@NEURONS.register("alif")
class ALIF(Neuron[ALIFParams, ALIFState]):
    r"""Layer of adaptive LIF neurons; dynamics in :func:`alif_step`.

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → spikes ``[T, B, *]``.

    Example:
        >>> zs = ALIF(tau_adapt=100e-3, adapt=0.5)(torch.rand(100, 4, 32) * 30)
    """

    params_cls = ALIFParams
    state_cls = ALIFState
    step_fn = staticmethod(alif_step)
    positive = ("tau_mem", "tau_adapt")
    time_constants = ("tau_mem", "tau_adapt")
    integrators = ("euler", "exp")

    def step_kwargs(self) -> dict[str, Any]:
        return {**super().step_kwargs(), "integrator": self.integrator}

    def validate(self) -> None:
        super().validate()
        if not bool(torch.all(torch.as_tensor(self.params().adapt) >= 0)):
            raise ValueError(f"ALIF: adapt must be >= 0, got {self.params().adapt}")

    def init_state(self, x: Tensor) -> ALIFState:
        v = torch.zeros_like(x) + self.v_leak.to(dtype=x.dtype, device=x.device)
        return ALIFState(v=v, a=torch.zeros_like(x))
