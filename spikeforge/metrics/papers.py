"""The spiking-transformer papers' energy convention next to STEP's memory-access term.

Papers (Spikformer, SDT, Max-Former, QSD): ``E = E_MAC · MACs + E_AC · ACs`` with
``E_MAC = 4.6 pJ``, ``E_AC = 0.9 pJ`` (45 nm fp32, Horowitz 2014); the stem sees the real-valued
image, so its synapses are MACs (counted for every time step: the stem runs ``T`` times here).
Every later synapse fed only by {0, 1} values is an AC. Integer-valued inputs (Spikformer's SEW
sums {0, 1, 2, ...}) are **not** binary and are counted as MACs, as the papers that recompute
Spikformer's energy do; the Spikformer paper itself priced them as ACs. Attention products of two
activations (``Kᵀ V``, ``Q (Kᵀ V)``, SDSA's column sum and Hadamard) are ACs when an operand is spikes.

STEP adds memory traffic: bits moved (weights read per operation, inputs read, membrane state
read and written, outputs written) × 3.12 pJ/bit (:class:`~spikeforge.metrics.energy.MemoryAwareEnergy`).
"""

from __future__ import annotations

from typing import Any

from .energy import FP32_45NM, MemoryAwareEnergy, OpEnergy

__all__ = ["paper_energy", "format_paper_energy"]


def paper_energy(prof: Any, *, compute: OpEnergy = FP32_45NM, memory: MemoryAwareEnergy | None = None
                 ) -> dict[str, float]:
    """Per-sample totals of a finished :func:`~spikeforge.metrics.profile`: ``macs``, ``acs``,
    ``compute_pj`` (papers' convention), ``bits_moved``, ``memory_pj`` (bits × pJ/bit),
    ``weight_bits``, ``spike_bits``, ``activation_bits``."""
    memory = memory or MemoryAwareEnergy(compute=compute)
    layers = list(prof.layers().values())
    macs, acs = sum(c.eff_macs for c in layers), sum(c.eff_acs for c in layers)
    bits = sum(memory.bits_moved(c) for c in layers)
    return {"macs": macs, "acs": acs, "compute_pj": macs * compute.e_mac_pj + acs * compute.e_ac_pj,
            "bits_moved": bits, "memory_pj": bits * memory.pj_per_bit, "weight_bits": memory.weight_bits,
            "spike_bits": memory.spike_bits, "activation_bits": memory.activation_bits}


def format_paper_energy(prof: Any, **kwargs: Any) -> str:
    """:func:`paper_energy` as two aligned lines: compute (papers) | memory (STEP)."""
    e = paper_energy(prof, **kwargs)
    return (f"compute (papers: 4.6 pJ MAC, 0.9 pJ AC): {e['macs']:,.0f} MACs + {e['acs']:,.0f} ACs"
            f" = {e['compute_pj'] / 1e6:.6f} uJ\n"
            f"memory (STEP: 3.12 pJ/bit): {e['bits_moved']:,.0f} bits moved (weights {e['weight_bits']} b,"
            f" spikes {e['spike_bits']} b, activations {e['activation_bits']} b) = {e['memory_pj'] / 1e6:.6f} uJ")
