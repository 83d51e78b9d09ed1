"""Quantization for integer hardware: weight QAT (STE), BitLinear, quantized membrane state (SQUAT),
integer export.

- :mod:`.fake_quant`: weight quantizers (``QUANTIZERS``: int-k symmetric/asymmetric per tensor or
  channel, LSQ learnable step, binary, absmean ternary, TWN) with straight-through gradients.
- :mod:`.qat`: ``QuantLinear`` / ``QuantConv1d`` / ``QuantConv2d`` and :func:`quantize_model`.
- :mod:`.bitlinear`: ``BitLinear`` (RMSNorm → 8-bit absmax activations → ternary weights).
- :mod:`.state_quant`: SQUAT levels (uniform, threshold-centred) and :func:`quantize_state`.
- :mod:`.export`: :func:`export_quantized` / :func:`load_quantized` (documented integer layout).
- :mod:`.cost`: Bit Budget and memory-aware energy priced with each layer's actual bit widths.

Example:
    >>> import torch, spikeforge as sf
    >>> from spikeforge.quant import IntQuant, StateQuant, quantize_model
    >>> net = torch.nn.Sequential(torch.nn.Linear(8, 4), sf.LIF.from_decay(0.9))
    >>> qnet = quantize_model(net, IntQuant(bits=4), state=StateQuant.threshold_centred(bits=4))
    >>> qnet(torch.rand(6, 2, 8)).shape
    torch.Size([6, 2, 4])
"""

from __future__ import annotations

from .bitlinear import BitLinear as BitLinear
from .bitlinear import absmax_quantize as absmax_quantize
from .bitlinear import rms_norm as rms_norm
from .cost import LayerwiseBitBudget as LayerwiseBitBudget
from .cost import LayerwiseMemoryEnergy as LayerwiseMemoryEnergy
from .cost import quant_energy_models as quant_energy_models
from .cost import state_bits as state_bits
from .export import export_quantized as export_quantized
from .export import load_quantized as load_quantized
from .fake_quant import QUANTIZERS as QUANTIZERS
from .fake_quant import BinaryQuant as BinaryQuant
from .fake_quant import IntQuant as IntQuant
from .fake_quant import IntWeight as IntWeight
from .fake_quant import LSQ as LSQ
from .fake_quant import TernaryQuant as TernaryQuant
from .fake_quant import TWNQuant as TWNQuant
from .fake_quant import WeightQuantizer as WeightQuantizer
from .fake_quant import round_ste as round_ste
from .fake_quant import ste as ste
from .qat import QuantConv1d as QuantConv1d
from .qat import QuantConv2d as QuantConv2d
from .qat import QuantLinear as QuantLinear
from .qat import QuantModule as QuantModule
from .qat import qat_layers as qat_layers
from .qat import quantize_model as quantize_model
from .qat import weight_bits as weight_bits
from .state_quant import StateQuant as StateQuant
from .state_quant import quantize_state as quantize_state
from .state_quant import quantize_to_levels as quantize_to_levels
from .state_quant import threshold_centred_levels as threshold_centred_levels
from .state_quant import uniform_levels as uniform_levels

__all__ = [
    "BinaryQuant", "BitLinear", "IntQuant", "IntWeight", "LSQ", "LayerwiseBitBudget", "LayerwiseMemoryEnergy",
    "QUANTIZERS", "QuantConv1d", "QuantConv2d", "QuantLinear", "QuantModule", "StateQuant", "TWNQuant",
    "TernaryQuant", "WeightQuantizer", "absmax_quantize", "export_quantized", "load_quantized", "qat_layers",
    "quant_energy_models", "quantize_model", "quantize_state", "quantize_to_levels", "rms_norm", "round_ste",
    "state_bits", "ste", "threshold_centred_levels", "uniform_levels", "weight_bits",
]
