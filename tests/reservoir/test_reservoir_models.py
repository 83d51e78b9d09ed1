"""ESN beats persistence on NARMA10; the spiking liquid beats chance on a temporal task."""

from __future__ import annotations

import torch

from spikeforge.reservoir import ESN, Liquid, Ridge, exp_filter
from spikeforge.reservoir.metrics import nrmse
from spikeforge.reservoir.tasks import narma10


def test_esn_beats_persistence_on_narma10() -> None:
    u, y = narma10(2200, seed=0)
    esn = ESN(100, 1, spectral_radius=0.9, input_scale=0.5, bias_scale=0.2, density=0.2, seed=0)
    x = esn(u[:, None, None])[:, 0]  # [T, N]
    feats = torch.cat([x, u[:, None]], 1)
    r = Ridge(1e-8).fit(feats[100:1600], y[100:1600])
    err = nrmse(r.predict(feats[1600:])[:, 0], y[1600:])
    persist = nrmse(y[1599:-1], y[1600:])
    assert err < 0.75 * persist, (err, persist)


def test_esn_arithmetic_one_step() -> None:
    esn = ESN(5, 2, spectral_radius=0.8, leak=0.3, bias_scale=0.5, seed=2)
    u = torch.randn(2, 1, 2, dtype=torch.float64)
    x = esn(u)[:, 0]
    x1 = 0.3 * torch.tanh(esn.w_in @ u[0, 0] + esn.bias)
    x2 = 0.7 * x1 + 0.3 * torch.tanh(esn.w @ x1 + esn.w_in @ u[1, 0] + esn.bias)
    torch.testing.assert_close(x[0], x1, rtol=0, atol=1e-14)
    torch.testing.assert_close(x[1], x2, rtol=0, atol=1e-14)


def _burst_task(b: int, t: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    lab = torch.randint(0, 2, (b,), generator=g)
    u = (torch.rand(t, b, 2, generator=g) < 0.05).float()  # background on both channels
    burst = (torch.rand(20, b, generator=g) < 0.5).float()
    u[:20, torch.arange(b), lab] = burst  # a burst on the labelled channel in the first 20 steps only
    return u, lab


def test_liquid_beats_chance_on_temporal_task() -> None:
    u, lab = _burst_task(160)
    liq = Liquid(2, seed=0)
    z = liq(u)  # [T, B, 135]
    s = exp_filter(z, 30e-3, 1e-3)[-1]  # state 40 steps after the burst ended
    onehot = torch.nn.functional.one_hot(lab, 2).double()
    r = Ridge(1e-2).fit(s[:110], onehot[:110])
    acc = float((r.predict(s[110:]).argmax(1) == lab[110:]).double().mean())
    assert acc > 0.8, acc  # chance = 0.5


def test_liquid_sparse_equals_dense_and_dale() -> None:
    u, _ = _burst_task(4, 30)
    dense = Liquid(2, shape=(5, 3, 3), seed=1)
    sparse = Liquid(2, shape=(5, 3, 3), seed=1, sparse=True)
    assert torch.equal(dense(u), sparse(u))
    assert (dense.w[:, dense.is_inh] <= 0).all() and (dense.w[:, ~dense.is_inh] >= 0).all()
