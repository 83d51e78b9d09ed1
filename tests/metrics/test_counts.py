"""Hand-computed counts on tiny layers: effective vs dense, AC vs MAC, static metrics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.metrics import connection_sparsity, footprint, parameter_count, profile
from spikeforge.metrics.counts import conv_ops, is_spike_tensor, linear_ops, rnn_cell_ops

# 3x3 weight with four zeros; column non-zeros: col0 -> 2 (rows 0, 2), col1 -> 2 (rows 1, 2), col2 -> 1 (row 0)
W = torch.tensor([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0], [4.0, 5.0, 0.0]])


def _linear(weight: torch.Tensor) -> nn.Linear:
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=True)
    with torch.no_grad():
        lin.weight.copy_(weight)
        lin.bias.fill_(7.0)  # bias never counts
    return lin


def test_linear_ops_by_hand() -> None:
    # x = (0, 1.3, -1): input 1 reaches 2 outputs, input 2 reaches 1 -> 3 effective of 9 dense
    assert linear_ops(torch.tensor([[0.0, 1.3, -1.0]]), W) == (3, 9)
    # two rows: second row (1, 0, 0) adds input 0's 2 connections
    assert linear_ops(torch.tensor([[0.0, 1.3, -1.0], [1.0, 0.0, 0.0]]), W) == (5, 18)


def test_real_input_counts_macs_binary_input_counts_acs() -> None:
    lin = _linear(W)
    with profile(lin, batch_size=1) as prof:
        lin(torch.tensor([[0.0, 1.3, -1.0]]))
    assert prof.synops() == {"Effective_MACs": 3, "Effective_ACs": 0, "Dense": 9}
    with profile(lin, batch_size=1) as prof:
        lin(torch.tensor([[0.0, 1.0, -1.0]]))  # values in {-1, 0, 1}: spikes
    assert prof.synops() == {"Effective_MACs": 0, "Effective_ACs": 3, "Dense": 9}


def test_per_sample_division() -> None:
    lin = _linear(W)
    x = torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]])  # 3 + 4 effective
    with profile(lin, batch_size=2) as prof:
        lin(x)
        lin(x)
    assert prof.samples == 4
    assert prof.synops() == {"Effective_MACs": 0, "Effective_ACs": 7 * 2 / 4, "Dense": 18 * 2 / 4}


def test_conv_ops_by_hand() -> None:
    w = torch.tensor([[[[1.0, 0.0], [2.0, 3.0]]]])  # 1 zero tap of 4
    x = torch.tensor([[[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]]])  # 5 non-zero pixels
    # no padding: 2x2 outputs; per window: 2, 1, 2, 2 non-zero (pixel, tap) pairs
    assert conv_ops(x, w) == (7, 16)
    # padding 1: every (pixel, tap) pair is used exactly once: 5 x 3 effective, 9 x 4 dense
    assert conv_ops(x, w, padding=1) == (15, 36)
    # batch of two identical samples doubles both
    assert conv_ops(torch.cat([x, x]), w, padding=1) == (30, 72)


def test_conv_module_through_profile_matches_function() -> None:
    conv = nn.Conv2d(1, 1, 2, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0, 0.0], [2.0, 3.0]]]]))
    x = torch.tensor([[[[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]]]])
    with profile(conv, batch_size=1) as prof:
        conv(x)
    assert prof.synops() == {"Effective_MACs": 0, "Effective_ACs": 15, "Dense": 36}
    (cost,) = prof.layers().values()
    assert (cost.weights, cost.weight_zeros) == (4, 1)


def test_rnn_cell_ops() -> None:
    cell = nn.RNNCell(3, 3)
    with torch.no_grad():
        cell.weight_ih.copy_(W)
        cell.weight_hh.copy_(torch.eye(3))
    x = torch.tensor([[0.0, 1.0, 1.0]])
    assert rnn_cell_ops(x, None, cell.weight_ih, cell.weight_hh) == (3, 9)
    assert rnn_cell_ops(x, torch.tensor([[1.0, 0.0, 1.0]]), cell.weight_ih, cell.weight_hh) == (5, 18)
    with profile(cell, batch_size=1) as prof:
        cell(x, torch.tensor([[1.0, 0.0, 1.0]]))
    assert prof.synops() == {"Effective_MACs": 0, "Effective_ACs": 5, "Dense": 18}


def test_is_spike_tensor() -> None:
    assert is_spike_tensor(torch.tensor([0.0, 1.0, -1.0]))
    assert not is_spike_tensor(torch.tensor([0.0, 1.0, 0.5]))


def test_static_metrics_by_hand() -> None:
    net = nn.Sequential(_linear(W), nn.ReLU(), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        net[2].weight.copy_(torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0]]))
    net.register_buffer("scale", torch.zeros(5, dtype=torch.float16))
    # weights: 9 + 6 = 15, zeros: 4 + 2 = 6; biases are not connections
    sparsity, per_layer = connection_sparsity(net)
    assert sparsity == pytest.approx(6 / 15)
    assert per_layer == {"0": (4, 9), "2": (2, 6)}
    assert parameter_count(net) == 9 + 3 + 6
    fp = footprint(net)
    assert (fp.parameter_bytes, fp.buffer_bytes, fp.total) == (18 * 4, 5 * 2, 82)
