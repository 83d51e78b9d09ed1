r"""Spiking self-attention: SSA (Spikformer) and SDSA (Spike-driven Transformer v1 / v2).

All operate on token maps ``[T, B, C, H, W]`` (``N = H W`` tokens, ``C = h d`` channels split
into ``h`` heads of width ``d``; channel ``c`` belongs to head ``c // d``). There is no softmax
and no positional term inside attention, so every form is equivariant to token permutations.

* SSA: :math:`A = SN_{0.5}\big((Q K^\top) V \cdot s\big)` with binary ``Q, K, V`` per head
  (:func:`ssa_product`); ``(Q Kᵀ) V`` and ``Q (Kᵀ V)`` are the same integers, the second costs
  ``O(N d²)`` instead of ``O(N² d)``. Meta-SpikeFormer's SDSA-3 (``Q (Kᵀ V)``, threshold 0.5,
  scale 0.125) is this product as the released code defines it **[code]**.
* Meta-SpikeFormer's SDSA-1 … SDSA-4 table is **unverified** (the implementation reference has
  it from memory of the paper, not re-checked): reading SDSA-1 as SDT v1's form (``"sdsa"``) and
  SDSA-2 as ``SN_s(Q Kᵀ V · s)`` (the same product as SSA) follows that unverified table. SDSA-4
  (a neuron on ``Kᵀ V``) exists only in that table, not in the released code, and is not built:
  asking for it raises an error that says so.
* SDSA v1: :math:`A = Q \odot SN_{0.5}\big(\textstyle\sum_{tokens} K \odot V\big)`
  (:func:`sdsa_v1_kv`), linear in tokens and channels, masks and additions only.
* ``kind="softmax"`` is the non-spiking yardstick, :math:`\mathrm{softmax}(Q K^\top/\sqrt d)\,V`
  (use it with a ReLU ``neuron`` factory to build the ANN twin of a spiking model).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._neuron import ConvBN, NeuronSpec, make_neuron
from .conv import RepConvBN
from .embed import check_shortcut

__all__ = ["SpikingSelfAttention", "from_heads", "sdsa_v1_kv", "ssa_product", "to_heads"]

KINDS = ("ssa", "sdsa", "softmax")


def to_heads(x: Tensor, num_heads: int) -> Tensor:
    """``[T, B, C, H, W] -> [T, B, h, N, C/h]`` (channel ``c`` -> head ``c // d``, lane ``c % d``)."""
    x = x.flatten(3).transpose(-1, -2)  # [T, B, C, H, W] -> [T, B, N, C]
    x = x.unflatten(-1, (num_heads, x.shape[-1] // num_heads))  # [T, B, N, h, d]
    return x.transpose(2, 3)  # [T, B, h, N, d]


def from_heads(a: Tensor, hw: tuple[int, int]) -> Tensor:
    """Inverse of :func:`to_heads`: ``[T, B, h, N, d] -> [T, B, C, H, W]``."""
    a = a.transpose(2, 3).flatten(3)  # [T, B, h, N, d] -> [T, B, N, C]
    return a.transpose(-1, -2).unflatten(-1, hw)  # [T, B, C, H, W]


def ssa_product(q: Tensor, k: Tensor, v: Tensor, scale: float, *, order: str = "q_kv") -> Tensor:
    r""":math:`(Q K^\top) V \cdot s` over the last two dims ``[..., N, d]``.

    ``order="qk_v"`` computes ``(Q Kᵀ) V`` (Spikformer CIFAR), ``"q_kv"`` computes ``Q (Kᵀ V)``
    (Spikformer ImageNet, SDSA-3); equal in exact arithmetic, and exactly equal in floating
    point while the integer counts fit the mantissa (``N d < 2^24`` in float32).
    """
    if order == "qk_v":
        return (q @ k.transpose(-2, -1)) @ v * scale  # [..., N, N] @ [..., N, d]
    if order == "q_kv":
        return q @ (k.transpose(-2, -1) @ v) * scale  # [..., N, d] @ [..., d, d]
    raise ValueError(f"order must be 'qk_v' or 'q_kv', got {order!r}")


def sdsa_v1_kv(k: Tensor, v: Tensor) -> Tensor:
    """SDSA v1's column sum: ``sum over tokens of K ⊙ V``, ``[..., N, d] -> [..., 1, d]``.

    Written as an ``einsum`` so :func:`~spikeforge.metrics.profile` counts its products (one AC per
    token and channel where both spikes are 1)."""
    return torch.einsum("...nd,...nd->...d", k, v).unsqueeze(-2)  # [..., N, d] x2 -> [..., 1, d]


class SpikingSelfAttention(nn.Module):
    r"""One attention branch (the residual add is the caller's).

    ``shortcut="sew"`` (Spikformer): ``out = SN(BN(W_o A))`` from the block input ``x``;
    ``shortcut="ms"`` (SDT, Meta-SpikeFormer, Max-Former): ``s = SN(x)`` first and
    ``out = BN(W_o A)`` is a real-valued membrane. In both, ``Q = SN(BN(W_q s))`` (likewise
    ``K``, ``V``) and ``A`` is SSA or SDSA v1 (module docstring) with attention neurons of
    threshold ``attn_v_th``.

    Args:
        dim: Channels ``C``; num_heads: ``h`` (divides ``C``).
        kind: ``"ssa"``, ``"sdsa"`` (v1) or ``"softmax"`` (ANN yardstick).
        shortcut: ``"sew"`` or ``"ms"``.
        proj: ``"conv"`` (1x1 conv = per-token linear layer) or ``"repconv"`` (Meta-SpikeFormer's
            re-parameterisable RepConv + BN for Q, K, V and the output).
        qkv_bias: Bias on the Q/K/V 1x1 convs (Spikformer CIFAR's Linear layers have one).
        scale: ``s`` in SSA (0.125 Spikformer/Meta, 0.25 Spikformer DVS / QSD).
        order: SSA product order, ``"q_kv"`` or ``"qk_v"`` (same values).
        attn_v_th: Threshold of the attention neuron (0.5 in every released model).
        random_qk: STEP's random-Q/K ablation: the Q and K projections (conv and BN) keep their
            random initialisation (``requires_grad=False``); V and the output still learn.

    Shapes:
        ``[T, B, C, H, W] -> [T, B, C, H, W]``.
    """

    def __init__(self, dim: int, num_heads: int, *, kind: str = "ssa", shortcut: str = "sew",
                 proj: str = "conv", qkv_bias: bool = False, scale: float = 0.125, order: str = "q_kv",
                 attn_v_th: float = 0.5, random_qk: bool = False, neuron: NeuronSpec = "lif",
                 surrogate: str = "sigmoid") -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        if kind not in KINDS:
            if kind.replace("-", "").replace("_", "").lower() == "sdsa4":
                raise ValueError("SDSA-4 (a neuron on Kᵀ V) is not built: it appears only in Meta-SpikeFormer's "
                                 "paper table, which the reference marks unverified, and not in the released code; "
                                 f"attention kind must be one of {KINDS}")
            raise ValueError(f"attention kind must be one of {KINDS}, got {kind!r}")
        if proj not in ("conv", "repconv"):
            raise ValueError(f"proj must be 'conv' or 'repconv', got {proj!r}")
        if order not in ("qk_v", "q_kv"):
            raise ValueError(f"order must be 'qk_v' or 'q_kv', got {order!r}")
        self.dim, self.num_heads, self.kind, self.scale, self.order = dim, num_heads, kind, scale, order
        self.shortcut = check_shortcut(shortcut)

        def linear(bias: bool) -> nn.Module:
            return RepConvBN(dim, dim) if proj == "repconv" else ConvBN(dim, dim, bias=bias)

        self.q, self.k, self.v = linear(qkv_bias), linear(qkv_bias), linear(qkv_bias)
        if random_qk:
            for p in (*self.q.parameters(), *self.k.parameters()):
                p.requires_grad_(False)
        self.out = linear(True)
        self.q_lif, self.k_lif, self.v_lif = (make_neuron(neuron, surrogate, features=dim) for _ in range(3))
        # on head-split [T, B, h, N, d]; a features-reading neuron (HD-LIF) gets each token's C = h·d channels
        self.attn_lif = make_neuron(neuron, surrogate, v_th=attn_v_th, features=dim, layout="heads")
        self.io_lif = make_neuron(neuron, surrogate, features=dim)  # before Q/K/V (ms) or after the output (sew)

    def attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Spike heads ``[T, B, h, N, d]`` -> attention spikes ``[T, B, h, N, d]``."""
        if self.kind == "ssa":
            return self.attn_lif(ssa_product(q, k, v, self.scale, order=self.order))
        if self.kind == "softmax":
            w = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)  # [T, B, h, N, N]
            return self.attn_lif(w @ v)
        kv = self.attn_lif(sdsa_v1_kv(k, v))  # [T, B, h, 1, d] spikes
        return torch.einsum("...nd,...od->...nd", q, kv)  # Q ⊙ kv (o = 1), counted by the profiler: [T, B, h, N, d]

    def forward(self, x: Tensor) -> Tensor:
        hw = (x.shape[-2], x.shape[-1])
        s = self.io_lif(x) if self.shortcut == "ms" else x  # [T, B, C, H, W]
        q = to_heads(self.q_lif(self.q(s)), self.num_heads)  # [T, B, h, N, d]
        k = to_heads(self.k_lif(self.k(s)), self.num_heads)
        v = to_heads(self.v_lif(self.v(s)), self.num_heads)
        a = from_heads(self.attend(q, k, v), hw)  # [T, B, C, H, W]
        out = self.out(a)
        return self.io_lif(out) if self.shortcut == "sew" else out

