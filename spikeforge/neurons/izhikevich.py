"""Izhikevich neuron (Izhikevich, IEEE TNN 2003)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ..types import ResetFn
from ._base import NEURONS, Neuron

__all__ = ["Izhikevich", "IzhikevichParams", "IzhikevichState", "izhikevich_step", "IZHIKEVICH_PRESETS"]


class IzhikevichParams(NamedTuple):
    a: Tensor | float = 0.02  # recovery time scale [1/ms]
    b: Tensor | float = 0.2  # sensitivity of recovery to v
    c: Tensor | float = -65.0  # after-spike reset of v [mV]
    d: Tensor | float = 8.0  # after-spike increment of u
    v_th: Tensor | float = 30.0  # spike cut-off [mV]


class IzhikevichState(NamedTuple):
    v: Tensor  # membrane potential [mV] [B, *]
    u: Tensor  # recovery variable [B, *]


IZHIKEVICH_PRESETS: dict[str, dict[str, float]] = {
    # Izhikevich (2003), Fig. 2: (a, b, c, d)
    "regular_spiking": {"a": 0.02, "b": 0.2, "c": -65.0, "d": 8.0},
    "intrinsically_bursting": {"a": 0.02, "b": 0.2, "c": -55.0, "d": 4.0},
    "chattering": {"a": 0.02, "b": 0.2, "c": -50.0, "d": 2.0},
    "fast_spiking": {"a": 0.1, "b": 0.2, "c": -65.0, "d": 2.0},
    "low_threshold_spiking": {"a": 0.02, "b": 0.25, "c": -65.0, "d": 2.0},
}


def izhikevich_step(
    x: Tensor,
    state: IzhikevichState,
    p: IzhikevichParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = ATan(alpha=0.1),
    reset: ResetFn | None = None,
    detach_reset: bool = False,
) -> tuple[Tensor, IzhikevichState]:
    r"""Advance Izhikevich neurons by one forward-Euler step (time in ms inside the model).

    .. math::
        \dot v = 0.04 v^2 + 5 v + 140 - u + x,\qquad \dot u = a (b v - u)

        z = H(v' - v_{th});\quad \text{if } z: v \leftarrow c,\ u \leftarrow u + d

    ``dt`` is in seconds and converted to ms (``h = 1000 dt``). The reset is part of the model
    (``reset`` is ignored).

    Shapes:
        x, state.v, state.u, z: ``[B, *]``

    Example:
        >>> s0 = IzhikevichState(torch.full((1,), -65.0), torch.full((1,), -13.0))
        >>> z, s = izhikevich_step(torch.full((1,), 10.0), s0, IzhikevichParams(), dt=0.5e-3)
    """
    h = dt * 1e3
    v, u = state.v, state.u
    v_new = v + h * (0.04 * v * v + 5 * v + 140 - u + x)
    u_new = u + h * (p.a * (p.b * v - u))
    z = surrogate(v_new - p.v_th)
    zr = z.detach() if detach_reset else z
    v_new = v_new * (1 - zr) + zr * p.c
    u_new = u_new + zr * p.d
    return z, IzhikevichState(v=v_new, u=u_new)


@NEURONS.register("izhikevich")
class Izhikevich(Neuron[IzhikevichParams, IzhikevichState]):
    r"""Layer of Izhikevich neurons; dynamics in :func:`izhikevich_step`.

    Starts from rest ``v = c``, ``u = b c``. Use ``Izhikevich.preset("fast_spiking")`` for the
    published firing classes. Input ``x`` is a current in the model's units (≈ 0–20).

    Example:
        >>> zs = Izhikevich(dt=0.5e-3)(torch.full((400, 1, 1), 10.0))
    """

    params_cls = IzhikevichParams
    state_cls = IzhikevichState
    step_fn = staticmethod(izhikevich_step)
    state_quant_field = None  # SQUAT levels do not fit this membrane (see no_state_quant)
    no_state_quant = ("its membrane is a voltage [mV] resting near c = -65, outside a level set in "
                      "[-v_th(1+lower), v_th(1+upper)], and v_th is the spike peak, not a decision threshold")
    positive = ("a",)

    def __init__(self, *, surrogate: Any = ATan(alpha=0.1), **kwargs: Any) -> None:
        if kwargs.get("reset", "subtract") != "subtract":
            raise ValueError("Izhikevich has its own reset (v <- c, u <- u + d); do not pass reset=")
        kwargs.pop("reset", None)
        super().__init__(surrogate=surrogate, **kwargs)

    @classmethod
    def preset(cls, name: str, **kwargs: Any) -> Izhikevich:
        """Neuron with the (a, b, c, d) of a published firing class; see ``IZHIKEVICH_PRESETS``."""
        if name not in IZHIKEVICH_PRESETS:
            raise ValueError(f"unknown Izhikevich preset {name!r}; valid: {sorted(IZHIKEVICH_PRESETS)}")
        return cls(**{**IZHIKEVICH_PRESETS[name], **kwargs})

    def validate(self) -> None:
        super().validate()
        if not bool(torch.all(self.v_th > self.c)):
            raise ValueError(f"Izhikevich: threshold v_th must be > reset value c, got v_th={self.v_th}, c={self.c}")

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "surrogate": self.surrogate, "detach_reset": self.detach_reset}

    def init_state(self, x: Tensor) -> IzhikevichState:
        c = self.c.to(dtype=x.dtype, device=x.device)
        b = self.b.to(dtype=x.dtype, device=x.device)
        v = torch.zeros_like(x) + c
        return IzhikevichState(v=v, u=b * v)
