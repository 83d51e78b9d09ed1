"""L2MU / LMU: check 18 (d = 1 is a unity-DC-gain low-pass) and the Legendre matrices in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from spikeforge.layers.l2mu import L2MU, legendre_matrices, lmu_discretize, lmu_memory_step


def test_check18_order_one_is_a_unity_gain_low_pass():
    theta = 7.0
    a, b = legendre_matrices(1, theta)
    assert a.item() == pytest.approx(-1 / theta) and b.item() == pytest.approx(1 / theta)
    a_bar, b_bar = lmu_discretize(a, b, 1.0)
    assert a_bar.item() == pytest.approx(math.exp(-1 / theta), abs=1e-14)
    assert b_bar.item() == pytest.approx(1 - math.exp(-1 / theta), abs=1e-14)
    m = torch.zeros(1, 1, 1, dtype=torch.float64)
    for t in range(1, 301):
        m = lmu_memory_step(m, torch.ones(1, 1, dtype=torch.float64), a_bar, b_bar)
        assert m.item() == pytest.approx(1 - math.exp(-t / theta), abs=1e-12)  # step response
    assert abs(m.item() - 1) < 1e-12  # DC gain 1


def _reference_ab(d: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.zeros((d, d)), np.zeros(d)
    for i in range(d):
        b[i] = (2 * i + 1) * (-1) ** i / theta
        for j in range(d):
            a[i, j] = (2 * i + 1) * (-1 if i < j else (-1) ** (i - j + 1)) / theta
    return a, b


@pytest.mark.parametrize("d", [1, 2, 4, 7])
def test_legendre_matrices_and_zoh_float64(d):
    theta, dt = 10.0, 1.0
    a, b = legendre_matrices(d, theta)
    ra, rb = _reference_ab(d, theta)
    np.testing.assert_allclose(a.numpy(), ra, rtol=0, atol=1e-15)
    np.testing.assert_allclose(b.numpy(), rb, rtol=0, atol=1e-15)
    a_bar, b_bar = lmu_discretize(a, b, dt)
    ea = scipy.linalg.expm(ra * dt)
    eb = np.linalg.solve(ra, (ea - np.eye(d)) @ rb)  # A^{-1}(e^{A dt} - I) B
    np.testing.assert_allclose(a_bar.numpy(), ea, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b_bar.numpy(), eb, rtol=1e-9, atol=1e-12)


def test_lmu_memory_is_a_delay_line():
    # the Legendre memory reconstructs u(t - theta) from m: a sine delayed by theta, order 6
    theta, d = 20.0, 6
    a_bar, b_bar = lmu_discretize(*legendre_matrices(d, theta), 1.0)
    T = 400
    u = torch.sin(torch.arange(T, dtype=torch.float64) * 2 * math.pi / 80)
    m, ms = torch.zeros(1, 1, d, dtype=torch.float64), []
    for t in range(T):
        m = lmu_memory_step(m, u[t].view(1, 1), a_bar, b_bar)
        ms.append(m.flatten())
    decode = torch.ones(d, dtype=torch.float64)  # shifted Legendre polynomials at r = 1 (full delay) are all 1
    recon = torch.stack(ms) @ decode
    err = (recon[100:] - u[100 - int(theta):T - int(theta)]).abs().max().item()
    assert err < 0.1


def test_l2mu_runs_continues_and_learns():
    torch.manual_seed(0)
    net = L2MU(5, hidden_size=8, output_size=3)
    xs = (torch.rand(12, 2, 5) * 2).requires_grad_()
    full, _ = net.run(xs)
    a, s = net.run(xs[:5])
    b, _ = net.run(xs[5:], s)
    torch.testing.assert_close(torch.cat([a, b]), full)
    assert set(full.unique().tolist()) <= {0.0, 1.0}
    full.sum().backward()
    assert net.beta_raw.grad is not None and net.e_x.grad is not None
    with pytest.raises(ValueError, match="L2MU: expected input"):
        net(torch.rand(3, 2, 4))


def _memory_rate(net: L2MU, xs: torch.Tensor) -> float:
    state, zm = None, []
    with torch.no_grad():
        for t in range(xs.shape[0]):
            _, state = net.run(xs[t:t + 1], state)
            zm.append(state.zm)
    return torch.stack(zm).mean().item()  # [T, B, C·d] -> mean rate


def test_memory_population_fires_with_the_default_gain():
    # a psMNIST-like input: one pixel in [0, 1] per step over a 64-step window. Without the memory
    # gain, ZOH gives |B̄_i| <= 0.10 at θ = 64: a binary encoder spike leaves the memory LIF (β = 0.2,
    # Θ = 0.4) at <= 0.10 / 0.8 < Θ, so it never fires; the default gain g_m = θ (θB̄ ≈ (2i+1)(-1)^i) does.
    torch.manual_seed(0)
    xs = torch.rand(32, 8, 1)  # [T, B, 1]
    _, b_bar = lmu_discretize(*legendre_matrices(4, 64.0), 1.0)
    assert b_bar.abs().max().item() / (1 - 0.2) < 0.4  # the silent regime, by hand
    torch.manual_seed(1)
    gained = L2MU(1, hidden_size=16, output_size=10, theta=64.0)
    torch.manual_seed(1)
    ungained = L2MU(1, hidden_size=16, output_size=10, theta=64.0, memory_gain=1.0)
    assert torch.allclose(gained.g_m, torch.full((4, 4), 64.0))
    assert _memory_rate(ungained, xs) == 0.0
    rate = _memory_rate(gained, xs)
    assert 0.05 < rate < 0.95, rate


def test_memory_drive_is_gain_times_b_bar_float64():
    # one step from rest, by hand in float64: encoder spikes z^u = H(e_x x - Θ_u); memory current
    # g_m ⊙ B̄ z^u (Ā z^m_{-1} = 0); memory spikes where it exceeds Θ_m
    torch.manual_seed(2)
    net = L2MU(3, hidden_size=4, output_size=2, encoder_size=2, order=3, theta=5.0, memory_gain=2.5).double()
    with torch.no_grad():
        net.e_x.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, -1.0]]))  # channel 0 fires, 1 mixed
    x = torch.rand(1, 8, 3, dtype=torch.float64)
    _, state = net.run(x)
    zu = (x[0] @ net.e_x.detach().T > 0.2).double()  # [B, C]; Θ_u = 0.2, β irrelevant from rest
    assert 0 < zu.mean().item() < 1
    im = zu.unsqueeze(-1) * (2.5 * net.b_bar.double())  # [B, C, d]
    assert 0 < state.zm.mean().item() < 1
    th_m = net.v_th[1].item()  # 0.4 as stored (float32 parameter cast to float64)
    torch.testing.assert_close(state.m + th_m * state.zm, im.flatten(-2), rtol=0, atol=1e-12)
    torch.testing.assert_close(state.zm, (im.flatten(-2) > th_m).double())
    with pytest.raises(ValueError, match="memory_gain"):
        L2MU(3, memory_gain=float("nan"))
