"""CLIF: complementary leaky integrate-and-fire neuron (Huang et al., ICML 2024)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import Rectangle, Surrogate
from ._base import NEURONS, Neuron

__all__ = ["CLIF", "CLIFParams", "CLIFState", "clif_step"]


class CLIFParams(NamedTuple):
    tau_mem: Tensor | float = 2e-3  # membrane time constant [s] (STEP: tau = 2 steps of dt = 1 ms)
    v_th: Tensor | float = 1.0  # firing threshold


class CLIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]
    m: Tensor  # complementary memory [B, *]


def clif_step(
    x: Tensor,
    state: CLIFState,
    p: CLIFParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = Rectangle(width=1.0),
    detach_reset: bool = False,
) -> tuple[Tensor, CLIFState]:
    r"""Advance CLIF neurons by one step (time constant in steps: :math:`\tau = \tau_{mem}/dt`).

    .. math::
        v' = (1 - 1/\tau)\,v + x \qquad \text{(charge, input not decayed)}

        m' = m\,\sigma(v'/\tau) \qquad \text{(forming)}

        z = H(v' - v_{th}),\qquad m'' = m' + z \qquad \text{(strengthen)}

        v'' = v' - z\,v_{th} - z\,\sigma(m'') \qquad \text{(soft reset, then complementary reset)}

    Source: Huang, Ding, Yu et al., "CLIF: Complementary Leaky Integrate-and-Fire Neuron for Spiking
    Neural Networks", ICML 2024 (arXiv 2402.04663). The reference (``transformers.md`` §7) names
    CLIF and its rectangle surrogate but gives no equations; the update above is STEP's
    ``ComplementaryLIFNeuron`` (``cls/models/utils/node.py``: ``decay_input=False``, ``v_reset=None``,
    rectangle of width ``v_th = 1``). The reset is part of the model.

    Shapes:
        x, state.v, state.m, z: ``[B, *]``
    """
    tau = p.tau_mem / dt  # in steps
    v = state.v * (1 - 1 / tau) + x
    m = state.m * torch.sigmoid(v / tau)
    z = surrogate(v - p.v_th)
    zr = z.detach() if detach_reset else z
    m = m + z
    v = v - zr * p.v_th
    v = v - zr * torch.sigmoid(m)
    return z, CLIFState(v=v, m=m)


@NEURONS.register("clif")
class CLIF(Neuron[CLIFParams, CLIFState]):
    r"""Layer of complementary LIF neurons; dynamics in :func:`clif_step`.

    .. math::
        v' = (1 - \tfrac{dt}{\tau_{mem}})v + x,\ m' = m\,\sigma(\tfrac{dt}{\tau_{mem}} v') + z,\
        v \leftarrow v' - z(v_{th} + \sigma(m'))

    The complementary memory ``m`` grows with each spike and decays with a membrane-dependent
    sigmoid gate; it deepens the reset after bursts. Surrogate: ``rectangle`` (width 1), as in STEP.

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *]`` → spikes ``[T, B, *]``; ``step(x, state)`` with ``x [B, *]``.

    Example:
        >>> zs = CLIF()(torch.rand(8, 2, 16) * 3)
    """

    params_cls = CLIFParams
    state_cls = CLIFState
    step_fn = staticmethod(clif_step)
    positive = ("tau_mem",)
    time_constants = ("tau_mem",)

    def __init__(self, *, surrogate: Any = "rectangle", **kwargs: Any) -> None:
        if kwargs.get("reset", "subtract") != "subtract":
            raise ValueError("CLIF has its own reset (v <- v - z (v_th + sigmoid(m))); do not pass reset=")
        kwargs.pop("reset", None)
        super().__init__(surrogate=surrogate, **kwargs)

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "surrogate": self.surrogate, "detach_reset": self.detach_reset}

    def init_state(self, x: Tensor) -> CLIFState:
        return CLIFState(v=x.new_zeros(x.shape), m=x.new_zeros(x.shape))
