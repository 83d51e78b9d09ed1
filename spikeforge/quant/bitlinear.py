r"""BitLinear: ternary (1.58-bit) weights and 8-bit activations (MatMul-free LM, Zhu et al., arXiv 2406.02528).

.. math::
    \tilde x = \mathrm{RMSNorm}(x) = g \odot x / \sqrt{\mathrm{mean}(x^2) + \epsilon},\quad \epsilon = 10^{-8}

    x_q = \mathrm{clamp}(\mathrm{round}(\tilde x\, s), -128, 127) / s,\quad s = 127 / \max|\tilde x| \text{ (per token)}

    W_q = \gamma\,\mathrm{clamp}(\mathrm{round}(W/\gamma), -1, 1),\quad
    \gamma = \max(\mathrm{mean}|W|, 10^{-5}) \text{ (per tensor)}

    y = x_q W_q^\top (+ b)

Both roundings are straight-through (the detach trick). A token is one row over the last dim, so
its activation scale depends on that token alone; RMSNorm comes first. Init: Xavier-uniform with
gain :math:`2^{-2.5}`. ``g`` is a learnable per-feature gain (ones at init; ``affine=False`` drops
it). The ``1e-5`` floor on :math:`\max|\tilde x|` only guards an all-zero token (recalled from the
reference implementation, not in our reference notes).

Example:
    >>> import torch
    >>> layer = BitLinear(16, 4)
    >>> layer(torch.rand(10, 2, 16)).shape       # time-major [T, B, 16] -> [T, B, 4]
    torch.Size([10, 2, 4])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

from .fake_quant import TernaryQuant, ste
from .qat import QuantModule

__all__ = ["BitLinear", "absmax_quantize", "rms_norm"]


def rms_norm(x: Tensor, eps: float = 1e-8) -> Tensor:
    """``x / sqrt(mean(x**2, last dim) + eps)``."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)


def absmax_quantize(x: Tensor, bits: int = 8) -> Tensor:
    """Per-token absmax fake-quantization over the last dim (straight-through).

    ``s = Q / max|x|`` with ``Q = 2**(bits-1) - 1``; ``x_q = clamp(round(x s), -Q-1, Q) / s``, so
    ``|x_q - x| <= max|x| / (2 Q)`` per token (``max|x| / 254`` at 8 bits).
    """
    if not isinstance(bits, int) or isinstance(bits, bool) or not 2 <= bits <= 16:
        raise ValueError(f"absmax_quantize: bits must be an int in [2, 16], got {bits!r}")
    qmax = 2 ** (bits - 1) - 1
    s = qmax / x.detach().abs().amax(dim=-1, keepdim=True).clamp_min(1e-5)  # [..., 1] per token
    return ste(x, torch.clamp(torch.round(x.detach() * s), -qmax - 1, qmax) / s)


class BitLinear(QuantModule, nn.Linear):
    """Ternary-weight, 8-bit-activation linear layer: ``[..., in_features] -> [..., out_features]``.

    Args:
        in_features, out_features: Sizes.
        bias: Add a float bias (the reference layer has none).
        eps: RMSNorm epsilon.
        affine: Learnable RMSNorm gain ``g``.
        act_bits: Activation bits (8).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False, *, eps: float = 1e-8,
                 affine: bool = True, act_bits: int = 8, **factory: Any) -> None:
        super().__init__(in_features, out_features, bias, **factory)
        nn.init.xavier_uniform_(self.weight, gain=2 ** -2.5)
        self.norm_weight = nn.Parameter(torch.ones(in_features, **factory)) if affine else None
        self.eps = float(eps)
        self.act_bits = int(act_bits)
        absmax_quantize(torch.ones(1), self.act_bits)  # validates act_bits
        self._init_quant(TernaryQuant())

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.xavier_uniform_(self.weight, gain=2 ** -2.5)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"BitLinear: expected last dim {self.in_features}, got input shape {tuple(x.shape)}")
        h = rms_norm(x, self.eps)
        if self.norm_weight is not None:
            h = h * self.norm_weight
        return F.linear(absmax_quantize(h, self.act_bits), self.quantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{nn.Linear.extra_repr(self)}, weight_bits={math.log2(3):.2f}, act_bits={self.act_bits}"
