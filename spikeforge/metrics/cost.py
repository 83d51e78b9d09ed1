"""Per-layer, per-sample workload counts: the input of every energy model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["LayerCost"]


@dataclass(frozen=True)
class LayerCost:
    """What one layer did, averaged per sample (all time steps of the sample included).

    A layer is a connection (synapses: Linear, Conv, RNN cell or a functional ``linear``/
    ``conv``), an activation (spiking neuron, ReLU, Sigmoid, ...) or a non-spiking neuron; the
    fields that do not apply to it are zero.

    Synapses:
        eff_macs, eff_acs: effective operations fed by analogue (MAC) / spike (AC) inputs.
        dense_macs, dense_acs: dense operations of those same calls (``dense_ops`` is their sum).
        in_nonzero_spike, in_total_spike: non-zero / all input elements of calls with spike input.
        in_nonzero_analog, in_total_analog: the same for calls with analogue input.
        weights, weight_zeros: connection weights of the layer and how many are zero.

    Activations and neurons:
        spiking: True if the output is spikes; out_nonzero / out_total: non-zero / all output
        elements (``is_activation`` layers enter the activation sparsity).
        membrane_updates, neuron_elements: updated membranes and elements × steps.
        neuron_ops, neuron_dense_ops: effective and dense neuron operations (``None`` if the
        neuron type has no known cost). state_fields: state variables per neuron.
    """

    name: str
    kind: str
    eff_macs: float = 0.0
    eff_acs: float = 0.0
    dense_macs: float = 0.0
    dense_acs: float = 0.0
    in_nonzero_spike: float = 0.0
    in_total_spike: float = 0.0
    in_nonzero_analog: float = 0.0
    in_total_analog: float = 0.0
    weights: int = 0
    weight_zeros: int = 0
    is_activation: bool = False
    spiking: bool = False
    out_nonzero: float = 0.0
    out_total: float = 0.0
    membrane_updates: float = 0.0
    neuron_elements: float = 0.0
    neuron_ops: float | None = 0.0
    neuron_dense_ops: float | None = 0.0
    state_fields: int = 0

    @property
    def dense_ops(self) -> float:
        return self.dense_macs + self.dense_acs

    @property
    def synops(self) -> float:
        """Effective synaptic operations (MACs + ACs)."""
        return self.eff_macs + self.eff_acs

    @property
    def activation_sparsity(self) -> float | None:
        """Fraction of zero outputs (``None`` for layers without recorded outputs)."""
        return 1.0 - self.out_nonzero / self.out_total if self.out_total else None

    @property
    def rate(self) -> float | None:
        """Non-zero outputs per output element: the firing rate per neuron per step for spikes."""
        return self.out_nonzero / self.out_total if self.out_total else None

    @property
    def connection_sparsity(self) -> float | None:
        return self.weight_zeros / self.weights if self.weights else None

    def scaled(self, factor: float) -> LayerCost:
        """Every workload count multiplied by ``factor`` (e.g. to price fewer time steps)."""
        static = {"name", "kind", "weights", "weight_zeros", "is_activation", "spiking", "state_fields"}
        values: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            values[f.name] = v if f.name in static or v is None else v * factor
        return LayerCost(**values)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(dense_ops=self.dense_ops, synops=self.synops, rate=self.rate,
                 activation_sparsity=self.activation_sparsity,
                 connection_sparsity=self.connection_sparsity)
        return d
