"""Bit Budget and memory energy priced with the model's actual bit widths (check 14)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.metrics import MemoryAwareEnergy
from spikeforge.metrics.cost import LayerCost
from spikeforge.quant import IntQuant, StateQuant, TernaryQuant, quant_energy_models, quantize_model


def test_check_14_bit_budget_arithmetic() -> None:
    net = quantize_model(nn.Sequential(nn.Linear(10, 10)), IntQuant(bits=4))
    dense, _ = quant_energy_models(net)
    event, _ = quant_energy_models(net, sparse=True)
    # 100 MACs per step, T = 4 steps of binary spikes, firing rate 0.25
    layer = LayerCost(name="0", kind="linear", dense_acs=100 * 4, eff_acs=100 * 4 * 0.25)
    assert dense.layer_energy(layer) == 1600
    assert event.layer_energy(layer) == 400
    assert dense.layer_energy(LayerCost(name="other", kind="linear", dense_acs=400)) == 32 * 400  # float layer


def test_profile_prices_the_quantized_model(gen) -> None:
    net = nn.Sequential(nn.Linear(16, 12), sf.LIF.from_decay(0.9), nn.Linear(12, 4), sf.LIF.from_decay(0.9))
    q = quantize_model(net, TernaryQuant(), skip=["0"], state=StateQuant.threshold_centred(4))
    budget, memory = quant_energy_models(q)
    assert budget.weight_bits == {"2": math.log2(3)} and memory.state_bits == {"1": 4.0, "3": 4.0}
    xs = (torch.rand(6, 3, 16, generator=gen) * 2)
    with sf.metrics.profile(q) as prof:
        q(xs)
    layers = prof.layers()
    # hand count: layer 0 float (32-bit analogue input), layer 2 ternary on spikes: T * 12 * 4 ACs
    assert layers["2"].dense_acs == 6 * 12 * 4
    expected = 32 * 32 * layers["0"].dense_macs + math.log2(3) * 1 * 6 * 12 * 4
    assert prof.energy(budget).total == pytest.approx(expected)
    # memory: the 4-bit state saves 2 * (32 - 4) bits per membrane update (event-driven default)
    float_mem = prof.energy(MemoryAwareEnergy())
    quant_mem = prof.energy(memory)
    saved_state = 3.12 * 2 * (32 - 4) * (layers["1"].membrane_updates + layers["3"].membrane_updates)
    saved_weights = 3.12 * (32 - math.log2(3)) * layers["2"].synops
    assert float_mem.total - quant_mem.total == pytest.approx(saved_state + saved_weights)
