"""PSN: parallel spiking neuron (Fang et al., NeurIPS 2023) — a whole-sequence map, not a step recurrence.

Registered in :data:`~spikeforge.neurons.SEQUENCE_NEURONS` (``"psn"``), not in ``NEURONS``: the neuron
contract (``step``, a run continued from a returned state, any sequence length ``T``) cannot hold for
a model whose output at step ``t`` depends on the inputs at *every* step of a fixed-length window,
later ones included. Model builders that know ``T`` build it with ``neuron="psn"``.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from ..surrogate import Sigmoid, Surrogate, get_surrogate
from ._sequence import SEQUENCE_NEURONS, SequenceNeuron

__all__ = ["PSN", "PSNParams", "psn_run"]


class PSNParams(NamedTuple):
    weight: Tensor  # [T, T] mixing of the input steps into each step's membrane
    bias: Tensor  # [T] per-step bias (= minus a per-step threshold)


def psn_run(xs: Tensor, p: PSNParams, *, surrogate: Surrogate = Sigmoid(alpha=2.0)) -> Tensor:
    r"""Spikes of parallel spiking neurons for a whole sequence.

    .. math::
        H = W X + B,\qquad S = \Theta(H),\qquad W \in \mathbb{R}^{T\times T},\ B \in \mathbb{R}^{T}

    ``X`` is the input with time as its first axis, flattened over the neurons: every neuron shares
    ``W`` and ``B``; ``H[t] = Σ_i W[t, i] X[i] + B[t]`` uses all ``T`` inputs (non-causal).

    Source: Fang et al., "Parallel Spiking Neuron: Enabling Parallel Computation for Spiking
    Neural Networks", NeurIPS 2023 (arXiv 2304.12760). The reference (``transformers.md`` §7) only
    names PSN in STEP's list; the layout follows STEP's ``PSNTorch`` (``nn.Linear(T, T)`` over the
    time axis, bias initialised to -1, sigmoid surrogate with α = 2).

    Shapes:
        xs, output: ``[T, B, *]`` with ``T = weight.shape[0]``.
    """
    steps = p.weight.shape[0]
    if xs.shape[0] != steps:
        raise ValueError(f"PSN was built for T = {steps} steps (weight {tuple(p.weight.shape)}), got a sequence "
                         f"of {xs.shape[0]} steps ({tuple(xs.shape)}); PSN cannot run other lengths or continue")
    flat = xs.reshape(steps, -1)  # [T, B·N]
    h = torch.addmm(p.bias.unsqueeze(1), p.weight, flat)  # [T, T] @ [T, B·N] + [T, 1]
    return surrogate(h).reshape(xs.shape)  # [T, B, *]


@SEQUENCE_NEURONS.register("psn")
class PSN(SequenceNeuron):
    r"""Layer of parallel spiking neurons for sequences of exactly ``t_steps`` steps; see :func:`psn_run`.

    .. math:: S = \Theta(W X + B)

    There is no ``step`` and no state (a :class:`~spikeforge.neurons.SequenceNeuron`: non-causal, fixed
    ``T``): :meth:`run` maps a whole ``[T, B, *]`` sequence at once; ``step``, a run given a state and
    a sequence of another length raise a ``ValueError``. ``weight`` starts as ``nn.Linear``'s default
    initialisation and ``bias`` at ``-v_th`` (STEP's -1: ``v_th = 1``), a learned per-step threshold.

    Operations per call (:meth:`op_count`): each of the ``B·N`` neurons at each of the ``T`` steps
    forms ``Σ_i W[t, i] x_i + B[t]`` (``T`` multiplies, ``T`` adds with the bias) and one threshold
    compare: ``B·N·T·(2T + 1)``.

    Inputs/Outputs:
        ``forward(xs)`` / ``run(xs)``: ``xs [T, B, *]`` → spikes ``[T, B, *]``.

    Example:
        >>> zs = PSN(t_steps=4)(torch.rand(4, 2, 16))
    """

    refused_settings: ClassVar[dict[str, str]] = {
        "reset": "PSN has no membrane to reset (its spikes are a threshold on W X + B, a learned T x T map)",
        "tau_mem": "PSN has no membrane time constant (its learned T x T map W takes the place of the leak)"}

    def __init__(self, t_steps: int, *, v_th: float = 1.0, surrogate: Any = None, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        if isinstance(t_steps, bool) or not isinstance(t_steps, int) or t_steps < 1:
            raise ValueError(f"PSN: t_steps must be a positive int, got {t_steps!r}")
        lin = nn.Linear(t_steps, t_steps, dtype=dtype, device=device)
        self.weight = nn.Parameter(lin.weight.detach().clone())  # [T, T]
        self.bias = nn.Parameter(torch.full((t_steps,), -float(v_th), dtype=lin.weight.dtype, device=device))  # [T]
        self.surrogate = Sigmoid(alpha=2.0) if surrogate is None else get_surrogate(surrogate)

    @property
    def t_steps(self) -> int:
        return int(self.weight.shape[0])

    def _map(self, xs: Tensor) -> Tensor:
        w, b = self.weight.to(xs.dtype), self.bias.to(xs.dtype)
        return psn_run(xs, PSNParams(weight=w, bias=b), surrogate=self.surrogate)

    def op_count(self, xs: Tensor) -> int:
        steps = int(xs.shape[0])
        return (xs.numel() // steps) * steps * (2 * steps + 1)  # B·N neurons × T steps × (T mul + T add + 1 cmp)

    def extra_repr(self) -> str:
        return f"t_steps={self.weight.shape[0]}, surrogate={self.surrogate!r}"
