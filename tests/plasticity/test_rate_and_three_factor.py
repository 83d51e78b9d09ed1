"""Oja, BCM and three-factor rules against closed forms (reference §4 checks 6 and 8)."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.plasticity import BCM, Oja, ThreeFactor, ThreeFactorParams, ThreeFactorState, three_factor_step


def test_oja_single_unit_converges_to_principal_axis():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20000, 2, generator=g, dtype=torch.float64) * torch.tensor([2.0, 1.0], dtype=torch.float64)
    w = torch.tensor([[0.3, 0.8]], dtype=torch.float64)
    rule = Oja(eta=1e-3)
    for xb in x.split(1):  # one sample per step, as in the classic rule
        dw, _ = rule.step(xb, xb @ w.T, None, w)
        w = w + dw
    assert abs(float(w[0, 0])) == pytest.approx(1.0, abs=0.05)
    assert abs(float(w[0, 1])) < 0.1
    assert float(w.norm()) == pytest.approx(1.0, abs=0.03)


def test_oja_subspace_finds_top_two_principal_subspace():
    g = torch.Generator().manual_seed(1)
    n, k = 10, 2
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    spectrum = torch.tensor([5.0, 4.0] + [0.5] * (n - 2), dtype=torch.float64)
    x = (torch.randn(30000, n, generator=g, dtype=torch.float64) * spectrum.sqrt()) @ q.T  # cov = Q diag Q^T
    h = torch.randn(k, n, generator=g, dtype=torch.float64) * 0.1
    rule = Oja(eta=0.02)  # eta * lambda_max = 0.1; batches of 100 average the noise
    for xb in x.split(100):
        dh, _ = rule.step(xb, xb @ h.T, None, h)
        h = h + dh
    u2 = q[:, :2]
    assert float(torch.linalg.norm(h @ h.T - torch.eye(k, dtype=torch.float64))) < 0.05
    assert float(torch.linalg.norm(h.T @ h - u2 @ u2.T)) < 0.05


def test_bcm_threshold_tracks_mean_square_and_sign_of_update():
    """Constant y: theta_n = y^2 + (theta_0 - y^2)(1 - dt/tau)^n; dw > 0 iff y > theta."""
    rule = BCM(eta=1.0, tau_theta=0.05, theta_0=0.0, dt=1e-3)
    x = torch.ones(1, 3, dtype=torch.float64)
    y = torch.full((1, 1), 0.5, dtype=torch.float64)
    w = torch.zeros(1, 3, dtype=torch.float64)
    state = None
    for n in range(1, 200):
        dw, state = rule.step(x, y, state, w)
        theta_prev = 0.25 * (1 - (1 - 0.02) ** (n - 1))
        assert float(state.theta) == pytest.approx(0.25 * (1 - (1 - 0.02) ** n), rel=1e-12)
        assert float(dw[0, 0]) == pytest.approx(1e-3 * 0.5 * (0.5 - theta_prev), rel=1e-12, abs=1e-18)


def test_three_factor_closed_form():
    """Eligibility c0 at t0 and a reward D at t0 + Delta: the discrete geometric sum exactly, and the
    continuous limit c0 D e^{-Delta/tau_e} tau_e tau_d / (tau_e + tau_d) (factor 0.1667 s) within 0.5 %."""
    dt, tau_e, tau_d, delta_steps, D = 1e-4, 1.0, 0.2, 2000, 2.0
    p = ThreeFactorParams(a_plus=1.0, a_minus=0.0, tau_e=tau_e, tau_d=tau_d, eta=1.0)
    w = torch.zeros(1, 1, dtype=torch.float64)
    z = torch.zeros(1, 1, dtype=torch.float64)
    one = torch.ones(1, 1, dtype=torch.float64)
    s = ThreeFactorState(z, z, torch.zeros_like(w), torch.zeros((), dtype=torch.float64))
    total = torch.zeros_like(w)
    steps = delta_steps + int(3.0 / dt)
    for t in range(steps):
        pre = one if t == 0 else z
        post = one if t == 0 else z  # same-step pair: eligibility c0 = a_plus = 1
        dw, s = three_factor_step(pre, post, s, w, p, modulator=D if t == delta_steps else 0.0, dt=dt)
        total += dw
    de, dd = math.exp(-dt / tau_e), math.exp(-dt / tau_d)
    k = steps - delta_steps
    discrete = D * de ** delta_steps * dt * (1 - (de * dd) ** k) / (1 - de * dd)
    assert float(total) == pytest.approx(discrete, rel=1e-9)
    factor = tau_e * tau_d / (tau_e + tau_d)
    assert factor == pytest.approx(0.1667, abs=1e-4)
    continuous = D * math.exp(-delta_steps * dt / tau_e) * factor
    assert float(total) == pytest.approx(continuous, rel=5e-3)


def test_zero_reward_means_no_change_for_any_spikes():
    g = torch.Generator().manual_seed(3)
    rule = ThreeFactor()
    w = torch.rand(4, 6, generator=g)
    state = None
    for _ in range(50):
        pre = (torch.rand(3, 6, generator=g) < 0.3).float()
        post = (torch.rand(3, 4, generator=g) < 0.3).float()
        dw, state = rule.step(pre, post, state, w, modulator=0.0)
        assert float(dw.abs().max()) == 0.0
    assert float(state.e.abs().sum()) > 0  # the eligibility did build up
