"""Max-Former (Fang et al., NeurIPS 2025, "Spiking Transformers Need High Frequency Information").

LIF neurons act as low-pass filters; Max-Former restores high frequencies with extra max-pools in
the patch embeddings and depth-wise-conv token mixers in the early stages, keeping SSA only in the
last stage. Membrane shortcuts throughout. Three stages of widths ``D/4, D/2, D``; each is a patch
embedding followed by blocks ``x = Mixer(x); x = x + MLP(x)`` where a mixer is the identity, a
depth-wise conv ``x + BN(DWConv_k(LIF(x)))``, or SSA (:class:`SpikingSelfAttention`, MS form).

Embeddings (``Embed = LIF -> Conv -> BN``, ``Max-Embed = Embed -> MaxPool(3, 2, 1)``; the LIF is
skipped where the input already is spikes):

* ``"orig"`` (CIFAR stage 1): ``u = BN(Conv3x3_{C->E/2}(img))``; ``Embed3x3(u) + Embed1x1(u)``.
* ``"orig_imagenet"`` (224 -> 56): ``u1 = BN(Conv3x3 s2 (img))``, ``s1 = LIF(u1)``,
  ``u2 = BN(Conv3x3 s2 (s1))``; ``BN(Conv3x3(LIF(u2))) + BN(Conv1x1 s2 (s1))``.
* ``"max"`` (halves H, W): ``s = LIF(x)``, ``u = MaxPool(BN(Conv3x3(s)))``;
  ``Embed3x3(u) + MaxPool(BN(Conv1x1(s)))``.
* ``"max_plus"`` (DVS, 128 -> 16): stem ``BN(Conv3x3_{C->E/8})``, three Max-Embeds
  ``E/8 -> E/4 -> E/2 -> E`` and a shortcut ``BN(Conv1x1 s4)`` from the second one's input spikes.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ...layers.time import TimeDistributed
from ._classifier import SpikingTransformerClassifier
from ._neuron import ConvBN, NeuronSpec, make_neuron
from .block import SpikingMLP, TransformerBlock

__all__ = ["DWCMixer", "MaxEmbed", "MaxFormer", "MaxFormerEmbedding"]

EMBEDS = ("orig", "orig_imagenet", "max", "max_plus")


class MaxEmbed(nn.Module):
    """``[LIF] -> Conv(k, stride, no bias) -> BN -> [MaxPool(3, 2, 1)]``.

    Shapes: ``[T, B, C_in, H, W] -> [T, B, C_out, H', W']``.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 1, *, pool: bool,
                 spiking_input: bool = False, neuron: NeuronSpec = "lif", surrogate: str = "sigmoid") -> None:
        super().__init__()
        self.lif = None if spiking_input else make_neuron(neuron, surrogate, features=c_in)
        self.conv = ConvBN(c_in, c_out, kernel_size, stride, kernel_size // 2)
        self.pool = TimeDistributed(nn.MaxPool2d(3, 2, 1)) if pool else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x if self.lif is None else self.lif(x))
        return y if self.pool is None else self.pool(y)


