"""CTM neuron-level models (Continuous Thought Machines, Sakana AI; reference §4.12).

Each of the D neurons has its own ("private") small MLP that maps the neuron's last M
pre-activations to its post-activation; no weights are shared between neurons. The post-activations
``z_t [B, D]`` are what :mod:`spikeforge.layers.ctm_sync` pairs up into the synchronisation read-out.

The reference defines the model only as "private per-neuron MLP over the last M pre-activations",
over internal ticks t = 1..I. Where it is silent we chose, and say so: one hidden layer of width H
with ReLU, a scalar linear output, and a history that starts at zeros (pass a state to start from
another trace).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite

__all__ = ["CTMNeuronModels", "NLMParams", "NLMState", "nlm_step"]


class NLMState(NamedTuple):
    history: Tensor  # last M pre-activations per neuron, oldest first [B, D, M]


class NLMParams(NamedTuple):
    w1: Tensor  # [D, M, H] first layer, one [M, H] matrix per neuron
    b1: Tensor  # [D, H]
    w2: Tensor  # [D, H] second layer, one H-vector per neuron
    b2: Tensor  # [D]


def nlm_step(a: Tensor, state: NLMState, p: NLMParams) -> tuple[Tensor, NLMState]:
    r"""One internal tick of D private neuron-level MLPs.

    .. math::
        A^{(d)}_t = (a^{(d)}_{t-M+1}, \dots, a^{(d)}_t),\qquad
        z^{(d)}_t = w_2^{(d)\top}\,\mathrm{ReLU}\big(W_1^{(d)\top} A^{(d)}_t + b_1^{(d)}\big) + b_2^{(d)}

    for every neuron d independently: the new pre-activation enters the history (the oldest leaves),
    then each neuron's MLP reads only its own history.

    Shapes:
        ``a [B, D]``, ``history [B, D, M]`` -> ``z [B, D]``, history ``[B, D, M]``.
    """
    hist = torch.cat([state.history[..., 1:], a.unsqueeze(-1)], -1)  # [B, D, M-1] + [B, D, 1] -> [B, D, M]
    hidden = torch.relu(torch.einsum("bdm,dmh->bdh", hist, p.w1) + p.b1)  # [B, D, H]
    z = torch.einsum("bdh,dh->bd", hidden, p.w2) + p.b2  # [B, D]
    return z, NLMState(hist)


class CTMNeuronModels(nn.Module):
    """D neuron-level models, each a private MLP (M -> H -> 1) over its last M pre-activations;
    dynamics in :func:`nlm_step`.

    Args:
        n_neurons: D.
        memory_length: M, pre-activations each neuron sees (>= 1).
        hidden_size: H, width of each private MLP (>= 1).

    Init: each neuron's layers as ``nn.Linear`` initialises them (uniform in ±1/√fan-in).

    Shapes:
        ``run(a [I, B, D], state) -> (z [I, B, D], state)``; ``forward(a) -> z``.

    Example:
        >>> nlm = CTMNeuronModels(32, memory_length=5, hidden_size=4)
        >>> nlm(torch.randn(6, 2, 32)).shape
        torch.Size([6, 2, 32])
    """

    def __init__(self, n_neurons: int, memory_length: int = 10, hidden_size: int = 4) -> None:
        super().__init__()
        for name, v in (("n_neurons", n_neurons), ("memory_length", memory_length), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"CTMNeuronModels: {name} must be a positive int, got {v!r}")
        d, m, h = n_neurons, memory_length, hidden_size
        self.n_neurons, self.memory_length = d, m
        k1, k2 = 1 / math.sqrt(m), 1 / math.sqrt(h)
        self.w1 = nn.Parameter(torch.empty(d, m, h).uniform_(-k1, k1))
        self.b1 = nn.Parameter(torch.empty(d, h).uniform_(-k1, k1))
        self.w2 = nn.Parameter(torch.empty(d, h).uniform_(-k2, k2))
        self.b2 = nn.Parameter(torch.empty(d).uniform_(-k2, k2))

    def init_state(self, a: Tensor) -> NLMState:
        """Zero history for a tick's pre-activations ``a [B, D]``."""
        return NLMState(a.new_zeros(a.shape[0], self.n_neurons, self.memory_length))

    def run(self, a: Tensor, state: NLMState | None = None) -> tuple[Tensor, NLMState]:
        check_sequence(a, "CTMNeuronModels")
        if a.dim() != 3 or a.shape[-1] != self.n_neurons:
            raise ValueError(f"CTMNeuronModels: expected pre-activations [I, B, {self.n_neurons}], "
                             f"got {tuple(a.shape)}")
        check_finite(a, "CTMNeuronModels")
        if state is None:
            state = self.init_state(a[0])
        elif state.history.shape != (a.shape[1], self.n_neurons, self.memory_length):
            raise ValueError(f"CTMNeuronModels: state history must be [{a.shape[1]}, {self.n_neurons}, "
                             f"{self.memory_length}], got {tuple(state.history.shape)}")
        p = NLMParams(*(t.to(a.dtype) for t in (self.w1, self.b1, self.w2, self.b2)))
        zs = []
        for at in a:  # at: [B, D]
            z, state = nlm_step(at, state, p)
            zs.append(z)
        return torch.stack(zs), state  # [I, B, D]

    def forward(self, a: Tensor) -> Tensor:
        return self.run(a)[0]
