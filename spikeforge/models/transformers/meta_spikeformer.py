"""Meta-SpikeFormer = Spike-driven Transformer V2 (Yao et al., ICLR 2024).

A four-stage pyramid with membrane shortcuts everywhere (released ``Spiking_vit_MetaFormer``),
``embed_dims = (c0, c1, c2, c3)``, for a ``224²`` image:

``DS(7x7 s2, no LIF) -> c0/2 @112`` -> ConvBlock -> ``DS(3x3 s2) -> c0 @56`` -> ConvBlock ->
``DS -> c1 @28`` -> 2 ConvBlocks -> ``DS -> c2 @14`` (196 tokens) -> ``depths[0]`` transformer
blocks -> ``DS(3x3 s1) -> c3 @14`` -> ``depths[1]`` blocks -> ``Linear(LIF(mean_N x))``.

Transformer blocks use SDSA-3 (``SN_0.5(Q (Kᵀ V) s)``, ``s = 0.125``) with RepConv + BN
projections (:class:`~spikeforge.models.transformers.conv.RepConvBN`): the released code's only
attention **[code]**. The paper's other variants (SDSA-1, -2, -4) come from a table the
implementation reference marks **unverified**; ``attention="sdsa"`` is SDT v1's form (SDSA-1 by
that unverified table) and SDSA-4 is not built.
"""

from __future__ import annotations

from torch import nn

from ._classifier import SpikingTransformerClassifier
from ._neuron import NeuronSpec
from .block import TransformerBlock
from .conv import MSConvBlock, MSDownsample

__all__ = ["MetaSpikeFormer"]


class MetaSpikeFormer(SpikingTransformerClassifier):
    """Meta-SpikeFormer classifier (module docstring).

    Args:
        embed_dims: ``(c0, c1, c2, c3)``; ``c0`` even.
        depths: Transformer blocks in stage 3 and stage 4 (released: ``(6, 2)``).
        num_heads: Heads of every attention block (divides ``c2`` and ``c3``).
        mlp_ratio: MLP and ConvBlock expansion.
        attention: ``"ssa"`` (= SDSA-3 with ``proj="repconv"``, released) or ``"sdsa"`` (v1 form;
            "SDSA-1" only by the reference's unverified reading of the paper table);
        proj: ``"repconv"`` (released) or ``"conv"`` (1x1 conv).
        scale: Attention scale.
        strides: Strides of the four downsampling layers before the transformer stage (released
            ``(2, 2, 2, 2)``: ``(S/16)²`` tokens). A small image needs fewer, e.g. ``(1, 2, 2, 2)``
            keeps ``2 x 2`` tokens at ``S = 16``; the conv weights, hence the parameter count, do
            not depend on the strides.
        layer_scale: Per-channel branch scales in the transformer blocks (``None``: none).
        random_qk: STEP's ablation: Q and K projections frozen at their random initialisation.
        in_channels, num_classes, img_size, T, neuron, surrogate: as for every zoo model
            (the released code trains at ``T = 1`` and fine-tunes at ``T = 4``).

    Shapes:
        ``[B, C_in, S, S]`` or ``[T, B, C_in, S, S]`` -> ``[T, B, num_classes]``; ``S`` divisible by
        ``prod(strides)`` (16 as released); ``num_tokens = (S / prod(strides))²``.

    Example:
        >>> net = MetaSpikeFormer(embed_dims=(8, 16, 32, 32), depths=(1, 1), num_heads=2, img_size=32, T=1)
        >>> net(torch.rand(2, 3, 32, 32)).shape
        torch.Size([1, 2, 1000])
    """

    def __init__(self, *, embed_dims: tuple[int, int, int, int] = (96, 192, 384, 480),
                 depths: tuple[int, int] = (6, 2), num_heads: int = 8, mlp_ratio: int = 4,
                 attention: str = "ssa", proj: str = "repconv", scale: float = 0.125,
                 layer_scale: float | None = None, random_qk: bool = False,
                 strides: tuple[int, int, int, int] = (2, 2, 2, 2),
                 in_channels: int = 3, num_classes: int = 1000, img_size: int = 224, T: int = 1,
                 neuron: NeuronSpec = "lif", surrogate: str = "sigmoid") -> None:
        c0, c1, c2, c3 = embed_dims
        if c0 % 2:
            raise ValueError(f"embed_dims[0] must be even (the stem has c0/2 channels), got {c0}")
        if len(strides) != 4 or any(int(s) != s or s < 1 for s in strides):
            raise ValueError(f"strides must be four positive integers (one per downsampling layer), got {strides}")
        reduction = strides[0] * strides[1] * strides[2] * strides[3]
        if img_size % reduction:
            raise ValueError(f"img_size must be divisible by prod(strides) = {reduction} (strides {tuple(strides)}), "
                             f"got {img_size}")
        opts = {"neuron": neuron, "surrogate": surrogate}

        def blocks(dim: int, n: int) -> list[nn.Module]:
            return [TransformerBlock(dim, num_heads, mlp_ratio=mlp_ratio, shortcut="ms", kind=attention, proj=proj,
                                     scale=scale, layer_scale=layer_scale, random_qk=random_qk, **opts)
                    for _ in range(n)]

        features = nn.Sequential(
            MSDownsample(in_channels, c0 // 2, 7, strides[0], first=True, **opts),  # stem: sees the image
            MSConvBlock(c0 // 2, mlp_ratio=mlp_ratio, **opts),
            MSDownsample(c0 // 2, c0, 3, strides[1], **opts),
            MSConvBlock(c0, mlp_ratio=mlp_ratio, **opts),
            MSDownsample(c0, c1, 3, strides[2], **opts),
            MSConvBlock(c1, mlp_ratio=mlp_ratio, **opts),
            MSConvBlock(c1, mlp_ratio=mlp_ratio, **opts),
            MSDownsample(c1, c2, 3, strides[3], **opts),
            *blocks(c2, depths[0]),
            MSDownsample(c2, c3, 3, 1, **opts),
            *blocks(c3, depths[1]))
        super().__init__(features, c3, num_classes, T=T, in_channels=in_channels, head_neuron=True, **opts)
        self.img_size, self.num_tokens = img_size, (img_size // reduction) ** 2
