"""Active-dendrite layer (Iyer et al., Frontiers in Neurorobotics 2022): a context vector gates each unit
through the one dendritic segment that responds to it most strongly, then k-winners-take-all."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..numerics import check_finite

__all__ = ["ActiveDendrite", "active_dendrite", "k_winners_take_all"]


def k_winners_take_all(y: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest entries of the last dim of ``y [*, J]`` and set the rest to 0.

    Exactly ``k`` entries survive per row (ties broken by :func:`torch.topk`); only they pass a gradient.

    Example:
        >>> k_winners_take_all(torch.tensor([[0.1, 3.0, -1.0, 2.0]]), 2).tolist()
        [[0.0, 3.0, 0.0, 2.0]]
    """
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= y.shape[-1]:
        raise ValueError(f"k_winners_take_all: k must be an int in 1..{y.shape[-1]}, got {k!r}")
    keep = y.topk(k, dim=-1).indices  # [*, k]
    mask = torch.zeros_like(y, dtype=torch.bool).scatter(-1, keep, True)  # [*, J]
    return torch.where(mask, y, torch.zeros_like(y))


def _gate(x: Tensor, context: Tensor, weight: Tensor, bias: Tensor | None, segments: Tensor,
          k_winners: int | None) -> Tensor:
    """The math of :func:`active_dendrite`, without input checks."""
    ff = nn.functional.linear(x, weight, bias)  # [*, J]
    act = torch.einsum("...c,jkc->...jk", context, segments)  # [*c, J, K]
    win = act.abs().argmax(-1, keepdim=True)  # [*c, J, 1]
    y = ff * torch.sigmoid(act.gather(-1, win).squeeze(-1))  # [*c, J] broadcast against [*, J]
    return y if k_winners is None else k_winners_take_all(y, k_winners)


def active_dendrite(x: Tensor, context: Tensor, weight: Tensor, bias: Tensor | None, segments: Tensor,
                    k_winners: int | None = None) -> Tensor:
    r"""Active-dendrite units with absolute-max gating and an optional k-winners-take-all.

    .. math::
        \hat t_j = w_j^\top x + b_j,\qquad a_{j,k} = u_{j,k}^\top c,\qquad
        k^*_j = \arg\max_k |a_{j,k}|,\qquad y_j = \hat t_j\,\sigma(a_{j,k^*_j}),

    then, with ``k_winners = k``, every unit but the ``k`` largest :math:`y_j` of a sample is set to 0
    (:func:`k_winners_take_all`). Only the winning segment of each unit receives a gradient.

    Source: Iyer et al., "Avoiding Catastrophe: Active Dendrites Enable Multi-Task Learning in Dynamic
    Environments", Frontiers in Neurorobotics 2022; equations from the project reference
    (``training_conversion_neurons.md`` §4.9, tagged [R]: no numbers checked against the paper's code).

    Shapes:
        ``x [*, I]``, ``context [*, C]`` (its leading dims broadcast against ``x``'s: a context
        ``[B, C]`` serves every step of ``x [T, B, I]``), ``weight [J, I]``, ``bias [J]``,
        ``segments [J, K, C]`` -> ``[*, J]``.
    """
    for name, t in (("x", x), ("context", context)):
        if not isinstance(t, Tensor) or not t.is_floating_point() or t.dim() < 1:
            got = f"dtype {t.dtype}, shape {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
            raise TypeError(f"active_dendrite: {name} must be a floating-point tensor [*, F], got {got}")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"active_dendrite: x must be [*, {weight.shape[1]}] (I input features), "
                         f"got {tuple(x.shape)}")
    if segments.dim() != 3 or segments.shape[0] != weight.shape[0] or context.shape[-1] != segments.shape[2]:
        raise ValueError(f"active_dendrite: segments must be [J, K, C] = [{weight.shape[0]}, K, "
                         f"{context.shape[-1]}] (J units, K segments, C context features), got "
                         f"{tuple(segments.shape)}")
    check_finite(x, "active_dendrite", time_major=False)
    check_finite(context, "active_dendrite", "context", time_major=False)
    return _gate(x, context, weight, bias, segments, k_winners)


