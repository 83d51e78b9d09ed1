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