class MaxFormerEmbedding(nn.Module):
    """One of Max-Former's patch embeddings (module docstring), ``c_in -> E`` channels."""

    def __init__(self, kind: str, c_in: int, E: int, *, neuron: NeuronSpec = "lif", surrogate: str = "sigmoid") -> None:
        super().__init__()
        if kind not in EMBEDS:
            raise ValueError(f"Max-Former embedding must be one of {EMBEDS}, got {kind!r}")
        self.kind = kind
        o = {"neuron": neuron, "surrogate": surrogate}
        u_channels = {"orig": E // 2, "orig_imagenet": E // 2, "max": c_in, "max_plus": E // 4}[kind]  # of u below
        self.lif = make_neuron(neuron, surrogate, features=u_channels)  # the spikes the shortcut branch reads
        self.stem: nn.Module | None
        self.main: nn.Module
        if kind == "orig":
            self.stem = ConvBN(c_in, E // 2, 3, 1, 1)
            self.main = MaxEmbed(E // 2, E, 3, pool=False, spiking_input=True, **o)
            self.short = MaxEmbed(E // 2, E, 1, pool=False, spiking_input=True, **o)
        elif kind == "orig_imagenet":
            self.stem = ConvBN(c_in, E // 2, 3, 2, 1)
            self.main = nn.Sequential(MaxEmbed(E // 2, E, 3, 2, pool=False, spiking_input=True, **o),
                                      MaxEmbed(E, E, 3, pool=False, **o))
            self.short = MaxEmbed(E // 2, E, 1, 2, pool=False, spiking_input=True, **o)
        elif kind == "max":
            self.stem = None
            self.main = nn.Sequential(MaxEmbed(c_in, E, 3, pool=True, spiking_input=True, **o),
                                      MaxEmbed(E, E, 3, pool=False, **o))
            self.short = MaxEmbed(c_in, E, 1, pool=True, spiking_input=True, **o)
        else:  # max_plus
            self.stem = nn.Sequential(ConvBN(c_in, E // 8, 3, 1, 1), MaxEmbed(E // 8, E // 4, 3, pool=True, **o))
            self.main = nn.Sequential(MaxEmbed(E // 4, E // 2, 3, pool=True, spiking_input=True, **o),
                                      MaxEmbed(E // 2, E, 3, pool=True, **o))
            self.short = MaxEmbed(E // 4, E, 1, 4, pool=False, spiking_input=True, **o)

    def forward(self, x: Tensor) -> Tensor:
        u = x if self.stem is None else self.stem(x)  # [T, B, C, H, W]
        s = self.lif(u)  # spikes shared by both branches
        return self.main(s) + self.short(s)  # membrane add: [T, B, E, H', W']


class DWCMixer(nn.Module):
    """Depth-wise conv token mixer with its membrane shortcut: ``x + BN(DWConv_k(LIF(x)))``
    (groups = C, with bias). Shapes: ``[T, B, C, H, W]`` -> same."""

    def __init__(self, dim: int, kernel_size: int, *, neuron: NeuronSpec = "lif", surrogate: str = "sigmoid") -> None:
        super().__init__()
        self.lif = make_neuron(neuron, surrogate, features=dim)
        self.conv = ConvBN(dim, dim, kernel_size, 1, kernel_size // 2, groups=dim, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(self.lif(x))


class _MixerBlock(nn.Module):
    """``x = mixer(x)`` (identity or a mixer with its own shortcut); ``x = x + MLP(x)``."""

    def __init__(self, mixer: nn.Module, mlp: nn.Module) -> None:
        super().__init__()
        self.mixer, self.mlp = mixer, mlp

    def forward(self, x: Tensor) -> Tensor:
        x = self.mixer(x)
        return x + self.mlp(x)


class MaxFormer(SpikingTransformerClassifier):
    """Max-Former classifier (module docstring).

    Args:
        embed_dim: ``D`` (stage widths ``D/4, D/2, D``); for ``dims`` other than that, pass
            ``widths``.
        embeds: Embedding kind per stage (``EMBEDS``).
        mixers: Per stage, a tuple of block mixers: ``"id"``, ``"dwc3"``, ``"dwc5"``,
            ``"dwc7"`` or ``"ssa"``.
        num_heads: SSA heads; mlp_ratio: MLP width factor (1.0 enables the MLP's inner residual).
        widths: Stage widths (default ``(D/4, D/2, D)``).
        in_channels, num_classes, img_size, T, neuron, surrogate: as for every zoo model.

    Shapes:
        ``[B, C_in, S, S]`` or ``[T, B, C_in, S, S]`` -> ``[T, B, num_classes]``.

    Example:
        >>> net = MaxFormer(embed_dim=32, num_heads=2, img_size=16, T=2)
        >>> net(torch.rand(2, 3, 16, 16)).shape
        torch.Size([2, 2, 10])
    """

    def __init__(self, *, embed_dim: int = 384, embeds: Sequence[str] = ("orig", "max", "max"),
                 mixers: Sequence[Sequence[str]] = (("id",), ("dwc3",), ("ssa", "ssa")), num_heads: int = 8,
                 mlp_ratio: float = 4.0, widths: Sequence[int] | None = None, in_channels: int = 3,
                 num_classes: int = 10, img_size: int = 32, T: int = 4, neuron: NeuronSpec = "lif",
                 surrogate: str = "sigmoid") -> None:
        widths = tuple(widths) if widths is not None else (embed_dim // 4, embed_dim // 2, embed_dim)
        if not (len(embeds) == len(mixers) == len(widths)):
            raise ValueError(f"embeds, mixers and widths need one entry per stage, got {len(embeds)}, "
                             f"{len(mixers)}, {len(widths)}")
        o = {"neuron": neuron, "surrogate": surrogate}
        layers: list[nn.Module] = []
        c_in = in_channels
        for kind, stage, w in zip(embeds, mixers, widths):
            layers.append(MaxFormerEmbedding(kind, c_in, w, **o))
            for m in stage:
                layers.append(self._block(m, w, num_heads, mlp_ratio, o))
            c_in = w
        super().__init__(nn.Sequential(*layers), widths[-1], num_classes, T=T, in_channels=in_channels,
                         head_neuron=True, **o)
        stride = {"orig": 1, "orig_imagenet": 4, "max": 2, "max_plus": 8}
        total = 1
        for kind in embeds:
            total *= stride[kind]
        if img_size % total:
            raise ValueError(f"img_size {img_size} is not divisible by the embeddings' total stride {total}")
        self.img_size, self.num_tokens = img_size, (img_size // total) ** 2

    @staticmethod
    def _block(mixer: str, w: int, num_heads: int, mlp_ratio: float, o: dict) -> nn.Module:
        if mixer == "ssa":
            return TransformerBlock(w, num_heads, mlp_ratio=mlp_ratio, shortcut="ms", kind="ssa", **o)
        mlp = SpikingMLP(w, int(w * mlp_ratio), shortcut="ms", **o)
        if mixer == "id":
            return _MixerBlock(nn.Identity(), mlp)
        if mixer in ("dwc3", "dwc5", "dwc7"):
            return _MixerBlock(DWCMixer(w, int(mixer[-1]), **o), mlp)
        raise ValueError(f"unknown Max-Former mixer {mixer!r}; valid: 'id', 'dwc3', 'dwc5', 'dwc7', 'ssa'")