class ActiveDendrite(nn.Module):
    r"""Linear units gated by context through active dendritic segments; see :func:`active_dendrite`.

    A time-major layer: the feed-forward input is a sequence, the context one vector per sample
    (the task's context, held for the whole sequence) or one per step. The segments' response to a
    ``[B, C]`` context is computed once per call, not per step. Stateless: ``step`` is ``forward``
    at one time step.

    Args:
        in_features, out_features: ``I`` and ``J``.
        context_features: ``C``, the length of the context vector.
        segments: ``K`` dendritic segments per unit.
        k_winners: keep the ``k`` largest outputs of each sample at each step (``None``: no k-WTA).
        bias: learn a bias :math:`b_j`.

    Inputs/Outputs:
        ``forward(xs, context)``: ``xs [T, B, I]``, ``context [B, C]`` or ``[T, B, C]`` → ``[T, B, J]``.
        ``step(x, context)``: ``x [B, I]``, ``context [B, C]`` → ``[B, J]``.
        A non-finite input or context raises :class:`~spikeforge.numerics.NonFiniteError` naming the
        step and index.

    Example:
        >>> layer = ActiveDendrite(8, 16, 4, segments=3, k_winners=5)
        >>> layer(torch.rand(10, 2, 8), torch.rand(2, 4)).shape     # [T, B, I], [B, C] -> [T, B, J]
        torch.Size([10, 2, 16])
    """

    def __init__(self, in_features: int, out_features: int, context_features: int, *, segments: int = 4,
                 k_winners: int | None = None, bias: bool = True, **factory: Any) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features),
                            ("context_features", context_features), ("segments", segments)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ActiveDendrite: {name} must be a positive int, got {value!r}")
        if k_winners is not None and (isinstance(k_winners, bool) or not isinstance(k_winners, int)
                                      or not 1 <= k_winners <= out_features):
            raise ValueError(f"ActiveDendrite: k_winners must be in 1..{out_features} or None, got {k_winners!r}")
        self.linear = nn.Linear(in_features, out_features, bias=bias, **factory)
        self.segments = nn.Parameter(torch.empty(out_features, segments, context_features, **factory))  # [J, K, C]
        nn.init.kaiming_uniform_(self.segments.view(out_features * segments, context_features), a=5 ** 0.5)
        self.k_winners = k_winners

    def _check(self, x: Tensor, context: Tensor, *, sequence: bool) -> None:
        who, i, c = "ActiveDendrite", self.linear.in_features, self.segments.shape[2]
        want = f"[T, B, {i}]" if sequence else f"[B, {i}]"
        if not isinstance(x, Tensor) or x.dim() != (3 if sequence else 2) or x.shape[-1] != i:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{who}: expected input {want}, got {got}")
        lead = tuple(x.shape[:-1])  # (T, B) or (B,)
        ok = (lead[-1:], lead) if sequence else (lead,)
        if not isinstance(context, Tensor) or context.shape[-1:] != (c,) or tuple(context.shape[:-1]) not in ok:
            got = tuple(context.shape) if isinstance(context, Tensor) else type(context).__name__
            forms = f"[{lead[-1]}, {c}] or [{lead[0]}, {lead[1]}, {c}]" if sequence else f"[{lead[0]}, {c}]"
            raise ValueError(f"{who}: expected context {forms} ([B, C] or [T, B, C]), got {got}")
        for name, t in (("input", x), ("context", context)):
            if t.dtype != self.linear.weight.dtype:
                raise TypeError(f"{who}: {name} dtype {t.dtype} differs from the layer's {self.linear.weight.dtype}")
        check_finite(x, who, time_major=sequence)
        check_finite(context, who, "context", time_major=sequence and context.dim() == 3)

    def forward(self, xs: Tensor, context: Tensor) -> Tensor:
        self._check(xs, context, sequence=True)
        return _gate(xs, context, self.linear.weight, self.linear.bias, self.segments, self.k_winners)  # [T, B, J]

    def step(self, x: Tensor, context: Tensor) -> Tensor:
        """One time step: ``x [B, I]``, ``context [B, C]`` → ``[B, J]``."""
        self._check(x, context, sequence=False)
        return _gate(x, context, self.linear.weight, self.linear.bias, self.segments, self.k_winners)

    def extra_repr(self) -> str:
        j, k, c = self.segments.shape
        return f"in={self.linear.in_features}, out={j}, context={c}, segments={k}, k_winners={self.k_winners}"
