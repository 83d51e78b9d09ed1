"""Lempel–Ziv complexity (LZ76, Kaspar–Schuster counting): the binary coding of a signal it is
measured on, and the complexity of spike trains as a read-out feature.

Used by the SNN-LZC classifier of Rudnicka, Szczepanski & Pręgowska (arXiv 2508.11674), which
classifies spike trains by their LZC; the algorithm is Lempel & Ziv (IEEE Trans. Inf. Theory
22, 1976) with the counting of Kaspar & Schuster (Phys. Rev. A 36, 1987).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..numerics import check_finite
from ._base import DECODERS, ENCODERS, check_steps

__all__ = ["LZCDecoder", "LZCEncoder", "lempel_ziv_complexity", "lzc_binarize", "lzc_count"]


def lzc_count(bits: list[int] | tuple[int, ...] | str) -> int:
    r"""Number of phrases ``c`` of the LZ76 exhaustive parsing of one binary sequence.

    Each new phrase is the shortest substring starting where the last one ended that cannot be
    copied from earlier in the sequence (the copy may overlap the phrase itself); the last phrase may
    be incomplete. ``0001101001000101`` parses ``0|001|10|100|1000|101`` (6); sixteen zeros ``0|000…``
    (2); ``01`` × 8 ``0|1|010101…`` (3).
    """
    s = [int(b) for b in bits]
    n = len(s)
    if n == 0:
        return 0
    c, start = 1, 1  # the first symbol is always a phrase
    while start < n:
        k = 1  # grow the candidate phrase s[start:start+k] while it occurs in s[:start+k-1]
        while start + k <= n and _occurs(s, start, k):
            k += 1
        c += 1
        start += k
    return c


def _occurs(s: list[int], start: int, k: int) -> bool:
    """Whether ``s[start:start+k]`` appears as a substring beginning before ``start``."""
    pat = s[start:start + k]
    return any(s[i:i + k] == pat for i in range(start))


def lempel_ziv_complexity(zs: Tensor, *, normalize: bool = True) -> Tensor:
    r"""LZ76 complexity of every binary train along time.

    .. math:: C = c\,\frac{\log_2 n}{n}\quad(\text{normalized, } n = T)\quad\text{or } c

    Values are binarized as ``z > 0``. Not differentiable (a count).

    Shapes:
        ``zs [T, B, *] -> [B, *]``.

    Example:
        >>> bits = torch.tensor([int(b) for b in "0001101001000101"]).float().view(16, 1)
        >>> lempel_ziv_complexity(bits, normalize=False).tolist()
        [6.0]
    """
    if not isinstance(zs, Tensor) or zs.dim() < 2 or zs.shape[0] == 0:
        raise ValueError("lempel_ziv_complexity: expected spike trains [T, B, ...] with T >= 1, got "
                         f"{tuple(zs.shape) if isinstance(zs, Tensor) else type(zs).__name__}")
    T = zs.shape[0]
    flat = (zs.detach() > 0).reshape(T, -1).T.to(torch.uint8).tolist()  # [T, B, *] -> [B·N, T]
    counts = torch.tensor([float(lzc_count(row)) for row in flat], dtype=zs.dtype if zs.is_floating_point()
                          else torch.get_default_dtype())
    out = counts.view(zs.shape[1:]).to(zs.device)  # [B·N] -> [B, *]
    if normalize and T > 1:
        out = out * (math.log2(T) / T)
    return out


def lzc_binarize(xs: Tensor) -> Tensor:
    r"""The binary sequence LZC is measured on for a real signal: 1 where the sample exceeds its
    channel's median over time, else 0.

    .. math:: z_t = H(x_t - \mathrm{median}_t\, x_t)\ \ (\text{strict})

    Shapes:
        ``xs [T, B, C, *S] -> z [T, B, C, *S]``.

    Example:
        >>> lzc_binarize(torch.tensor([0.1, 0.9, 0.2, 0.8, 0.5]).view(5, 1, 1))[:, 0, 0].tolist()
        [0.0, 1.0, 0.0, 1.0, 0.0]
    """
    if not isinstance(xs, Tensor):
        raise TypeError(f"lzc_binarize: expected a torch.Tensor [T, B, C, *S], got {type(xs).__name__}")
    if xs.dim() < 3 or xs.shape[0] == 0:
        raise ValueError(f"lzc_binarize: expected a time-major signal [T, B, C, *S] with T >= 1, got {tuple(xs.shape)}"
                         + (" (T = 0 time steps)" if xs.dim() >= 1 and xs.shape[0] == 0 else ""))
    if not xs.is_floating_point():
        raise TypeError(f"lzc_binarize: expected a floating-point signal, got dtype {xs.dtype}")
    check_finite(xs, "lzc_binarize")
    med = xs.detach().median(dim=0, keepdim=True).values  # [1, B, C, *S]
    return (xs.detach() > med).to(xs.dtype)


@ENCODERS.register("lzc", input="signal")
class LZCEncoder(nn.Module):
    """Median-threshold coding of a signal, the binary train whose LZC the SNN-LZC classifier uses;
    see :func:`lzc_binarize` (and :class:`LZCDecoder` for the complexity itself).

    Shapes:
        ``forward(xs [T, B, C, *S]) -> [T, B, C, *S]`` spikes.

    Example:
        >>> LZCEncoder()(torch.randn(50, 4, 3)).shape
        torch.Size([50, 4, 3])
    """

    def __init__(self, steps: int | None = None) -> None:
        super().__init__()
        self.steps = None if steps is None else check_steps(steps)

    def forward(self, xs: Tensor) -> Tensor:
        if self.steps is not None and isinstance(xs, Tensor) and xs.dim() >= 1 and xs.shape[0] != self.steps:
            raise ValueError(f"LZCEncoder: expected a signal with T={self.steps} steps on dim 0, got {tuple(xs.shape)}")
        return lzc_binarize(xs)


@DECODERS.register("lzc")
class LZCDecoder(nn.Module):
    """Normalized Lempel–Ziv complexity of each spike train; see :func:`lempel_ziv_complexity`.

    Shapes:
        ``forward(zs [T, B, *]) -> [B, *]``.
    """

    def forward(self, zs: Tensor) -> Tensor:
        return lempel_ziv_complexity(zs)
