"""Neuron operations of the sequence neurons (PSN, HD-LIF), counted here by hand from their equations.

Counting convention of :mod:`spikeforge.metrics.neuron_ops` (one op per multiply, add/subtract,
comparison, exp, select). A sequence neuron has no state: every element is computed at every step,
so membrane updates = B·N·T, and effective = dense.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.config import TrainConfig
from spikeforge.metrics import profile
from spikeforge.models import build_model
from spikeforge.neurons import HDLIF, PSN, SEQUENCE_NEURONS


def _psn_hand(steps: int, neurons: int) -> int:
    # H[t] = Σ_i W[t, i] x_i + B[t]: T multiplies + (T - 1) adds + 1 bias add; S = H > 0: 1 compare
    return neurons * steps * (steps + (steps - 1) + 1 + 1)


def _hdlif_hand(steps: int, positions: int, channels: int) -> int:
    per_element = (
        (1 + 1 + 2)                 # IF: u + x; compare; reset u(1 - s): 1 - s, ×
        + (3 + 1 + 2)               # LIF: u + (x - u)/τ: −, ×, +; compare; reset
        + (3 + 1 + 2)               # PLIF: as LIF with the rate σ(w)
        + (8 + 1 + 4)               # EIF: −θ, /Δ, exp, ×Δ, x − u, +, /τ, +; compare; u(1-s) + s·v_r: 1-s, ×, ×, +
        + 4 * 2                     # a membrane of exactly 0 read as v_th: compare + select, per expert
        + (4 + 3)                   # mix: 4 products, 3 adds
        + 1                         # output threshold compare
    )
    experts = 4
    gate = experts * steps * channels * 2 + (experts + (experts - 1) + experts)  # logits (×, +), softmax
    return positions * steps * channels * per_element + positions * gate


def test_hand_counts_cover_every_sequence_neuron():
    assert set(SEQUENCE_NEURONS.names()) == {"psn", "hdlif"}, "price a new sequence neuron here by hand"


@pytest.mark.parametrize(("steps", "batch", "width"), [(4, 2, 3), (7, 1, 5)])
def test_psn_op_count_matches_hand_count(steps, batch, width):
    xs = torch.rand(steps, batch, width)
    assert PSN(steps).op_count(xs) == _psn_hand(steps, batch * width)
    assert PSN(4).op_count(torch.rand(4, 2, 3)) == 216  # 6 neurons × 4 steps × (4 + 3 + 1 + 1)


@pytest.mark.parametrize(("steps", "shape"), [(4, (2, 3)), (3, (2, 5, 6))])
def test_hdlif_op_count_matches_hand_count(steps, shape):
    xs = torch.rand(steps, *shape)
    positions = xs[0].numel() // shape[-1]
    assert HDLIF(shape[-1], steps).op_count(xs) == _hdlif_hand(steps, positions, shape[-1])
    assert HDLIF(3, 4).op_count(torch.rand(4, 2, 3)) == 24 * 45 + 2 * (96 + 11)


def test_profile_of_a_built_mlp_counts_sequence_neurons_and_not_their_gate_as_synapses():
    """Per sample, mlp on digits (64 inputs) with hidden (8,) and T = 4, through the model builder:
    the sequence neuron's ops are the hand count, and synaptic MACs are only the two Linear layers."""
    for name, hand in (("psn", _psn_hand(4, 8)), ("hdlif", _hdlif_hand(4, 1, 8))):
        model = build_model(TrainConfig(data="digits", neuron=name, steps=4, hidden=(8,), encoder="direct"))
        with profile(model) as prof:
            model(torch.rand(3, 64))
        layer = next(c for c in prof.layers().values() if c.kind == type(model.body[1]).__name__)
        assert layer.neuron_ops == hand and layer.membrane_updates == 4 * 8
        dense = prof.synops()["Dense"]
        assert dense == 4 * (64 * 8 + 8 * 10), f"{name}: the gate or the T×T mix was counted as synapses"
