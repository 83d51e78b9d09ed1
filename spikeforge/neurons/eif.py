"""Exponential integrate-and-fire neuron (Fourcaud-Trocmé et al., J. Neurosci. 2003)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import Sigmoid, Surrogate
from ..types import ResetFn
from ._base import NEURONS, Neuron
from ._reset import reset_to_value

__all__ = ["EIF", "EIFParams", "EIFState", "eif_step"]


class EIFParams(NamedTuple):
    tau_mem: Tensor | float = 2e-3  # membrane time constant [s] (STEP: tau = 2 steps of dt = 1 ms)
    delta_t: Tensor | float = 1.0  # slope factor Δ_T of the exponential upswing
    theta_rh: Tensor | float = 0.8  # rheobase threshold θ_rh (where the exponential takes over)
    v_th: Tensor | float = 1.0  # spike cut-off (numerical threshold)
    v_reset: Tensor | float = -0.1  # value after a spike (STEP's default)


class EIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def eif_step(
    x: Tensor,
    state: EIFState,
    p: EIFParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = Sigmoid(alpha=4.0),
    reset: ResetFn = reset_to_value,
    detach_reset: bool = False,
) -> tuple[Tensor, EIFState]:
    r"""Advance EIF neurons by one forward-Euler step.

    .. math::
        \tau_{mem}\dot v = -v + \Delta_T\,e^{(v - \theta_{rh})/\Delta_T} + x

        v' = v + \frac{dt}{\tau_{mem}}\big(x - v + \Delta_T e^{(v - \theta_{rh})/\Delta_T}\big)

        z = H(v' - v_{th}),\qquad v \leftarrow \mathrm{reset}(v', z) \ (\text{default: to } v_{reset})

    Source: Fourcaud-Trocmé, Hansel, van Vreeswijk & Brunel, J. Neurosci. 23(37), 2003. The
    reference (``transformers.md`` §7) only names EIF in STEP's list; the discretisation and the
    defaults (``Δ_T = 1``, ``θ_rh = 0.8``, ``v_reset = -0.1``, ``τ = 2`` steps) are STEP's
    ``EIFNode`` (``cls/models/utils/node.py``). Without a reset to a value the exponential term
    diverges in finite time, so the module only accepts ``reset="value"`` or ``"zero"``.

    Shapes:
        x, state.v, z: ``[B, *]``
    """
    v = state.v
    v = v + (x - v + p.delta_t * torch.exp((v - p.theta_rh) / p.delta_t)) * (dt / p.tau_mem)
    z = surrogate(v - p.v_th)
    v = reset(v, z.detach() if detach_reset else z, p.v_th, p.v_reset)
    return z, EIFState(v=v)


@NEURONS.register("eif")
class EIF(Neuron[EIFParams, EIFState]):
    r"""Layer of exponential integrate-and-fire neurons; dynamics in :func:`eif_step`.

    .. math::
        \tau_{mem}\dot v = -v + \Delta_T e^{(v - \theta_{rh})/\Delta_T} + x,\quad
        z = H(v - v_{th}),\ v \leftarrow v_{reset}

    Reset ``"value"`` (default, to ``v_reset``) or ``"zero"``; ``"subtract"`` and ``"none"`` are
    refused (the exponential runs away without a hard reset). Surrogate ``sigmoid`` (α = 4).

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *]`` → spikes ``[T, B, *]``; ``step(x, state)`` with ``x [B, *]``.

    Example:
        >>> zs = EIF()(torch.rand(8, 2, 16) * 3)
    """

    params_cls = EIFParams
    state_cls = EIFState
    step_fn = staticmethod(eif_step)
    positive = ("tau_mem", "delta_t")
    time_constants = ("tau_mem",)

    def __init__(self, *, surrogate: Any = "sigmoid", reset: Any = "value", **kwargs: Any) -> None:
        if reset not in ("value", "zero"):
            raise ValueError(f"EIF needs a hard reset (reset='value' or 'zero'): with {reset!r} the exponential "
                             "term runs away to infinity after a spike")
        super().__init__(surrogate=Sigmoid(alpha=4.0) if surrogate == "sigmoid" else surrogate,
                         reset=reset, **kwargs)

    def init_state(self, x: Tensor) -> EIFState:
        return EIFState(v=x.new_zeros(x.shape))
