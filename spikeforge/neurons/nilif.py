"""NI-LIF: normalised integer LIF (the integer level divided by D and rounded to a binary spike)."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from ._base import NEURONS, Neuron

__all__ = ["NILIF", "NILIFParams", "NILIFState", "nilif_step"]


class NILIFParams(NamedTuple):
    tau_mem: Tensor | float = 2e-3  # membrane time constant [s] (STEP: tau = 2 steps of dt = 1 ms)
    v_th: Tensor | float = 1.0  # threshold (subtracted on a spike)
    d_max: Tensor | float = 2.0  # normalisation level D (STEP's D)


class NILIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def nilif_step(x: Tensor, state: NILIFState, p: NILIFParams, *, dt: float = 1e-3) -> tuple[Tensor, NILIFState]:
    r"""Advance NI-LIF neurons by one step.

    .. math::
        v' = v + \frac{dt}{\tau_{mem}}(x - v),\qquad u = \mathrm{clip}(v'/v_{th}, 0, D) / D \in [0, 1]

        s = \mathrm{round}(u) \in \{0, 1\},\qquad v \leftarrow v' - s\,v_{th}

    Backward: straight-through, :math:`\partial s/\partial v' = \partial u/\partial v'`
    (:math:`1/(D v_{th})` inside the clip range, 0 outside). ``round`` halves to even, so a spike
    needs :math:`v' > D v_{th}/2` (for ``D = 2``: ``v' > v_th``), while the reset subtracts
    ``v_th`` only.

    The reference (``transformers.md`` §7) only names NI-LIF in STEP's list, with no definition
    or paper; the update above is STEP's ``NILIFNode`` (``cls/models/utils/node.py``) as written,
    including the reset by ``v_th`` (not ``D v_th``), not checked against any paper.

    Shapes:
        x, state.v, s: ``[B, *]``
    """
    v = state.v + (x - state.v) * (dt / p.tau_mem)
    d = torch.as_tensor(p.d_max, dtype=v.dtype, device=v.device)
    u = torch.nan_to_num(torch.minimum((v / p.v_th).clamp(min=0), d) / d, nan=0.0)  # NaN membrane emits 0, as H(NaN)
    s_hard = u.detach().round()
    s = u + (s_hard - u.detach())  # forward: round(u); backward: du/dv
    return s, NILIFState(v=v - s_hard * p.v_th)


@NEURONS.register("nilif")
class NILIF(Neuron[NILIFParams, NILIFState]):
    r"""Layer of normalised integer LIF neurons (binary output); dynamics in :func:`nilif_step`.

    .. math::
        v' = v + \tfrac{dt}{\tau_{mem}}(x - v),\quad s = \mathrm{round}(\mathrm{clip}(v'/v_{th}, 0, D)/D),\quad
        v \leftarrow v' - s v_{th}

    Straight-through gradient of the clip (no surrogate: ``surrogate=`` is refused, ``surrogate_free``); own reset.

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *]`` → spikes ``[T, B, *]``; ``step(x, state)`` with ``x [B, *]``.

    Example:
        >>> zs = NILIF()(torch.rand(8, 2, 16) * 3)
    """

    params_cls = NILIFParams
    state_cls = NILIFState
    step_fn = staticmethod(nilif_step)
    positive = ("tau_mem", "v_th", "d_max")
    time_constants = ("tau_mem",)
    surrogate_free: ClassVar[bool] = True  # refuses surrogate=: model builders and sweeps must not pass one

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.pop("surrogate", None) is not None:  # a silently ignored surrogate is a wrong sweep cell
            raise ValueError(f"{type(self).__name__} has no surrogate: its gradient is the straight-through "
                             "gradient of the clip, so a surrogate would be ignored; do not pass surrogate=")
        if kwargs.get("reset", "subtract") != "subtract":
            raise ValueError("NILIF has its own reset (v <- v - s v_th); do not pass reset=")
        kwargs.pop("reset", None)
        super().__init__(**kwargs)

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt}

    def init_state(self, x: Tensor) -> NILIFState:
        return NILIFState(v=x.new_zeros(x.shape))
