"""PSN (parallel spiking neuron): golden output vs a float64 hand loop of ``S = H(W X + B)``."""

from __future__ import annotations

import pytest
import torch

from spikeforge.neurons.psn import PSN

F64 = torch.float64


def test_psn_golden_against_hand_sums():
    g = torch.Generator().manual_seed(3)
    psn = PSN(t_steps=4, dtype=F64)
    with torch.no_grad():
        psn.weight.copy_(torch.randn(4, 4, generator=g, dtype=F64))
        psn.bias.copy_(torch.randn(4, generator=g, dtype=F64))
    xs = torch.randn(4, 2, 3, generator=g, dtype=F64)
    zs = psn(xs).detach()
    w, b = psn.weight.tolist(), psn.bias.tolist()
    for t in range(4):
        for i in range(2):
            for j in range(3):
                h = sum(w[t][k] * float(xs[k, i, j]) for k in range(4)) + b[t]
                assert float(zs[t, i, j]) == (1.0 if h > 0 else 0.0)
    assert 0 < zs.sum() < zs.numel()


def test_psn_is_non_causal_and_fixed_length():
    psn = PSN(t_steps=3, dtype=F64)
    xs = torch.zeros(3, 1, 1, dtype=F64)
    with torch.no_grad():
        psn.weight.zero_()
        psn.weight[0, 2] = 1.0  # step 0 reads the input of step 2
        psn.bias.fill_(-0.5)
    xs[2] = 1.0
    assert psn(xs).flatten().tolist() == [1.0, 0.0, 0.0]  # the spike at t = 0 comes from the future input
    with pytest.raises(ValueError, match="built for T = 3"):
        psn(torch.zeros(4, 1, 1, dtype=F64))


def test_psn_gradients_reach_weights_bias_and_input():
    psn = PSN(t_steps=4)
    xs = torch.rand(4, 2, 5).requires_grad_()
    psn(xs).sum().backward()
    assert xs.grad.abs().sum() > 0 and psn.weight.grad.abs().sum() > 0 and psn.bias.grad.abs().sum() > 0
