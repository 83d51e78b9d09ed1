"""ELM neuron: check 15 (reduction to a first-order memory) and a float64 golden trajectory."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.layers.elm import ELM, ELMState, elm_memory_update


def test_check15_memory_relaxes_to_drive():
    # d_m = 1, lambda = 1 (kappa_lam = kappa), identity drive c: m_t = kappa m + (1 - kappa) c -> c
    kappa = torch.tensor([math.exp(-1 / 5)], dtype=torch.float64)
    m, c = torch.zeros(1, 1, dtype=torch.float64), torch.full((1, 1), 2.0, dtype=torch.float64)
    for t in range(1, 201):
        m = elm_memory_update(m, c, kappa, kappa)
        assert m.item() == pytest.approx(2.0 * (1 - math.exp(-t / 5)), abs=1e-12)  # closed form
    assert abs(m.item() - 2.0) < 1e-12


def test_check15_through_the_whole_layer():
    # a zero MLP whose bias makes the scaled tanh emit the constant c: the layer's memory -> c
    c = 1.2
    elm = ELM(3, memory_size=1, output_size=1, tau_m_range=(5e-3, 5e-3), lam=1.0).double()
    with torch.no_grad():
        for lin in (elm.mlp_in, elm.mlp_out):
            lin.weight.zero_()
            lin.bias.zero_()
        elm.mlp_out.bias.fill_(math.atanh(c / 1.7159) * 1.5)
        elm.readout.weight.fill_(1.0)
        elm.readout.bias.zero_()
    ys = elm(torch.rand(200, 2, 3, dtype=torch.float64))
    kappa = math.exp(-1e-3 / 5e-3)
    assert torch.allclose(ys[:, :, 0], torch.tensor([c * (1 - kappa ** t) for t in range(1, 201)],
                                                    dtype=torch.float64)[:, None], atol=1e-12)


def _reference(elm: ELM, xs: np.ndarray) -> np.ndarray:
    """Element-by-element float64 re-implementation of the paper's v2 equations."""
    g = {k: v.detach().double().numpy() for k, v in elm.named_parameters()}
    tau_b = elm.tau_b.double().numpy()
    lo, hi = elm.tau_m_range
    tau_m = lo + (hi - lo) / (1 + np.exp(-elm.tau_m_raw.double().numpy()))
    S, Nb, M = xs.shape[-1], tau_b.size, tau_m.size
    per = S // Nb
    T, B = xs.shape[:2]
    out = np.zeros((T, B, g["readout.bias"].size))
    for bi in range(B):
        b, m = np.zeros(Nb), np.zeros(M)
        for t in range(T):
            for k in range(Nb):
                drive = sum(max(g["w_syn_raw"][j], 0.0) * xs[t, bi, j] for j in range(k * per, (k + 1) * per))
                b[k] = math.exp(-elm.dt / tau_b[k]) * b[k] + drive
            km = np.exp(-elm.dt / tau_m)
            z = np.concatenate([b, km * m])
            h = np.maximum(g["mlp_in.weight"] @ z + g["mlp_in.bias"], 0.0)
            dm = 1.7159 * np.tanh(2 / 3 * (g["mlp_out.weight"] @ h + g["mlp_out.bias"]))
            m = km * m + (1 - np.exp(-elm.lam * elm.dt / tau_m)) * dm
            out[t, bi] = g["readout.weight"] @ m + g["readout.bias"]
    return out


def test_golden_trajectory_float64():
    torch.manual_seed(0)
    elm = ELM(6, memory_size=4, output_size=2, branches=3, tau_m_range=(1e-3, 0.2)).double()
    with torch.no_grad():
        elm.w_syn_raw.uniform_(-0.5, 1.0)  # some negative: ReLU must clip them
    xs = torch.rand(15, 2, 6, dtype=torch.float64)
    ys = elm(xs)
    np.testing.assert_allclose(ys.detach().numpy(), _reference(elm, xs.numpy()), rtol=1e-10, atol=1e-12)


def test_time_constants_log_spaced_and_continuation():
    elm = ELM(4, memory_size=5, output_size=1)
    assert torch.allclose(elm.tau_m, torch.logspace(-3, 0, 5), rtol=2e-3)
    xs = torch.rand(10, 3, 4)
    full, s_full = elm.run(xs)
    a, s = elm.run(xs[:4])
    b, s = elm.run(xs[4:], s)
    torch.testing.assert_close(torch.cat([a, b]), full)
    assert isinstance(s, ELMState)


def test_learnable_tau_and_gradients():
    elm = ELM(4, memory_size=3, output_size=1, learn_tau_m=True)
    xs = torch.rand(8, 2, 4, requires_grad=True)
    elm(xs).sum().backward()
    assert xs.grad is not None and xs.grad.abs().sum() > 0
    assert elm.tau_m_raw.grad is not None and elm.tau_m_raw.grad.abs().sum() > 0


def test_bad_input_named():
    elm = ELM(4, memory_size=3)
    with pytest.raises(ValueError, match="ELM: expected input"):
        elm(torch.rand(5, 2, 3))
    with pytest.raises(ValueError, match="branches"):
        ELM(5, branches=2)
