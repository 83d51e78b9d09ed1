"""Spiking transformers: shared blocks and the registered model families.

Blocks (time-major ``[T, B, C, H, W]`` token maps, explicit neurons from the registry):
:class:`SPS` patch embedding, :class:`SpikingSelfAttention` (SSA / SDSA v1, SEW or MS shortcut,
1x1 or RepConv projections), :class:`SpikingMLP`, :class:`TransformerBlock`, Meta-SpikeFormer's
:class:`SepConv` / :class:`RepConvBN` / :class:`MSConvBlock` / :class:`MSDownsample`.
Families: :class:`Spikformer`, :class:`SpikformerV2` (our generic reading: a configurable deep
:class:`SpikingConvStem` instead of SPS, not the paper's unreleased SCS),
:class:`SpikeDrivenTransformer`, :class:`MetaSpikeFormer`,
:class:`MaxFormer` (max-pool embeddings :class:`MaxFormerEmbedding`, :class:`DWCMixer` token mixers),
:class:`QSDTransformer` (:class:`MultiSpike` neurons, 4-bit :func:`quantize_lsq` weights);
named configurations in :mod:`.zoo`.
"""

from . import zoo as _zoo  # noqa: F401  (registers the named configurations)
from ._classifier import SpikingTransformerClassifier as SpikingTransformerClassifier
from ._neuron import ConvBN as ConvBN
from ._neuron import FeaturesLast as FeaturesLast
from ._neuron import make_neuron as make_neuron
from ._neuron import sequence_neuron_factory as sequence_neuron_factory
from .attention import SpikingSelfAttention as SpikingSelfAttention
from .attention import from_heads as from_heads
from .attention import sdsa_v1_kv as sdsa_v1_kv
from .attention import ssa_product as ssa_product
from .attention import to_heads as to_heads
from .block import SpikingMLP as SpikingMLP
from .block import TransformerBlock as TransformerBlock
from .conv import MSConvBlock as MSConvBlock
from .conv import MSDownsample as MSDownsample
from .conv import RepConvBN as RepConvBN
from .conv import SepConv as SepConv
from .conv import bn_pad as bn_pad
from .embed import SPS as SPS
from .maxformer import DWCMixer as DWCMixer
from .maxformer import MaxEmbed as MaxEmbed
from .maxformer import MaxFormer as MaxFormer
from .maxformer import MaxFormerEmbedding as MaxFormerEmbedding
from .meta_spikeformer import MetaSpikeFormer as MetaSpikeFormer
from .qsd import LSQConv2d as LSQConv2d
from .qsd import LSQLinear as LSQLinear
from .qsd import MultiSpike as MultiSpike
from .qsd import QSDTransformer as QSDTransformer
from .qsd import quantize_lsq as quantize_lsq
from .spikformer import SpikeDrivenTransformer as SpikeDrivenTransformer
from .spikformer import Spikformer as Spikformer
from .spikformer_v2 import SpikformerV2 as SpikformerV2
from .spikformer_v2 import SpikingConvStem as SpikingConvStem
from .spikformer_v2 import StemStage as StemStage
from .spikformer_v2 import deep_stem as deep_stem

__all__ = [
    "ConvBN", "DWCMixer", "FeaturesLast", "MaxEmbed", "MaxFormer", "MaxFormerEmbedding",
    "LSQConv2d", "LSQLinear", "MultiSpike", "QSDTransformer", "quantize_lsq",
    "MSConvBlock", "MSDownsample", "MetaSpikeFormer", "RepConvBN", "SPS", "SepConv",
    "SpikeDrivenTransformer", "SpikformerV2", "SpikingConvStem", "SpikingMLP", "SpikingSelfAttention",
    "SpikingTransformerClassifier", "Spikformer", "StemStage", "TransformerBlock", "bn_pad", "deep_stem",
    "from_heads", "make_neuron", "sdsa_v1_kv", "sequence_neuron_factory", "ssa_product", "to_heads",
]
