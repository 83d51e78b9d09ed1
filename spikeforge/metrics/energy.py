"""Energy models: each prices a per-sample :class:`~spikeforge.metrics.cost.LayerCost`.

Three families, all frozen dataclasses with named, overridable constants:

- :class:`OpEnergy`: compute only, ``E = MACs·E_MAC + ACs·E_AC`` with the 45 nm table of
  Horowitz (ISSCC 2014) in fp32, fp16 and int8 rows (:data:`FP32_45NM`, :data:`FP16_45NM`,
  :data:`INT8_45NM`).
- :class:`BitBudget`: Shen et al.'s "bit budget" (CVPR 2024), operations × weight bits ×
  activation bits, where spike inputs cost ``spike_bits`` (1) per step, so an SNN with ``T``
  steps and a quantised ANN are compared on one scale. Unit: bit-operations, not joules.
- :class:`MemoryAwareEnergy`: compute plus memory traffic at a cost per bit (3.12 pJ/bit by
  default), in the spirit of STEP's analytical model; with ``sparse=True`` only non-zero
  events move data.

Constants (45 nm, 0.9 V; M. Horowitz, "Computing's energy problem (and what we can do about
it)", ISSCC 2014, energy table of arithmetic operations). A MAC is one multiply plus one add.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .cost import LayerCost

__all__ = [
    "FP32_ADD_PJ", "FP32_MULT_PJ", "FP32_MAC_PJ", "FP16_ADD_PJ", "FP16_MULT_PJ", "FP16_MAC_PJ",
    "INT8_ADD_PJ", "INT8_MULT_PJ", "INT8_MAC_PJ", "MEMORY_PJ_PER_BIT",
    "EnergyModel", "EnergyResult", "OpEnergy", "BitBudget", "MemoryAwareEnergy",
    "FP32_45NM", "FP16_45NM", "INT8_45NM", "DEFAULT_ENERGY_MODELS", "price",
]

FP32_ADD_PJ = 0.9  # pJ per 32-bit float add, 45 nm (Horowitz, ISSCC 2014)
FP32_MULT_PJ = 3.7  # pJ per 32-bit float multiply, 45 nm (same source)
FP32_MAC_PJ = FP32_MULT_PJ + FP32_ADD_PJ  # 4.6 pJ
FP16_ADD_PJ = 0.4  # pJ per 16-bit float add, 45 nm (same source)
FP16_MULT_PJ = 1.1  # pJ per 16-bit float multiply, 45 nm (same source)
FP16_MAC_PJ = FP16_MULT_PJ + FP16_ADD_PJ  # 1.5 pJ
INT8_ADD_PJ = 0.03  # pJ per 8-bit integer add, 45 nm (same source)
INT8_MULT_PJ = 0.2  # pJ per 8-bit integer multiply, 45 nm (same source)
INT8_MAC_PJ = INT8_MULT_PJ + INT8_ADD_PJ  # 0.23 pJ
MEMORY_PJ_PER_BIT = 3.12  # pJ per bit moved to/from memory: the reference value of the STEP
# benchmark's analytical energy model (Spiking Transformer Evaluation Platform, arXiv 2505.11151),
# also SpikingJelly's op_counter default (24.96 pJ/byte).


@runtime_checkable
class EnergyModel(Protocol):
    """Prices one layer's per-sample workload. ``name`` labels report columns; ``unit`` is
    ``"pJ"`` or another unit (``"bit-ops"``)."""

    @property
    def name(self) -> str: ...

    @property
    def unit(self) -> str: ...

    def layer_energy(self, layer: LayerCost) -> float: ...


@dataclass(frozen=True)
class EnergyResult:
    """Energy per sample under one model: ``per_layer[name]`` and their sum ``total``."""

    model: str
    unit: str
    per_layer: dict[str, float]

    @property
    def total(self) -> float:
        return float(sum(self.per_layer.values()))


def price(layers: Iterable[LayerCost], model: EnergyModel) -> EnergyResult:
    """Apply ``model`` to every layer."""
    if not isinstance(model, EnergyModel):
        raise TypeError(f"expected an energy model (name, unit, layer_energy), got {type(model).__name__}")
    return EnergyResult(model.name, model.unit, {c.name: float(model.layer_energy(c)) for c in layers})


def _check_nonneg(obj: object, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not v >= 0:
            raise ValueError(f"{type(obj).__name__}: {n} must be >= 0, got {v!r}")


@dataclass(frozen=True)
class OpEnergy:
    r"""Compute energy of synaptic operations: :math:`E = N_{MAC} E_{MAC} + N_{AC} E_{AC}` [pJ].

    Args:
        e_mac_pj: Energy of one multiply-accumulate [pJ].
        e_ac_pj: Energy of one accumulate (add) [pJ].
        name: Label in reports.

    Example:
        >>> FP32_45NM.layer_energy(LayerCost("fc", "linear", eff_macs=10, eff_acs=100))  # 10·4.6 + 100·0.9
        136.0
    """

    e_mac_pj: float = FP32_MAC_PJ
    e_ac_pj: float = FP32_ADD_PJ
    name: str = "45nm_fp32"
    unit: str = field(default="pJ", init=False)

    def __post_init__(self) -> None:
        _check_nonneg(self, "e_mac_pj", "e_ac_pj")

    def layer_energy(self, layer: LayerCost) -> float:
        return layer.eff_macs * self.e_mac_pj + layer.eff_acs * self.e_ac_pj


FP32_45NM = OpEnergy(FP32_MAC_PJ, FP32_ADD_PJ, "45nm_fp32")
"""fp32 row of the 45 nm table: MAC 4.6 pJ, AC 0.9 pJ."""
FP16_45NM = OpEnergy(FP16_MAC_PJ, FP16_ADD_PJ, "45nm_fp16")
"""fp16 row: MAC 1.5 pJ, AC 0.4 pJ."""
INT8_45NM = OpEnergy(INT8_MAC_PJ, INT8_ADD_PJ, "45nm_int8")
"""int8 row: MAC 0.23 pJ, AC 0.03 pJ."""


@dataclass(frozen=True)
class BitBudget:
    r"""Bit budget (Shen et al., "Is Conventional SNN Really Efficient? A Perspective from
    Network Quantization", CVPR 2024): synaptic operations × weight bits × input bits.

    .. math:: B = b_w\,(b_s\,N^{spike} + b_a\,N^{analog})

    where :math:`N^{spike}` counts operations fed by spikes (each of the ``T`` steps is one
    ``b_s``-bit activation), and :math:`N^{analog}` those fed by analogue values. A quantised
    ANN layer with ``b_a``-bit activations run once and an SNN layer run for ``T`` steps with
    1-bit spikes thus land on the same scale (``b_a`` vs ``T · b_s``).

    Args:
        weight_bits: Bits per weight.
        spike_bits: Bits per spike (1 for binary spikes).
        activation_bits: Bits per analogue activation (first-layer input, ReLU outputs).
        sparse: Count effective instead of dense operations (the paper's budget is dense).
    """

    weight_bits: int = 32
    spike_bits: int = 1
    activation_bits: int = 32
    sparse: bool = False
    name: str = "bit_budget"
    unit: str = field(default="bit-ops", init=False)

    def __post_init__(self) -> None:
        _check_nonneg(self, "weight_bits", "spike_bits", "activation_bits")

    def layer_energy(self, layer: LayerCost) -> float:
        spike_ops = layer.eff_acs if self.sparse else layer.dense_acs
        analog_ops = layer.eff_macs if self.sparse else layer.dense_macs
        return self.weight_bits * (self.spike_bits * spike_ops + self.activation_bits * analog_ops)


@dataclass(frozen=True)
class MemoryAwareEnergy:
    r"""Compute plus memory traffic, in the spirit of STEP's analytical energy model [pJ].

    .. math::
        E = E_{syn} + N_{nop} E_{AC} + e_{bit}\big(b_w N_w + b_s I_s + b_a I_a
            + 2\,b_v\,n_{state} U + b_{out} O\big)

    - :math:`E_{syn}`: synaptic compute under ``compute`` (:class:`OpEnergy`);
      :math:`N_{nop}`: neuron operations, each priced as one add.
    - :math:`N_w`: weight reads, one per synaptic operation (effective if ``sparse``, else dense).
    - :math:`I_s, I_a`: input elements read (non-zero only if ``sparse``) by calls fed with
      spikes (``b_s`` bits each) or analogue values (``b_a`` bits each).
    - :math:`U`: membrane updates (if ``sparse``, else elements × steps); each reads and writes
      ``n_state`` state variables of ``b_v`` bits.
    - :math:`O`: outputs written by activation/neuron layers (non-zero only if ``sparse``),
      ``b_s`` bits for spikes and ``b_a`` for analogue outputs.

    Args:
        compute: Arithmetic energies.
        pj_per_bit: Memory access energy per bit [pJ/bit].
        weight_bits, state_bits, spike_bits, activation_bits: Word sizes [bits].
        sparse: Event-driven accounting: zeros are neither read nor written.
    """

    compute: OpEnergy = FP32_45NM
    pj_per_bit: float = MEMORY_PJ_PER_BIT
    weight_bits: int = 32
    state_bits: int = 32
    spike_bits: int = 1
    activation_bits: int = 32
    sparse: bool = True
    name: str = "memory_aware"
    unit: str = field(default="pJ", init=False)

    def __post_init__(self) -> None:
        _check_nonneg(self, "pj_per_bit", "weight_bits", "state_bits", "spike_bits", "activation_bits")

    def layer_energy(self, layer: LayerCost) -> float:
        return self.compute_energy(layer) + self.pj_per_bit * self.bits_moved(layer)

    def compute_energy(self, layer: LayerCost) -> float:
        """Synaptic plus neuron arithmetic [pJ]."""
        neuron_ops = (layer.neuron_ops if self.sparse else layer.neuron_dense_ops) or 0.0
        return self.compute.layer_energy(layer) + neuron_ops * self.compute.e_ac_pj

    def bits_moved(self, layer: LayerCost) -> float:
        """Bits read and written by the layer per sample."""
        s = self.sparse
        weight_reads = layer.synops if s else layer.dense_ops
        inputs = (self.spike_bits * (layer.in_nonzero_spike if s else layer.in_total_spike)
                  + self.activation_bits * (layer.in_nonzero_analog if s else layer.in_total_analog))
        updates = layer.membrane_updates if s else layer.neuron_elements
        state = 2 * self.state_bits * layer.state_fields * updates
        out_bits = self.spike_bits if layer.spiking else self.activation_bits
        outputs = out_bits * (layer.out_nonzero if s else layer.out_total)
        return self.weight_bits * weight_reads + inputs + state + outputs


DEFAULT_ENERGY_MODELS: tuple[EnergyModel, ...] = (FP32_45NM, BitBudget(), MemoryAwareEnergy())
"""Models priced by reports unless others are given."""
