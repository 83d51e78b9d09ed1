r"""Cost of a quantized model from its actual bit widths, for :func:`spikeforge.metrics.profile`.

:func:`quant_energy_models` reads each QAT layer's weight bits (:func:`~spikeforge.quant.weight_bits`)
and each neuron's state bits (``log2`` of its :class:`~spikeforge.quant.StateQuant` levels) and
returns energy models that price every layer with *its own* widths:

- :class:`LayerwiseBitBudget` — Bit Budget (Shen et al., CVPR 2024; reference §3.3, spikeforge
  convention): :math:`B_l = b_{w,l}\,(b_s N^{spike}_l + b_a N^{analog}_l)` with dense operation
  counts, or effective (non-zero-input) ones with ``sparse=True``. For ``M`` MACs over ``T`` steps
  with binary spikes, dense :math:`M b_w T`, event-driven :math:`M b_w T r` (check 14: 100 MACs,
  :math:`b_w = 4`, T = 4, r = 0.25 → 1600 and 400 bit-ops).
- :class:`LayerwiseMemoryEnergy` — :class:`~spikeforge.metrics.MemoryAwareEnergy` with the
  layer's weight bits and its neurons' state bits (storage ``P b_w + N_state b_u``, §3.3 item 2).

Layers that are not quantized keep ``default_weight_bits`` / ``default_state_bits`` (32).

Example:
    >>> import torch, spikeforge as sf
    >>> from spikeforge.quant import IntQuant, quantize_model
    >>> net = quantize_model(torch.nn.Sequential(torch.nn.Linear(8, 4), sf.LIF.from_decay(0.9)), IntQuant(4))
    >>> budget, memory = quant_energy_models(net)
    >>> budget.weight_bits
    {'0': 4.0}
    >>> with sf.metrics.profile(net) as prof:
    ...     _ = net(torch.rand(3, 2, 8))
    >>> prof.energy(budget).total        # 3 steps x 32 MACs x 4 bits x 32-bit analogue input
    12288.0
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..metrics.cost import LayerCost
from ..metrics.energy import MemoryAwareEnergy
from .qat import weight_bits

__all__ = ["LayerwiseBitBudget", "LayerwiseMemoryEnergy", "quant_energy_models", "state_bits"]


def state_bits(model: nn.Module) -> dict[str, float]:
    """Bits per stored membrane of each neuron with a state quantizer, by qualified name."""
    from ..neurons import Neuron

    out = {}
    for name, m in model.named_modules():
        levels = getattr(getattr(m, "state_quant", None), "levels", None) if isinstance(m, Neuron) else None
        if levels is not None:
            out[name] = math.log2(len(levels))
    return out


@dataclass(frozen=True)
class LayerwiseBitBudget:
    """Bit Budget with per-layer weight bits (``weight_bits[name]``, else ``default_weight_bits``)."""

    weight_bits: Mapping[str, float] = field(default_factory=dict)
    default_weight_bits: float = 32
    spike_bits: float = 1
    activation_bits: float = 32
    sparse: bool = False
    name: str = "bit_budget_quant"
    unit: str = field(default="bit-ops", init=False)

    def layer_energy(self, layer: LayerCost) -> float:
        b_w = self.weight_bits.get(layer.name, self.default_weight_bits)
        spike_ops = layer.eff_acs if self.sparse else layer.dense_acs
        analog_ops = layer.eff_macs if self.sparse else layer.dense_macs
        return b_w * (self.spike_bits * spike_ops + self.activation_bits * analog_ops)


@dataclass(frozen=True)
class LayerwiseMemoryEnergy:
    """:class:`~spikeforge.metrics.MemoryAwareEnergy` priced per layer with that layer's weight
    bits and neuron state bits (``base`` supplies every other constant)."""

    weight_bits: Mapping[str, float] = field(default_factory=dict)
    state_bits: Mapping[str, float] = field(default_factory=dict)
    base: MemoryAwareEnergy = field(default_factory=MemoryAwareEnergy)
    name: str = "memory_aware_quant"
    unit: str = field(default="pJ", init=False)

    def layer_energy(self, layer: LayerCost) -> float:
        widths: dict[str, Any] = {"weight_bits": self.weight_bits.get(layer.name, self.base.weight_bits),
                                  "state_bits": self.state_bits.get(layer.name, self.base.state_bits)}
        return dataclasses.replace(self.base, **widths).layer_energy(layer)


def quant_energy_models(model: nn.Module, *, activation_bits: float = 32, sparse: bool = False,
                        base: MemoryAwareEnergy | None = None) -> tuple[LayerwiseBitBudget, LayerwiseMemoryEnergy]:
    """Bit Budget and memory-aware energy models priced with ``model``'s actual bit widths.

    ``activation_bits``: width of analogue (non-spike) inputs such as the first layer's input;
    ``sparse``: count effective instead of dense operations in the Bit Budget; ``base``: every
    other constant of the memory model (default :class:`~spikeforge.metrics.MemoryAwareEnergy`,
    event-driven, fp32 arithmetic).
    """
    wb, sb = weight_bits(model), state_bits(model)
    memory = LayerwiseMemoryEnergy(wb, sb, base if base is not None else MemoryAwareEnergy())
    return LayerwiseBitBudget(wb, activation_bits=activation_bits, sparse=sparse), memory
