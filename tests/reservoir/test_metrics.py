"""Reservoir metrics and tasks against the reference's checks 17-20, 22, 23."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.reservoir import ESN, Liquid, Ridge
from spikeforge.reservoir.metrics import branching_factor, memory_capacity, nrmse, smape, state_rank
from spikeforge.reservoir.tasks import mackey_glass, narma10


@pytest.mark.parametrize(("n", "rho", "expected"), [(10, 0.9, 8.96), (20, 0.95, 18.81)])
def test_memory_capacity_check17(n: int, rho: float, expected: float) -> None:
    # Orthogonal W scaled to rho, linear reservoir, u ~ U(-0.8, 0.8), T = 20,000, ridge 1e-10, k_max = 2N.
    # Across seeds we measure 8.74-9.03 (N=10) and 18.70-18.87 (N=20); an off-by-one lag gives ~ +1.
    g = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    esn = ESN(n, 1, w=q * rho, activation="linear", seed=1)
    u = torch.rand(20_000, generator=g, dtype=torch.float64) * 1.6 - 0.8
    states = esn(u[:, None, None])[:, 0]  # [T, N]
    mc, mc_k = memory_capacity(states, u, 2 * n, ridge=1e-10)
    assert mc_k.shape == (2 * n,) and (mc_k >= 0).all() and (mc_k <= 1).all()
    assert mc <= n + 1e-6
    assert abs(mc - expected) < 0.3, mc


def test_memory_capacity_of_noise_states_is_small() -> None:
    g = torch.Generator().manual_seed(0)
    u = torch.rand(4000, generator=g, dtype=torch.float64)
    mc, _ = memory_capacity(torch.randn(4000, 5, generator=g, dtype=torch.float64), u, 10)
    assert mc < 0.2


def test_narma10_statistics_check18() -> None:
    u, y = narma10(4000, seed=0, drop=200)
    assert u.shape == y.shape == (4000,)
    assert 0.0 <= float(u.min()) and float(u.max()) <= 0.5
    # distribution-level: reference (seed 0, another RNG) mean 0.382, std 0.111, range [0.18, 1.06];
    # mean-field fixed point 0.3y + 0.5y^2 + 0.1 + 1.5*0.25^2 = y gives y = 0.381
    ybar = (0.7 - math.sqrt(0.49 - 2 * (0.1 + 1.5 * 0.0625))) / 1.0
    assert abs(ybar - 0.381) < 0.002
    assert abs(float(y.mean()) - 0.382) < 0.02
    assert abs(float(y.std()) - 0.111) < 0.012
    assert 0.1 < float(y.min()) < 0.3 and 0.7 < float(y.max()) < 1.3
    # the recurrence, re-evaluated by hand at one step
    _, y_full = narma10(300, seed=3, drop=0)
    u_full, _ = narma10(300, seed=3, drop=0)
    t = 150
    rhs = 0.3 * y_full[t - 1] + 0.05 * y_full[t - 1] * y_full[t - 10: t].sum() + 1.5 * u_full[t - 9] * u_full[t] + 0.1
    assert float(y_full[t]) == pytest.approx(float(rhs), abs=1e-12)
    # persistence predictor NRMSE (RMSE/std) ≈ 0.85
    assert abs(nrmse(y[:-1], y[1:]) - 0.85) < 0.04


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_mackey_glass_ranges_check19(method: str) -> None:
    x = mackey_glass(1000, dt=0.01 if method == "euler" else 0.1, method=method)
    # reference (Euler dt 0.01, history 1.2, discard t < 500): mean 0.930, std 0.226, range [0.42, 1.32]
    assert 0.88 < float(x.mean()) < 0.98
    assert 0.19 < float(x.std()) < 0.26
    assert 0.38 < float(x.min()) < 0.50 and 1.25 < float(x.max()) < 1.36


def test_mackey_glass_rejects_noninteger_lag() -> None:
    with pytest.raises(ValueError, match="integers"):
        mackey_glass(10, dt=0.3)


def test_smape_edge_cases_check20() -> None:
    y = torch.tensor([1.0, -2.0, 3.5])
    assert smape(y, y) == 0.0
    assert smape(-y, y) == pytest.approx(200.0)
    assert smape(torch.zeros(3), torch.zeros(3)) == pytest.approx(200.0)
    assert smape(torch.tensor([1.0]), torch.tensor([3.0])) == pytest.approx(200 * 2 / 4)


def test_nrmse_norms_against_numpy() -> None:
    g = np.random.default_rng(0)
    y, yh = g.normal(size=500), g.normal(size=500)
    rmse = np.sqrt(np.mean((y - yh) ** 2))
    yt, yht = torch.from_numpy(y), torch.from_numpy(yh)
    assert nrmse(yht, yt, "std") == pytest.approx(rmse / y.std())
    assert nrmse(yht, yt, "var") == pytest.approx(rmse / y.var())
    assert nrmse(yht, yt, "minmax") == pytest.approx(rmse / np.ptp(y))
    assert nrmse(yht, yt, "mean") == pytest.approx(rmse / y.mean())
    assert nrmse(yht, yt, "q1q3") == pytest.approx(rmse / (np.quantile(y, 0.75) - np.quantile(y, 0.25)))


def test_ridge_matches_numpy_closed_form() -> None:
    g = np.random.default_rng(1)
    x, y = g.normal(size=(300, 6)), g.normal(size=(300, 2))
    r = Ridge(0.5).fit(torch.from_numpy(x), torch.from_numpy(y))
    xb = np.hstack([x, np.ones((300, 1))])
    reg = np.diag([0.5] * 6 + [0.0])
    w = np.linalg.solve(xb.T @ xb + reg, xb.T @ y)
    np.testing.assert_allclose(r.weight.numpy(), w, rtol=1e-10, atol=1e-12)
    assert r.predict(torch.from_numpy(x)).shape == (300, 2)


def test_state_rank_check22() -> None:
    esn = ESN(30, 2, spectral_radius=0.9, seed=0)
    same = torch.rand(50, 1, 2, dtype=torch.float64).expand(50, 8, 2)  # m = 8 identical input streams
    assert state_rank(esn(same)[-1]) == 1
    distinct = torch.rand(50, 8, 2, dtype=torch.float64)
    assert state_rank(esn(distinct)[-1]) == 8
    many = torch.rand(50, 60, 2, dtype=torch.float64)
    assert state_rank(esn(many)[-1]) <= 30


def test_branching_factor_check23() -> None:
    liq = Liquid(2, shape=(6, 3, 3), seed=0)
    u = (torch.rand(80, 3, 2, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    z = liq(u)
    assert z.sum() > 0
    assert branching_factor(z, liq.w) > 0
    liq.w.zero_()
    z0 = liq(u)
    assert z0.sum() > 0  # still driven by input
    assert branching_factor(z0, liq.w) == 0.0


def test_branching_factor_hand_count() -> None:
    w = torch.tensor([[0.0, 0.0], [1.0, 0.0]])  # 0 -> 1
    z = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    # spikes at t<T-1: 3 ancestors; descendants: neuron 0 at t=0 -> neuron 1 at t=1 (1); t=1 -> none
    assert branching_factor(z, w) == pytest.approx(1 / 3)
