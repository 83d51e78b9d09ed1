"""Spikformer (Zhou et al., ICLR 2023) and Spike-driven Transformer v1 (Yao et al., NeurIPS 2023).

Both are ``SPS stem -> L x TransformerBlock -> mean over tokens -> Linear``; they differ in the
shortcut and the attention:

* Spikformer: SEW shortcuts (block inputs are integer spike counts), SSA, head without neuron.
* SDT v1: membrane shortcuts (every conv after the stem sees spikes), SDSA v1, head ``Linear(LIF(.))``.

Either can take the other's options (``shortcut=``, ``attention=``), e.g. Spikformer with SDSA.
Published configurations are registered in :mod:`spikeforge.models.transformers.zoo`.
"""

from __future__ import annotations

from torch import nn

from ._classifier import SpikingTransformerClassifier
from ._neuron import NeuronSpec
from .block import TransformerBlock
from .embed import SPS

__all__ = ["SpikeDrivenTransformer", "Spikformer"]


class Spikformer(SpikingTransformerClassifier):
    """Spikformer: SPS -> ``depth`` blocks of SSA + MLP (SEW) -> Linear.

    Args:
        embed_dim: Token width ``D``; depth: number of blocks ``L``; num_heads: heads.
        mlp_ratio: MLP hidden width ``/ D``.
        pooling: SPS max-pool pattern (``"0011"`` CIFAR 32² -> 8², ``"1111"`` ImageNet 224² -> 14²
            and DVS 128² -> 8²).
        qkv_bias: Bias on Q/K/V (the CIFAR code's ``nn.Linear`` has one; ImageNet/DVS: no).
        scale: SSA scale (0.125; DVS 0.25).
        attention: ``"ssa"``, ``"sdsa"`` or ``"softmax"``; shortcut: ``"sew"`` or ``"ms"``.
        random_qk: STEP's ablation: Q and K projections frozen at their random initialisation.
        in_channels, num_classes, img_size, T: Input and output sizes, time steps.
        neuron, surrogate: Any registered spiking neuron / surrogate (defaults reproduce
            SpikingJelly's ``LIF(tau=2)`` with ``Sigmoid(alpha=4)``).

    Shapes:
        ``[B, C_in, img, img]`` (repeated T times) or ``[T, B, C_in, img, img]`` ->
        per-step logits ``[T, B, num_classes]``.

    Example:
        >>> net = Spikformer(embed_dim=32, depth=1, num_heads=2, img_size=16, T=2)
        >>> net(torch.rand(3, 3, 16, 16)).shape
        torch.Size([2, 3, 10])
    """

    head_neuron = False
    default_shortcut, default_attention = "sew", "ssa"

    def __init__(self, *, embed_dim: int = 384, depth: int = 4, num_heads: int = 12, mlp_ratio: float = 4.0,
                 pooling: str = "0011", qkv_bias: bool = True, scale: float = 0.125,
                 attention: str | None = None, shortcut: str | None = None, random_qk: bool = False,
                 in_channels: int = 3, num_classes: int = 10, img_size: int = 32, T: int = 4,
                 neuron: NeuronSpec = "lif", surrogate: str = "sigmoid") -> None:
        shortcut = shortcut or self.default_shortcut
        attention = attention or self.default_attention
        stride = 2 ** pooling.count("1")
        if img_size % stride:
            raise ValueError(f"img_size {img_size} is not divisible by the SPS stride {stride} (pooling {pooling!r})")
        opts = {"neuron": neuron, "surrogate": surrogate}
        features = nn.Sequential(
            SPS(in_channels, embed_dim, pooling=pooling, shortcut=shortcut, **opts),
            *(TransformerBlock(embed_dim, num_heads, mlp_ratio=mlp_ratio, shortcut=shortcut, kind=attention,
                               qkv_bias=qkv_bias, scale=scale, random_qk=random_qk,
                               **opts) for _ in range(depth)))
        super().__init__(features, embed_dim, num_classes, T=T, in_channels=in_channels,
                         head_neuron=self.head_neuron, **opts)
        self.img_size, self.num_tokens = img_size, (img_size // stride) ** 2


class SpikeDrivenTransformer(Spikformer):
    """Spike-driven Transformer v1: Spikformer's layout with membrane shortcuts (MS-SPS stem,
    ``LIF`` at the start of every branch), SDSA v1 attention, no Q/K/V bias and a
    ``Linear(LIF(.))`` head; arguments as :class:`Spikformer` (SDT CIFAR ``pooling="0011"``,
    DVS128 ``"0111"``, ImageNet ``"1111"``).

    Example:
        >>> net = SpikeDrivenTransformer(embed_dim=32, depth=1, num_heads=2, img_size=16, T=2)
        >>> net(torch.rand(3, 3, 16, 16)).shape
        torch.Size([2, 3, 10])
    """

    head_neuron = True
    default_shortcut, default_attention = "ms", "sdsa"

    def __init__(self, *, qkv_bias: bool = False, **kwargs: object) -> None:
        super().__init__(qkv_bias=qkv_bias, **kwargs)  # type: ignore[arg-type]
