"""Burst integrate-and-fire neuron: several spikes per step for ANN→SNN conversion."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ._base import NEURONS, Neuron

__all__ = ["BurstIF", "BurstIFParams", "BurstIFState", "burst_if_step"]


class BurstIFParams(NamedTuple):
    r: Tensor | float = 1e3  # input resistance; default 1/dt gives v' = v + x at dt = 1 ms
    v_th: Tensor | float = 1.0  # threshold θ (> 0); each spike of a burst carries θ


class BurstIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def burst_if_step(
    x: Tensor,
    state: BurstIFState,
    p: BurstIFParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = ATan(),
    max_burst: int = 5,
    detach_reset: bool = False,
) -> tuple[Tensor, BurstIFState]:
    r"""Advance burst IF neurons (Li & Zeng, IJCAI 2022) by one step.

    .. math::
        v' = v + (dt\,r)\,x,\qquad n = \min\big(\max(\lfloor v'/\theta \rfloor, 0), \Gamma\big),\qquad
        v \leftarrow v' - \theta\,n

    The membrane above threshold is released at once as a burst of ``n`` spikes instead of one
    per step, so a neuron driven above ``θ`` does not fall behind. The backward pass uses the
    surrogate of the first spike, :math:`\partial n/\partial v' := \mathrm{SG}(v' - \theta)`.
    ``max_burst`` is Γ (the paper's default is not known to us; 5 here).

    Shapes:
        x, state.v, n: ``[B, *]``; ``n`` in ``{0, 1, …, Γ}``.

    Example:
        >>> n, st = burst_if_step(torch.tensor([3.7]), BurstIFState(torch.zeros(1)), BurstIFParams(), max_burst=5)
        >>> n.item(), round(st.v.item(), 4)
        (3.0, 0.7)
    """
    v = state.v + (dt * p.r) * x
    first = surrogate(v - p.v_th)  # value H(v' - θ), gradient the surrogate
    count = torch.where(first.detach() > 0, torch.clamp(torch.floor(v / p.v_th), max=float(max_burst)),
                        torch.zeros_like(v))  # H(NaN) = 0: a NaN membrane emits nothing
    n = first + (count - first).detach()
    v = v - p.v_th * (n.detach() if detach_reset else n)
    return n, BurstIFState(v=v)


@NEURONS.register("burst_if")
class BurstIF(Neuron[BurstIFParams, BurstIFState]):
    r"""Layer of burst IF neurons; dynamics in :func:`burst_if_step`.

    For ANN→SNN conversion (``convert(..., neuron="burst_if")``): outputs are spike *counts* in
    ``{0, …, Γ}``, so event counts should weigh each output by its multiplicity.

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → spike counts ``[T, B, *]``.

    Example:
        >>> ns = BurstIF(max_burst=3)(torch.rand(10, 4, 16) * 4)
    """

    params_cls = BurstIFParams
    state_cls = BurstIFState
    step_fn = staticmethod(burst_if_step)
    positive = ("v_th",)
    integrators = ("euler", "exp")  # no time constant: the Euler step of dv/dt = r x is exact

    def __init__(self, *, max_burst: int = 5, dt: float = 1e-3, **kwargs: Any) -> None:
        if kwargs.get("reset", "subtract") != "subtract":
            raise ValueError("BurstIF always resets by subtraction (v <- v - θ n); do not pass reset=")
        if isinstance(max_burst, bool) or not isinstance(max_burst, int) or max_burst < 1:
            raise ValueError(f"BurstIF: max_burst must be a whole number of spikes >= 1, got {max_burst!r}")
        self.max_burst = max_burst
        kwargs.setdefault("r", 1.0 / float(dt))
        super().__init__(dt=dt, **kwargs)

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "surrogate": self.surrogate, "max_burst": self.max_burst,
                "detach_reset": self.detach_reset}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, max_burst={self.max_burst}"

    def init_state(self, x: Tensor) -> BurstIFState:
        return BurstIFState(v=torch.zeros_like(x))
