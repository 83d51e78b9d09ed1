"""Active-dendrite layer (Iyer et al., Frontiers in Neurorobotics 2022): a context vector gates each unit
through the one dendritic segment that responds to it most strongly, then k-winners-take-all."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["ActiveDendrite", "active_dendrite"]


def active_dendrite(x: Tensor, context: Tensor, weight: Tensor, bias: Tensor | None, segments: Tensor,
                    k_winners: int | None = None) -> Tensor:
    r"""Active-dendrite units with absolute-max gating and an optional k-winners-take-all.

    .. math::
        \hat t_j = w_j^\top x + b_j,\qquad a_{j,k} = u_{j,k}^\top c,\qquad
        k^*_j = \arg\max_k |a_{j,k}|,\qquad y_j = \hat t_j\,\sigma(a_{j,k^*_j}),

    then, with ``k_winners = k``, every unit but the ``k`` largest :math:`y_j` of a sample is set to 0.
    Only the winning segment of each unit receives a gradient.

    Source: Iyer et al., "Avoiding Catastrophe: Active Dendrites Enable Multi-Task Learning in Dynamic
    Environments", Frontiers in Neurorobotics 2022; equations from the project reference
    (``training_conversion_neurons.md`` §4.9, tagged [R]: no numbers checked against the paper's code).

    Shapes:
        ``x [*, I]``, ``context [*, C]`` (broadcast against ``x``'s leading dims), ``weight [J, I]``,
        ``bias [J]``, ``segments [J, K, C]`` -> ``[*, J]``.
    """
    if segments.dim() != 3 or segments.shape[0] != weight.shape[0] or context.shape[-1] != segments.shape[2]:
        raise ValueError(f"active_dendrite: segments must be [J, K, C] = [{weight.shape[0]}, K, "
                         f"{context.shape[-1]}] (J units, K segments, C context features), got "
                         f"{tuple(segments.shape)}")
    ff = nn.functional.linear(x, weight, bias)  # [*, J]
    act = torch.einsum("...c,jkc->...jk", context, segments)  # [*, J, K]
    win = act.abs().argmax(-1, keepdim=True)  # [*, J, 1]
    y = ff * torch.sigmoid(act.gather(-1, win).squeeze(-1))  # [*, J]
    if k_winners is None:
        return y
    if not 1 <= k_winners <= y.shape[-1]:
        raise ValueError(f"active_dendrite: k_winners must be in 1..{y.shape[-1]}, got {k_winners!r}")
    keep = y.topk(k_winners, dim=-1).indices  # [*, k]
    mask = torch.zeros_like(y, dtype=torch.bool).scatter(-1, keep, True)
    return torch.where(mask, y, torch.zeros_like(y))


class ActiveDendrite(nn.Module):
    r"""Linear units gated by context through active dendritic segments; see :func:`active_dendrite`.

    Args:
        in_features, out_features: ``I`` and ``J``.
        context_features: ``C``, the length of the context vector.
        segments: ``K`` dendritic segments per unit.
        k_winners: keep the ``k`` largest outputs of each sample (``None``: no k-WTA).

    Inputs/Outputs:
        ``forward(x, context)``: ``x [*, I]``, ``context [*, C]`` → ``[*, J]``.

    Example:
        >>> y = ActiveDendrite(8, 16, 4, segments=3, k_winners=5)(torch.rand(2, 8), torch.rand(2, 4))
    """

    def __init__(self, in_features: int, out_features: int, context_features: int, *, segments: int = 4,
                 k_winners: int | None = None, bias: bool = True, **factory: Any) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features),
                            ("context_features", context_features), ("segments", segments)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ActiveDendrite: {name} must be a positive int, got {value!r}")
        if k_winners is not None and not 1 <= k_winners <= out_features:
            raise ValueError(f"ActiveDendrite: k_winners must be in 1..{out_features} or None, got {k_winners!r}")
        self.linear = nn.Linear(in_features, out_features, bias=bias, **factory)
        self.segments = nn.Parameter(torch.empty(out_features, segments, context_features, **factory))  # [J, K, C]
        nn.init.kaiming_uniform_(self.segments.view(out_features * segments, context_features), a=5 ** 0.5)
        self.k_winners = k_winners

    def forward(self, x: Tensor, context: Tensor) -> Tensor:
        return active_dendrite(x, context, self.linear.weight, self.linear.bias, self.segments, self.k_winners)

    def extra_repr(self) -> str:
        j, k, c = self.segments.shape
        return f"in={self.linear.in_features}, out={j}, context={c}, segments={k}, k_winners={self.k_winners}"
