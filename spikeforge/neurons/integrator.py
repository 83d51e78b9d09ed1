"""Integrator: NIR's ``I`` primitive, a non-leaky non-spiking accumulator (output is the membrane)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._base import NEURONS, Neuron

__all__ = ["Integrator", "IntegratorParams", "IntegratorState", "integrator_step"]


class IntegratorParams(NamedTuple):
    r: Tensor | float = 1e3  # input resistance; default 1/dt gives v' = v + x at dt = 1 ms


class IntegratorState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def integrator_step(
    x: Tensor, state: IntegratorState, p: IntegratorParams, *, dt: float = 1e-3
) -> tuple[Tensor, IntegratorState]:
    r"""Advance integrators by one forward-Euler step of NIR's ``I``: :math:`\dot v = r\,x`.

    .. math:: v' = v + (dt\,r)\,x

    Args:
        x: Input current at this step.
        state: State before the step.
        p: Parameters; scalars or tensors broadcastable to ``x``.
        dt: Integration step in seconds.

    Shapes:
        x, state.v, output: ``[B, *]``

    Returns:
        ``(v', new_state)``: the membrane is the output.

    Example:
        >>> v, s = integrator_step(torch.ones(2, 3), IntegratorState(torch.zeros(2, 3)), IntegratorParams())
    """
    v = state.v + (dt * p.r) * x
    return v, IntegratorState(v=v)


@NEURONS.register("i")
class Integrator(Neuron[IntegratorParams, IntegratorState]):
    r"""Layer of perfect integrators (non-spiking); dynamics in :func:`integrator_step`.

    ``r`` defaults to ``1 / dt`` so that each step adds the input: ``v' = v + x`` (a running sum).

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → membrane ``[T, B, *]`` (the cumulative input times ``dt r``).

    Example:
        >>> v = Integrator(dt=1e-3)(torch.ones(5, 2, 3))   # v[t] = t + 1
    """

    params_cls = IntegratorParams
    state_cls = IntegratorState
    step_fn = staticmethod(integrator_step)
    integrators = ("euler", "exp")  # no time constant: the Euler step of dv/dt = r x is already exact
    spiking = False

    def __init__(self, *, dt: float = 1e-3, **kwargs: Any) -> None:
        kwargs.setdefault("r", 1.0 / float(dt))
        super().__init__(dt=dt, **kwargs)

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt}

    def init_state(self, x: Tensor) -> IntegratorState:
        return IntegratorState(v=torch.zeros_like(x))
