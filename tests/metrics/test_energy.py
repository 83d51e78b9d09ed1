"""Energy models recomputed by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.metrics import (
    FP16_45NM,
    FP32_45NM,
    INT8_45NM,
    BitBudget,
    LayerCost,
    MemoryAwareEnergy,
    OpEnergy,
    profile,
)
from spikeforge.metrics.energy import price
from spikeforge.neurons import LIF

SYN = LayerCost("fc", "linear", eff_macs=10, eff_acs=100, dense_macs=20, dense_acs=150,
                in_nonzero_spike=20, in_total_spike=50, in_nonzero_analog=5, in_total_analog=8)
NEU = LayerCost("lif", "LIF", is_activation=True, spiking=True, out_nonzero=6, out_total=40,
                membrane_updates=30, neuron_elements=40, neuron_ops=120, neuron_dense_ops=160, state_fields=2)


def test_45nm_rows() -> None:
    assert FP32_45NM.layer_energy(SYN) == pytest.approx(10 * 4.6 + 100 * 0.9)  # 136 pJ
    assert FP16_45NM.layer_energy(SYN) == pytest.approx(10 * 1.5 + 100 * 0.4)  # 55 pJ
    assert INT8_45NM.layer_energy(SYN) == pytest.approx(10 * 0.23 + 100 * 0.03)  # 5.3 pJ
    assert FP32_45NM.layer_energy(NEU) == 0.0  # synaptic ops only
    custom = OpEnergy(e_mac_pj=2.0, e_ac_pj=0.5, name="mine")
    assert price([SYN, NEU], custom).total == pytest.approx(10 * 2.0 + 100 * 0.5)
    with pytest.raises(ValueError, match="e_ac_pj"):
        OpEnergy(e_ac_pj=-1.0)


def test_bit_budget() -> None:
    # dense: 32-bit weights x (1-bit spikes x 150 ops + 32-bit activations x 20 ops)
    assert BitBudget().layer_energy(SYN) == 32 * (1 * 150 + 32 * 20)
    assert BitBudget(weight_bits=8, activation_bits=4).layer_energy(SYN) == 8 * (150 + 4 * 20)
    assert BitBudget(sparse=True).layer_energy(SYN) == 32 * (1 * 100 + 32 * 10)
    assert BitBudget().layer_energy(NEU) == 0


def test_memory_aware_sparse_by_hand() -> None:
    m = MemoryAwareEnergy()  # fp32 compute, 3.12 pJ/bit, 32-bit weights/state/activations, 1-bit spikes
    # synapses: compute 136 pJ; bits: weights 32 x 110 effective ops, inputs 1 x 20 spikes + 32 x 5 values
    assert m.layer_energy(SYN) == pytest.approx(136 + 3.12 * (32 * 110 + 20 + 32 * 5))
    # neurons: 120 ops x 0.9 pJ; bits: read+write 2 state vars x 32 bits x 30 updates, 6 spikes out
    assert m.layer_energy(NEU) == pytest.approx(120 * 0.9 + 3.12 * (2 * 32 * 2 * 30 + 6))


def test_memory_aware_dense_by_hand() -> None:
    m = MemoryAwareEnergy(compute=INT8_45NM, pj_per_bit=1.0, weight_bits=8, state_bits=16, activation_bits=8,
                          sparse=False)
    assert m.layer_energy(SYN) == pytest.approx(10 * 0.23 + 100 * 0.03 + (8 * 170 + 50 + 8 * 8))
    assert m.layer_energy(NEU) == pytest.approx(160 * 0.03 + (2 * 16 * 2 * 40 + 40))


def test_energy_of_a_profiled_model_by_hand() -> None:
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [2.0, 3.0]]))
    net = nn.Sequential(lin, LIF.from_decay(0.5, reset="zero"))
    xs = torch.tensor([[[0.5, 0.0]], [[0.0, 2.0]]])  # [T=2, B=1, 2], analogue -> MACs
    with profile(net) as prof:
        zs = net(xs)
    # step 0: input 0 reaches 2 outputs; step 1: input 1 reaches 1 output -> 3 MACs, dense 8
    assert prof.synops() == {"Effective_MACs": 3, "Effective_ACs": 0, "Dense": 8}
    assert prof.energy(FP32_45NM).total == pytest.approx(3 * 4.6)
    assert prof.energy(BitBudget()).total == 32 * 32 * 8
    # v after step 0 = (0.5, 1.0) -> no spike (strict); step 1: (0.25, 0.5 + 6) -> neuron 1 spikes, reset to 0
    assert zs.flatten().tolist() == [0.0, 0.0, 0.0, 1.0]
    updates = 2 + 2  # both membranes change at both steps
    mem = MemoryAwareEnergy()
    expected = (3 * 4.6 + 3.12 * (32 * 3 + 32 * 2)  # linear: ops, weight reads, 2 non-zero analogue inputs
                + updates * 4 * 0.9 + 3.12 * (2 * 32 * 1 * updates + 1 * 1))  # LIF: ops, state, 1 spike
    assert prof.energy(mem).total == pytest.approx(expected)
