"""CTM neuron-level models: private per-neuron MLPs over the last M pre-activations (reference §4.12),
checked against D independent hand-built MLPs in float64 and for privacy and memory length."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.layers.ctm_nlm import CTMNeuronModels


def _separate_mlps(nlm: CTMNeuronModels) -> list[nn.Sequential]:
    """One ordinary nn.Linear -> ReLU -> nn.Linear per neuron, weights copied from the layer."""
    mlps = []
    for d in range(nlm.n_neurons):
        m, h = nlm.w1.shape[1:]
        mlp = nn.Sequential(nn.Linear(m, h), nn.ReLU(), nn.Linear(h, 1)).double()
        with torch.no_grad():
            mlp[0].weight.copy_(nlm.w1[d].T)
            mlp[0].bias.copy_(nlm.b1[d])
            mlp[2].weight.copy_(nlm.w2[d].view(1, -1))
            mlp[2].bias.copy_(nlm.b2[d].view(1))
        mlps.append(mlp)
    return mlps


def test_matches_independent_mlps_over_a_fifo_history_float64():
    torch.manual_seed(0)
    ticks, B, D, M = 9, 3, 5, 4
    nlm = CTMNeuronModels(D, memory_length=M, hidden_size=6).double()
    a = torch.randn(ticks, B, D, dtype=torch.float64)
    z = nlm(a)
    mlps = _separate_mlps(nlm)
    hist = [torch.zeros(B, D, dtype=torch.float64)] * M  # oldest first, zeros before the first tick
    for t in range(ticks):
        hist = hist[1:] + [a[t]]
        window = torch.stack(hist, -1)  # [B, D, M]
        ref = torch.stack([mlps[d](window[:, d])[:, 0] for d in range(D)], -1)  # [B, D]
        torch.testing.assert_close(z[t], ref, rtol=0, atol=1e-12)


def test_neurons_are_private_and_see_only_m_ticks():
    torch.manual_seed(1)
    ticks, B, D, M = 8, 2, 6, 3
    nlm = CTMNeuronModels(D, memory_length=M, hidden_size=8).double()
    a = torch.randn(ticks, B, D, dtype=torch.float64, requires_grad=True)
    z = nlm(a)
    # d z_t[:, i] / d a: nonzero only for neuron i and ticks t-M+1..t
    for t in (2, 6):
        for i in (0, 4):
            g, = torch.autograd.grad(z[t, :, i].sum(), a, retain_graph=True)
            mask = torch.zeros_like(g, dtype=torch.bool)
            mask[max(0, t - M + 1):t + 1, :, i] = True
            assert g[~mask].abs().max().item() == 0.0
            assert g[mask].abs().sum().item() > 0
    # changing another neuron's whole input leaves neuron 0 unchanged
    b = a.detach().clone()
    b[:, :, 1:] = torch.randn(ticks, B, D - 1, dtype=torch.float64)
    torch.testing.assert_close(nlm(b)[:, :, 0], z.detach()[:, :, 0], rtol=0, atol=0)


def test_state_continues_and_bad_input_raises():
    torch.manual_seed(2)
    nlm = CTMNeuronModels(4, memory_length=3, hidden_size=2)
    a = torch.randn(7, 2, 4)
    full, _ = nlm.run(a)
    z1, s = nlm.run(a[:4])
    z2, _ = nlm.run(a[4:], s)
    torch.testing.assert_close(torch.cat([z1, z2]), full)
    with pytest.raises(ValueError, match=r"pre-activations \[I, B, 4\]"):
        nlm(torch.randn(3, 2, 5))
    with pytest.raises(ValueError, match="state history"):
        nlm.run(a, s._replace(history=torch.zeros(2, 4, 2)))
    with pytest.raises(ValueError, match="memory_length"):
        CTMNeuronModels(4, memory_length=0)
    with pytest.raises(ValueError):
        nlm(torch.full((3, 2, 4), float("nan")))
