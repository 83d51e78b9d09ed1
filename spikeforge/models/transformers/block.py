"""Spiking MLP and the transformer block (attention + MLP, each with a residual add)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._neuron import ConvBN, NeuronSpec, make_neuron
from .attention import SpikingSelfAttention
from .embed import check_shortcut

__all__ = ["SpikingMLP", "TransformerBlock"]


class SpikingMLP(nn.Module):
    """Two per-token linear layers (1x1 convs with bias) with BN, ``C -> hidden -> C``.

    ``shortcut="sew"`` (Spikformer): ``SN(BN(W2 SN(BN(W1 x))))``;
    ``shortcut="ms"``: ``BN(W2 SN(BN(W1 SN(x))))``, and when ``hidden == C`` the released SDT /
    Max-Former code adds an inner residual after the first layer.

    Shapes: ``[T, B, C, H, W] -> [T, B, C, H, W]`` (the branch; the residual add is the caller's).
    """

    def __init__(self, dim: int, hidden: int, *, shortcut: str = "sew", neuron: NeuronSpec = "lif",
                 surrogate: str = "sigmoid") -> None:
        super().__init__()
        self.shortcut = check_shortcut(shortcut)
        self.fc1 = ConvBN(dim, hidden, bias=True)
        self.fc2 = ConvBN(hidden, dim, bias=True)
        c1, c2 = (hidden, dim) if shortcut == "sew" else (dim, hidden)  # channels lif1 / lif2 see
        self.lif1, self.lif2 = make_neuron(neuron, surrogate, features=c1), make_neuron(neuron, surrogate, features=c2)
        self.inner_residual = shortcut == "ms" and hidden == dim

    def forward(self, x: Tensor) -> Tensor:
        if self.shortcut == "sew":
            return self.lif2(self.fc2(self.lif1(self.fc1(x))))
        h = self.fc1(self.lif1(x))
        if self.inner_residual:
            h = h + x
        return self.fc2(self.lif2(h))


class TransformerBlock(nn.Module):
    """``x = x + Attn(x); x = x + MLP(x)`` (no norm layers; BN sits inside the branches).

    Args:
        dim, num_heads: Width and heads; mlp_ratio: hidden width factor of the MLP.
        layer_scale: If given, learnable per-channel scales ``γ`` (initialised to this value) on
            both branches, ``x = x + γ_1 ⊙ Attn(x)`` (QSD-Transformer uses 1e-6).
        **attn: Options of :class:`SpikingSelfAttention` (``kind``, ``proj``, ``scale`` ...).

    Shapes: ``[T, B, C, H, W] -> [T, B, C, H, W]``.
    """

    def __init__(self, dim: int, num_heads: int, *, mlp_ratio: float = 4.0, shortcut: str = "sew",
                 layer_scale: float | None = None, neuron: NeuronSpec = "lif", surrogate: str = "sigmoid",
                 **attn: object) -> None:
        super().__init__()
        self.gamma1: nn.Parameter | None
        self.gamma2: nn.Parameter | None
        if layer_scale is None:
            self.gamma1 = self.gamma2 = None
        else:
            self.gamma1 = nn.Parameter(torch.full((dim, 1, 1), float(layer_scale)))  # [C, 1, 1]
            self.gamma2 = nn.Parameter(torch.full((dim, 1, 1), float(layer_scale)))
        self.attn = SpikingSelfAttention(dim, num_heads, shortcut=shortcut, neuron=neuron, surrogate=surrogate,
                                         **attn)  # type: ignore[arg-type]
        self.mlp = SpikingMLP(dim, int(dim * mlp_ratio), shortcut=shortcut, neuron=neuron, surrogate=surrogate)

    def forward(self, x: Tensor) -> Tensor:
        if self.gamma1 is None or self.gamma2 is None:
            x = x + self.attn(x)
            return x + self.mlp(x)
        x = x + self.gamma1 * self.attn(x)
        return x + self.gamma2 * self.mlp(x)
