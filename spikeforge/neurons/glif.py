"""GLIF: gated leaky integrate-and-fire neuron (Yao et al., NeurIPS 2022)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import Rectangle, Surrogate
from ._base import NEURONS, Neuron

__all__ = ["GLIF", "GLIFParams", "GLIFState", "glif_step"]


class GLIFParams(NamedTuple):
    # gates in [0, 1]: STEP's learned-gate initialisation sigmoid(-logit(0.5 + (g - 0.5)/2)) of
    # its gate = [0.6, 0.8, 0.6], i.e. 0.45, 0.35, 0.45
    alpha: Tensor | float = 0.45  # leak gate: multiplicative decay (1) vs linear leak (0)
    beta: Tensor | float = 0.35  # integration gate: conductance-scaled input (1) vs plain input (0)
    gamma: Tensor | float = 0.45  # reset gate: hard reset (1) vs soft reset by v_reth (0)
    decay: Tensor | float = 0.25  # multiplicative membrane decay per step τ (STEP's "tau" 0.25)
    leak: Tensor | float = 0.0625  # linear leak per step (STEP: v_th / (2T), 0.0625 for T = 4)
    conduct: Tensor | float = 0.5  # input conductance c
    v_th: Tensor | float = 0.5  # firing threshold
    v_reth: Tensor | float = 0.5  # amount subtracted by the soft reset


class GLIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]
    z: Tensor  # previous output spike (the reset acts one step later) [B, *]


def glif_step(
    x: Tensor,
    state: GLIFState,
    p: GLIFParams,
    *,
    dt: float = 1e-3,
    surrogate: Surrogate = Rectangle(width=1.0),
) -> tuple[Tensor, GLIFState]:
    r"""Advance GLIF neurons by one step (discrete time: ``dt`` is not used).

    .. math::
        I = x\,\big(1 - \beta(1 - c)\big)

        v' = \big(1 - \alpha(1 - \tau)\big)\,v\,(1 - \gamma z) - (1 - \alpha)\,\ell + I - (1 - \gamma)\,V_{reth}\,z

        z' = H(v' - v_{th})

    with :math:`z` the previous step's spike (the reset is applied when the next input arrives),
    gates :math:`\alpha,\beta,\gamma \in [0, 1]` mixing two leak, integration and reset modes,
    :math:`\tau` the per-step decay, :math:`\ell` the linear leak and :math:`c` the conductance.

    Source: Yao et al., "GLIF: A Unified Gated Leaky Integrate-and-Fire Neuron for Spiking Neural
    Networks", NeurIPS 2022 (arXiv 2210.13768). The reference (``transformers.md`` §7) only names
    GLIF; the update is STEP's ``GLIFTorch.extended_state_update`` with its non-time-wise parameters
    (STEP's default ``time_wise=True`` keeps one value per time step of a fixed ``T``, which a
    per-step neuron cannot; here each parameter is one value, or one per neuron with ``size=``).
    STEP stores every parameter through a sigmoid; here they are stored directly and checked to lie in
    [0, 1]. Surrogate: STEP's rectangle (gradient 1 for ``|v' - v_th| < 0.5``).

    Shapes:
        x, state.v, state.z, z': ``[B, *]``
    """
    v, z_prev = state.v, state.z
    i = x * (1 - p.beta * (1 - p.conduct))
    v = (1 - p.alpha * (1 - p.decay)) * v * (1 - p.gamma * z_prev) - (1 - p.alpha) * p.leak + i \
        - (1 - p.gamma) * p.v_reth * z_prev
    z = surrogate(v - p.v_th)
    return z, GLIFState(v=v, z=z)


_UNIT = ("alpha", "beta", "gamma", "decay", "conduct")  # parameters that must lie in [0, 1]


@NEURONS.register("glif")
class GLIF(Neuron[GLIFParams, GLIFState]):
    r"""Layer of gated LIF neurons; dynamics in :func:`glif_step`.

    .. math::
        v' = (1 - \alpha(1 - \tau))v(1 - \gamma z) - (1 - \alpha)\ell + x(1 - \beta(1 - c))
        - (1 - \gamma)V_{reth} z

    The three gates are learnable like any parameter (``learn=("alpha", "beta", "gamma", …)``);
    they are clamped to [0, 1] before each run when learned. The reset is part of the model.

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *]`` → spikes ``[T, B, *]``; ``step(x, state)`` with ``x [B, *]``.

    Example:
        >>> zs = GLIF(learn=("alpha", "beta", "gamma"), size=16)(torch.rand(8, 2, 16))
    """

    params_cls = GLIFParams
    state_cls = GLIFState
    step_fn = staticmethod(glif_step)
    positive = ("v_th",)

    def __init__(self, *, surrogate: Any = "rectangle", **kwargs: Any) -> None:
        if kwargs.get("reset", "subtract") != "subtract":
            raise ValueError("GLIF has its own gated reset (hard via gamma, soft by v_reth); do not pass reset=")
        kwargs.pop("reset", None)
        super().__init__(surrogate=surrogate, **kwargs)

    def validate(self) -> None:
        super().validate()
        for name in _UNIT:
            t = getattr(self, name)
            if not bool(torch.all((t >= 0) & (t <= 1))):
                raise ValueError(f"GLIF: {name} must lie in [0, 1], got {t}")

    def _params_for(self, x: Tensor) -> GLIFParams:
        with torch.no_grad():  # learned gates/decays back into [0, 1] (a projection after the optimiser step)
            for name in _UNIT:
                t = getattr(self, name)
                if isinstance(t, torch.nn.Parameter) and bool(torch.any((t < 0) | (t > 1))):
                    t.clamp_(0, 1)
        return super()._params_for(x)

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "surrogate": self.surrogate}

    def init_state(self, x: Tensor) -> GLIFState:
        return GLIFState(v=x.new_zeros(x.shape), z=x.new_zeros(x.shape))
