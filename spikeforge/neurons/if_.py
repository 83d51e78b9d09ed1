"""Integrate-and-fire neuron (no leak)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ..types import Quantizer, ResetFn
from ._base import NEURONS, Neuron
from ._reset import reset_subtract

__all__ = ["IF", "IFParams", "IFState", "if_step"]


class IFParams(NamedTuple):
    r: Tensor | float = 1e3  # input resistance; default 1/dt gives v' = v + x at dt = 1 ms
    v_th: Tensor | float = 1.0  # firing threshold
    v_reset: Tensor | float = 0.0  # value after a spike with reset="value"


class IFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def if_step(
    x: Tensor,
    state: IFState,
    p: IFParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = ATan(),
    reset: ResetFn = reset_subtract,
    detach_reset: bool = False,
    state_quant: Quantizer | None = None,
) -> tuple[Tensor, IFState]:
    r"""Advance IF neurons by one forward-Euler step of NIR's ``IF``: :math:`\dot v = r\,x`.

    .. math:: v' = v + (dt\,r)\,x,\quad z = H(v' - v_{th}),\quad v \leftarrow \mathrm{reset}(v', z)

    ``state_quant`` (optional, SQUAT) rounds :math:`v'` before the spike test.

    Shapes:
        x, state.v, z: ``[B, *]``

    Example:
        >>> z, s = if_step(torch.ones(2, 3), IFState(torch.zeros(2, 3)), IFParams())
    """
    v = state.v + (dt * p.r) * x
    if state_quant is not None:  # SQUAT: round the updated membrane before the spike test
        v = state_quant(v)
    z = surrogate(v - p.v_th)
    v = reset(v, z.detach() if detach_reset else z, p.v_th, p.v_reset)
    return z, IFState(v=v)


@NEURONS.register("if")
class IF(Neuron[IFParams, IFState]):
    r"""Layer of integrate-and-fire neurons; dynamics in :func:`if_step`.

    ``r`` defaults to ``1 / dt`` so that each step adds the input: ``v' = v + x``.

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → spikes ``[T, B, *]``.

    Example:
        >>> zs = IF()(torch.rand(10, 4, 16))
    """

    params_cls = IFParams
    state_cls = IFState
    step_fn = staticmethod(if_step)
    integrators = ("euler", "exp")  # no time constant: the Euler step of dv/dt = r x is already exact

    def __init__(self, *, dt: float = 1e-3, **kwargs: object) -> None:
        kwargs.setdefault("r", 1.0 / float(dt))
        super().__init__(dt=dt, **kwargs)  # type: ignore[arg-type]

    def init_state(self, x: Tensor) -> IFState:
        return IFState(v=torch.zeros_like(x))
