"""I-LIF: integer-valued LIF (integer spikes in training, unrolled to binary spikes at inference)."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from ._base import NEURONS, Neuron

__all__ = ["ILIF", "ILIFParams", "ILIFState", "ilif_step"]


class ILIFParams(NamedTuple):
    tau_mem: Tensor | float = 2e-3  # membrane time constant [s] (STEP: tau = 2 steps of dt = 1 ms)
    v_th: Tensor | float = 1.0  # threshold: one integer unit of output
    d_max: Tensor | float = 2.0  # largest integer emitted per step (STEP's D)


class ILIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def ilif_step(x: Tensor, state: ILIFState, p: ILIFParams, *, dt: float = 1e-3) -> tuple[Tensor, ILIFState]:
    r"""Advance I-LIF neurons by one step.

    .. math::
        v' = v + \frac{dt}{\tau_{mem}}(x - v),\qquad u = \mathrm{clip}(v'/v_{th}, 0, D)

        s = \mathrm{round}(u) \in \{0, 1, \dots, D\},\qquad v \leftarrow v' - s\,v_{th}

    Backward: straight-through, :math:`\partial s/\partial v' = \partial u/\partial v'`
    (:math:`1/v_{th}` inside the clip range, 0 outside). ``round`` is ``torch.round`` (halves to
    even). At inference an integer ``s`` is sent as ``s`` binary spikes (sub-steps), so the output
    is an integer *count*, not a 0/1 spike.

    Source: Luo et al., "Integer-valued training and spike-driven inference spiking neural network"
    (SpikeYOLO, ECCV 2024). The reference (``transformers.md`` §7) only names I-LIF in STEP's list
    and does not define it; the update above is STEP's ``ILIFNode`` (``cls/models/utils/node.py``:
    LIF charge, ``round(clamp(mem/th, 0, D))``, ``mem -= spikes * th``), not checked against the paper.
    No surrogate: the gradient is the clip's.

    Shapes:
        x, state.v, s: ``[B, *]``
    """
    v = state.v + (x - state.v) * (dt / p.tau_mem)
    d = torch.as_tensor(p.d_max, dtype=v.dtype, device=v.device)
    u = torch.nan_to_num(torch.minimum((v / p.v_th).clamp(min=0), d), nan=0.0)  # NaN membrane emits 0, as H(NaN)
    s_hard = u.detach().round()
    s = u + (s_hard - u.detach())  # forward: round(u); backward: du/dv
    return s, ILIFState(v=v - s_hard * p.v_th)


@NEURONS.register("ilif")
class ILIF(Neuron[ILIFParams, ILIFState]):
    r"""Layer of integer LIF neurons; dynamics in :func:`ilif_step`.

    .. math::
        v' = v + \tfrac{dt}{\tau_{mem}}(x - v),\quad s = \mathrm{round}(\mathrm{clip}(v'/v_{th}, 0, D)),\quad
        v \leftarrow v' - s v_{th}

    Emits integers in ``{0, …, D}`` per step; trained with the straight-through gradient of the
    clip (no surrogate: ``surrogate=`` is refused, ``surrogate_free``). The reset is part of the model
    (subtract ``s · v_th``).

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *]`` → integer counts ``[T, B, *]``; ``step(x, state)`` with ``x [B, *]``.

    Example:
        >>> s = ILIF()(torch.rand(8, 2, 16) * 3)   # values in {0, 1, 2}
    """

    params_cls = ILIFParams
    state_cls = ILIFState
    step_fn = staticmethod(ilif_step)
    positive = ("tau_mem", "v_th", "d_max")
    time_constants = ("tau_mem",)
    surrogate_free: ClassVar[bool] = True  # refuses surrogate=: model builders and sweeps must not pass one

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.pop("surrogate", None) is not None:  # a silently ignored surrogate is a wrong sweep cell
            raise ValueError(f"{type(self).__name__} has no surrogate: its gradient is the straight-through "
                             "gradient of the clip, so a surrogate would be ignored; do not pass surrogate=")
        if kwargs.get("reset", "subtract") != "subtract":
            raise ValueError(f"{type(self).__name__} has its own reset (v <- v - s v_th); do not pass reset=")
        kwargs.pop("reset", None)
        super().__init__(**kwargs)

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt}

    def init_state(self, x: Tensor) -> ILIFState:
        return ILIFState(v=x.new_zeros(x.shape))
