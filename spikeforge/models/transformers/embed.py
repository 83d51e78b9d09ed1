"""Patch embeddings: Spikformer's SPS and SDT's MS-SPS (with SDT's pooling patterns).

SPS maps an image sequence ``[T, B, C_in, H, W]`` to a token map ``[T, B, D, H', W']`` through
four ``Conv3x3 (no bias) -> BN -> LIF`` stages with channels ``C_in -> D/8 -> D/4 -> D/2 -> D``;
``pooling[i] == "1"`` puts ``MaxPool(3, 2, 1)`` after stage ``i`` (``H' = H / 2^#pools``).
A relative position embedding (RPE) conv follows:

* ``shortcut="sew"`` (Spikformer): ``x = LIF(BN(Conv3x3(s))) + s`` with ``s`` the spikes of
  stage 4, so the output is an integer spike count in {0, 1, 2}.
* ``shortcut="ms"`` (SDT): stage 4 has no neuron, ``u = [MaxPool](BN(Conv(.)))`` stays real-valued
  and ``x = BN(Conv3x3(LIF(u))) + u`` (membrane shortcut).
"""

from __future__ import annotations

from torch import Tensor, nn

from ...layers.time import TimeDistributed
from ._neuron import ConvBN, NeuronSpec, make_neuron

__all__ = ["SPS", "check_shortcut"]


def check_shortcut(shortcut: str) -> str:
    if shortcut not in ("sew", "ms"):
        raise ValueError(f"shortcut must be 'sew' (spike + spike) or 'ms' (membrane shortcut), got {shortcut!r}")
    return shortcut


class SPS(nn.Module):
    """Spiking patch splitting (Spikformer) / MS-SPS (SDT); see the module docstring.

    Args:
        in_channels: Image channels.
        embed_dim: Token width ``D`` (divisible by 8).
        pooling: Four characters in {0, 1}: which stages are followed by a max-pool
            (Spikformer CIFAR ``"0011"``, ImageNet ``"1111"``; SDT DVS128 ``"0111"``).
        shortcut: ``"sew"`` or ``"ms"``.
        neuron, surrogate: See :func:`~spikeforge.models.transformers.make_neuron`.

    Shapes:
        ``[T, B, C_in, H, W] -> [T, B, D, H / 2^k, W / 2^k]`` with ``k`` the number of pools.
    """

    def __init__(self, in_channels: int, embed_dim: int, *, pooling: str = "0011", shortcut: str = "sew",
                 neuron: NeuronSpec = "lif", surrogate: str = "sigmoid") -> None:
        super().__init__()
        if len(pooling) != 4 or set(pooling) - {"0", "1"}:
            raise ValueError(f"pooling must be 4 characters of 0/1 (one per stage), got {pooling!r}")
        if embed_dim % 8:
            raise ValueError(f"embed_dim must be divisible by 8 (SPS widths D/8, D/4, D/2, D), got {embed_dim}")
        self.shortcut = check_shortcut(shortcut)
        self.pooling = pooling
        widths = [in_channels, embed_dim // 8, embed_dim // 4, embed_dim // 2, embed_dim]
        self.convs = nn.ModuleList(ConvBN(widths[i], widths[i + 1], 3, 1, 1) for i in range(4))
        n_lif = 4 if shortcut == "sew" else 3  # MS: stage 4 stays a membrane
        self.lifs = nn.ModuleList(make_neuron(neuron, surrogate, features=widths[i + 1]) for i in range(n_lif))
        self.pool = TimeDistributed(nn.MaxPool2d(3, 2, 1))
        self.rpe = ConvBN(embed_dim, embed_dim, 3, 1, 1)
        self.rpe_lif = make_neuron(neuron, surrogate, features=embed_dim)

    @property
    def stride(self) -> int:
        return 2 ** self.pooling.count("1")

    def forward(self, xs: Tensor) -> Tensor:
        x = xs  # [T, B, C_in, H, W]
        for i, conv in enumerate(self.convs):
            x = conv(x)  # [T, B, C_i, H_i, W_i]
            if i < len(self.lifs):
                x = self.lifs[i](x)
            if self.pooling[i] == "1":
                x = self.pool(x)  # [T, B, C_i, H_i / 2, W_i / 2]
        if self.shortcut == "sew":
            return self.rpe_lif(self.rpe(x)) + x  # spikes + spikes: [T, B, D, H', W']
        return self.rpe(self.rpe_lif(x)) + x  # membrane shortcut: [T, B, D, H', W']
