"""CTM synchronisation read-out (Continuous Thought Machines, Sakana AI; reference §4.12).

A representation built from how pairs of neurons fire *together* over internal ticks, rather than
from their values at one tick; plus the CTM's certainty and its two-tick classification loss.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite

__all__ = ["SyncState", "ctm_sync_step", "sync_pairs", "CTMSync", "ctm_certainty", "ctm_loss"]

RHO_MAX = 15.0  # r = exp(-rho) stays in [e^-15, 1]


class SyncState(NamedTuple):
    alpha: Tensor  # decayed sum of pair products [B, P]
    beta: Tensor   # decayed count of ticks [B, P]


def ctm_sync_step(z: Tensor, state: SyncState | None, rho: Tensor, left: Tensor, right: Tensor
                  ) -> tuple[Tensor, SyncState]:
    r"""One internal tick of the synchronisation of neuron pairs ``(left[p], right[p])``.

    .. math::
        \alpha_t = r \odot \alpha_{t-1} + z_t^i z_t^j,\qquad \beta_t = r \odot \beta_{t-1} + 1,\qquad
        S_t = \alpha_t / \sqrt{\beta_t},\qquad r = e^{-\mathrm{clamp}(\rho,\,0,\,15)}

    (``state=None``: :math:`\alpha_0 = \beta_0 = 0`). With :math:`\rho = 0` after ``I`` ticks,
    :math:`S_I = \sum_t z_t^i z_t^j / \sqrt I`; :math:`S` is symmetric in ``(i, j)`` (check 25).

    Shapes:
        ``z [B, D]``, ``rho, left, right [P]`` -> ``S [B, P]``
    """
    r = torch.exp(-rho.clamp(0.0, RHO_MAX))  # [P]
    prod = z[:, left] * z[:, right]  # [B, D] -> [B, P]
    if state is None:
        state = SyncState(torch.zeros_like(prod), torch.zeros_like(prod))
    alpha = r * state.alpha + prod
    beta = r * state.beta + 1.0
    return alpha / torch.sqrt(beta), SyncState(alpha, beta)


def sync_pairs(n_neurons: int, *, n_pairs: int | None = None, n_select: int | None = None,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Pair indices ``(left, right)``: ``n_pairs`` random pairs ("random-pairing", the CTM default), or,
    with ``n_select``, all ``n(n+1)/2`` pairs ``i <= j`` of the first ``n_select`` neurons."""
    if (n_pairs is None) == (n_select is None):
        raise ValueError("sync_pairs: give exactly one of n_pairs (random pairing) or n_select (all pairs i <= j)")
    if n_select is not None:
        if not 1 <= n_select <= n_neurons:
            raise ValueError(f"sync_pairs: n_select must be in [1, {n_neurons}], got {n_select}")
        left, right = torch.triu_indices(n_select, n_select)  # [2, n(n+1)/2]
        return left, right
    if n_pairs is None or n_pairs < 1:
        raise ValueError(f"sync_pairs: n_pairs must be >= 1, got {n_pairs}")
    left = torch.randint(n_neurons, (n_pairs,), generator=generator)
    right = torch.randint(n_neurons, (n_pairs,), generator=generator)
    return left, right


class CTMSync(nn.Module):
    """Synchronisation read-out over internal ticks: ``[I, B, D] -> [I, B, out]`` (or ``[I, B, P]``
    without ``out_features``); :func:`ctm_sync_step` per tick, then ``W_out S_t``.

    ``rho`` (one per pair, init 0, used clamped to [0, 15]) is learnable.

    Example:
        >>> sync = CTMSync(32, n_pairs=64, out_features=10)
        >>> sync(torch.rand(5, 4, 32)).shape
        torch.Size([5, 4, 10])
    """

    left: Tensor  # buffer: first neuron of each pair [P]
    right: Tensor  # buffer: second neuron of each pair [P]

    def __init__(self, n_neurons: int, *, n_pairs: int | None = None, n_select: int | None = None,
                 out_features: int | None = None, generator: torch.Generator | None = None) -> None:
        super().__init__()
        left, right = sync_pairs(n_neurons, n_pairs=n_pairs, n_select=n_select, generator=generator)
        self.n_neurons = n_neurons
        self.register_buffer("left", left)
        self.register_buffer("right", right)
        self.rho = nn.Parameter(torch.zeros(len(left)))
        self.out = nn.Linear(len(left), out_features) if out_features is not None else None

    def run(self, zs: Tensor, state: SyncState | None = None) -> tuple[Tensor, SyncState]:
        """Read-out at every tick and the final state (pass it back to continue)."""
        check_sequence(zs, "CTMSync")
        check_finite(zs, "CTMSync")
        if zs.dim() != 3 or zs.shape[-1] != self.n_neurons:
            raise ValueError(f"CTMSync: expected [I, B, {self.n_neurons}] post-activations, got {tuple(zs.shape)}")
        outs = []
        for z in zs:  # z: [B, D]
            s, state = ctm_sync_step(z, state, self.rho, self.left, self.right)
            outs.append(s if self.out is None else self.out(s))
        assert state is not None
        return torch.stack(outs), state  # [I, B, out]

    def forward(self, zs: Tensor) -> Tensor:
        return self.run(zs)[0]


def ctm_certainty(logits: Tensor) -> Tensor:
    """``1 − H(softmax(logits)) / log K`` over the last dim (K classes): 0 for uniform, → 1 for one-hot."""
    logp = F.log_softmax(logits, dim=-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return 1.0 - entropy / math.log(logits.shape[-1])


def ctm_loss(logits: Tensor, target: Tensor) -> Tensor:
    """CTM classification loss: per sample, the mean of the cross-entropy at the tick of least
    cross-entropy and at the tick of greatest certainty; averaged over the batch.

    Shapes:
        ``logits [I, B, K]``, ``target [B]`` -> scalar
    """
    ticks, B, _ = logits.shape
    ce = F.cross_entropy(logits.flatten(0, 1), target.repeat(ticks), reduction="none").view(ticks, B)  # [I*B] -> [I, B]
    t_min = ce.argmin(0)  # [B]
    t_cert = ctm_certainty(logits).argmax(0)  # [B]
    b = torch.arange(B, device=logits.device)
    return ((ce[t_min, b] + ce[t_cert, b]) / 2).mean()
