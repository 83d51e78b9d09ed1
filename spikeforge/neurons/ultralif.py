"""UltraLIF: an ultradiscretized LIF trained without a surrogate (soft max-plus membrane, sigmoid spike)."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from ._base import NEURONS, Neuron

__all__ = ["EPS_RANGE", "DECAY_RANGE", "UltraLIF", "UltraNeuron", "UltraLIFParams", "UltraLIFState", "lse",
           "ultralif_step"]

EPS_RANGE = (0.1, 20.0)  # the temperature eps is clamped into this range (reference implementation)
DECAY_RANGE = (0.1, 0.99)  # the decay tau is clamped into this range (as UltraPLIF's learnable tau)


class UltraLIFParams(NamedTuple):
    decay: Tensor | float = 0.9  # per-step decay tau in (0, 1) of the paper (dimensionless, not seconds)
    eps: Tensor | float = 1.0  # temperature of the soft maximum and of the spike sigmoid
    v_th: Tensor | float = 1.0  # threshold theta


class UltraLIFState(NamedTuple):
    v: Tensor  # membrane potential [B, *]


def lse(a: Tensor, b: Tensor, eps: Tensor | float) -> Tensor:
    r"""Soft maximum :math:`\mathrm{LSE}_\varepsilon(a, b) = \varepsilon \log(e^{a/\varepsilon} + e^{b/\varepsilon})`.

    Computed stably (``torch.logaddexp`` subtracts the maximum); :math:`\max(a, b) \le \mathrm{LSE}_\varepsilon(a, b)
    \le \max(a, b) + \varepsilon \ln 2` and :math:`\partial \mathrm{LSE}_\varepsilon / \partial a =
    \sigma((a - b)/\varepsilon)`.
    """
    return eps * torch.logaddexp(a / eps, b / eps)


def ultralif_step(
    x: Tensor,
    state: UltraLIFState,
    p: UltraLIFParams,
    *,
    dt: float = 1e-3,
    detach_reset: bool = False,
) -> tuple[Tensor, UltraLIFState]:
    r"""Advance UltraLIF neurons (Miñoza, arXiv 2602.11206) by one step.

    .. math::
        V' = \mathrm{LSE}_\varepsilon(V + \log\tau,\ I_t),\qquad
        s = \sigma\big((V' - \theta)/\varepsilon\big),\qquad V \leftarrow V'\,(1 - s)

    with :math:`\varepsilon` clamped to ``EPS_RANGE`` = [0.1, 20] and :math:`\tau` (``decay``) to
    ``DECAY_RANGE`` = [0.1, 0.99]. The spike :math:`s \in (0, 1)` is the same function in the forward
    and backward pass (no surrogate); as :math:`\varepsilon \to 0` the update becomes the hard
    max-plus ("tropical") LIF :math:`V' = \max(V + \log\tau, I_t)`, :math:`s = H(V' - \theta)`.
    ``dt`` is unused (the model is discrete-time).

    Outputs are never exactly zero: counting nonzero outputs (SynOps, sparsity) sees a dense layer
    (see ``UltraLIF.dense_output``).

    Shapes:
        x, state.v, s: ``[B, *]``

    Example:
        >>> s, st = ultralif_step(torch.ones(2, 3), UltraLIFState(torch.zeros(2, 3)), UltraLIFParams())
    """
    eps = torch.clamp(torch.as_tensor(p.eps), *EPS_RANGE)
    decay = torch.clamp(torch.as_tensor(p.decay), *DECAY_RANGE)
    v = lse(state.v + torch.log(decay), x, eps)
    s = torch.sigmoid((v - p.v_th) / eps)
    v = v * (1 - (s.detach() if detach_reset else s))
    return s, UltraLIFState(v=v)


class UltraNeuron:
    """What the Ultra neurons (:class:`UltraLIF`, :class:`~spikeforge.neurons.ultradlif.UltraDLIF`) share:
    their own reset :math:`V \\leftarrow V'(1 - s)` and no surrogate (the spike sigmoid is used in both
    passes), so ``reset=`` and ``surrogate=`` are refused; outputs in (0, 1) (``dense_output``).
    Put it before :class:`Neuron` in the bases."""

    dense_output: ClassVar[bool] = True  # outputs lie in (0, 1): nonzero-counting metrics see a dense layer
    surrogate_free: ClassVar[bool] = True  # refuses surrogate=: model builders must not pass one
    dt: float
    detach_reset: bool

    def __init__(self, **kwargs: Any) -> None:
        name = type(self).__name__
        if kwargs.get("reset", "subtract") != "subtract":
            raise ValueError(f"{name} has its own reset V <- V'(1 - s); do not pass reset=")
        if kwargs.pop("surrogate", None) is not None:  # even "atan": a silently ignored surrogate is a wrong cell
            raise ValueError(f"{name} has no surrogate: its spike sigmoid((V' - v_th)/eps) is used in both "
                             "passes; do not pass surrogate=")
        super().__init__(**kwargs)

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "detach_reset": self.detach_reset}


@NEURONS.register("ultralif")
class UltraLIF(UltraNeuron, Neuron[UltraLIFParams, UltraLIFState]):
    r"""Layer of UltraLIF neurons (soft max-plus LIF, no surrogate); dynamics in :func:`ultralif_step`.

    Learn ``eps`` (and ``decay`` for UltraPLIF) with ``learn=("eps", "decay")``. The output is a real
    number in (0, 1), never exactly 0 (``dense_output = True``): binarize at inference for sparse
    event counts.

    Inputs/Outputs:
        ``forward(xs)``: ``[T, B, *]`` → soft spikes ``[T, B, *]`` in (0, 1).

    Example:
        >>> s = UltraLIF(learn=("eps",))(torch.rand(10, 4, 32))
    """

    params_cls = UltraLIFParams
    state_cls = UltraLIFState
    step_fn = staticmethod(ultralif_step)
    positive = ("decay", "eps")

    def init_state(self, x: Tensor) -> UltraLIFState:
        return UltraLIFState(v=torch.zeros_like(x))
