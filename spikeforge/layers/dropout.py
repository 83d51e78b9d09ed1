"""Dropout with one mask per sequence, shared by every time step."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite

__all__ = ["sequence_dropout", "SequenceDropout"]


def sequence_dropout(
    xs: Tensor, p: float = 0.5, *, training: bool = True, generator: torch.Generator | None = None
) -> Tensor:
    r"""Zero whole units for the whole sequence with probability ``p``; scale survivors by ``1/(1-p)``.

    .. math:: y_{t,b,i} = \frac{m_{b,i}}{1 - p}\, x_{t,b,i},\quad m_{b,i} \sim \mathrm{Bernoulli}(1 - p)

    The mask is drawn once per sample and unit and reused at every step, so a dropped neuron
    stays silent for the whole sequence. Identity when ``training`` is false or ``p == 0``;
    all zeros when ``p == 1``.

    Shapes:
        ``xs [T, B, *] -> [T, B, *]``; mask ``[1, B, *]``.

    Example:
        >>> ys = sequence_dropout(torch.ones(5, 2, 3), 0.5, generator=torch.Generator().manual_seed(0))
        >>> bool((ys == ys[0]).all())    # same mask at every step
        True
    """
    check_sequence(xs)
    p = _check_p(p)
    if not training or p == 0.0:
        return xs
    if p == 1.0:
        return xs * 0.0
    keep = torch.rand((1, *xs.shape[1:]), generator=generator, dtype=xs.dtype, device=xs.device) >= p  # [1, B, *]
    return xs * keep.to(xs.dtype) / (1.0 - p)


def _check_p(p: float) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"dropout probability p must be a float, got {type(p).__name__}")
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability p must be in [0, 1], got {p!r}")
    return p


class SequenceDropout(nn.Module):
    """Dropout whose mask is shared across time; see :func:`sequence_dropout`.

    Active in ``train()`` mode, identity in ``eval()``.

    Shapes:
        ``forward(xs [T, B, *], generator=None) -> [T, B, *]``

    Example:
        >>> drop = SequenceDropout(0.2)
        >>> drop(torch.ones(10, 4, 32)).shape
        torch.Size([10, 4, 32])
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _check_p(p)

    def forward(self, xs: Tensor, generator: torch.Generator | None = None) -> Tensor:
        check_sequence(xs, "SequenceDropout")
        check_finite(xs, "SequenceDropout")
        return sequence_dropout(xs, self.p, training=self.training, generator=generator)

    def extra_repr(self) -> str:
        return f"p={self.p:g}"
