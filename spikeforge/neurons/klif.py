"""KLIF: LIF with a learnable scale ``k`` on the membrane and a ReLU (Jiang & Zhang, ICASSP 2023)."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import Tensor

from ..surrogate import Sigmoid, Surrogate
from ..types import ResetFn
from ._base import NEURONS, Neuron
from ._reset import reset_zero

__all__ = ["KLIF", "KLIFParams", "KLIFState", "klif_step"]


class KLIFParams(NamedTuple):
    tau_mem: Tensor | float = 2e-3  # membrane time constant [s] (STEP: tau = 2 steps of dt = 1 ms)
    k: Tensor | float = 1.0  # learnable membrane scale (KLIF's "k", initialised to 1)
    v_th: Tensor | float = 1.0  # firing threshold
    v_reset: Tensor | float = 0.0  # value after a spike with reset="value"


class KLIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def klif_step(
    x: Tensor,
    state: KLIFState,
    p: KLIFParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = Sigmoid(alpha=4.0),
    reset: ResetFn = reset_zero,
    detach_reset: bool = False,
) -> tuple[Tensor, KLIFState]:
    r"""Advance KLIF neurons by one step.

    .. math::
        v' = v + \frac{dt}{\tau_{mem}}(x - v),\qquad v' \leftarrow \mathrm{ReLU}(k\,v')

        z = H(v' - v_{th}),\qquad v \leftarrow \mathrm{reset}(v', z)

    Source: Jiang & Zhang, "KLIF: an optimized spiking neuron unit for tuning surrogate gradient
    slope and membrane potential", ICASSP 2023 (arXiv 2302.09238). The reference
    (``transformers.md`` §7) only names KLIF in STEP's neuron list; the update above is the one in
    STEP's ``cls/models/utils/node.py`` (``KLIFNode``: LIF charge, ``mem *= k``, ReLU, spike,
    ``mem *= 1 - spike``), so the default reset is ``"zero"``. With ``dt = 1 ms``,
    ``tau_mem = 2 ms`` is STEP's ``tau = 2``.

    Shapes:
        x, state.v, z: ``[B, *]``
    """
    v = state.v + (x - state.v) * (dt / p.tau_mem)
    v = (p.k * v).relu()
    z = surrogate(v - p.v_th)
    v = reset(v, z.detach() if detach_reset else z, p.v_th, p.v_reset)
    return z, KLIFState(v=v)


@NEURONS.register("klif")
class KLIF(Neuron[KLIFParams, KLIFState]):
    r"""Layer of KLIF neurons (a LIF whose membrane is scaled by a learnable ``k`` and rectified);
    dynamics in :func:`klif_step`.

    .. math:: v' = \mathrm{ReLU}\big(k\,(v + \tfrac{dt}{\tau_{mem}}(x - v))\big),\quad z = H(v' - v_{th})

    ``k`` is learned by default (``learn=("k",)``); surrogate ``sigmoid`` (α = 4) and reset to
    zero by default, as in STEP.

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *]`` → spikes ``[T, B, *]``; ``step(x, state)`` with ``x [B, *]``.

    Example:
        >>> zs = KLIF(size=16)(torch.rand(8, 2, 16) * 3)
    """

    params_cls = KLIFParams
    state_cls = KLIFState
    step_fn = staticmethod(klif_step)
    positive = ("tau_mem",)
    time_constants = ("tau_mem",)

    def __init__(self, *, learn: Any = ("k",), surrogate: Any = "sigmoid", reset: Any = "zero",
                 **kwargs: Any) -> None:
        super().__init__(learn=learn, surrogate=Sigmoid(alpha=4.0) if surrogate == "sigmoid" else surrogate,
                         reset=reset, **kwargs)

    def init_state(self, x: Tensor) -> KLIFState:
        return KLIFState(v=x.new_zeros(x.shape))
