"""EGRU (reference §4.5, check 19 ✓): golden against a float64 recurrence written here, y_t = 0 whenever
c_t < ϑ (events carry c_t > ϑ), c drops by ϑ after an event, and the pseudo-derivative's area is γε."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.layers import EGRU
from spikeforge.layers.egru import EGRUPseudoDerivative


def _reference(xs, w, u, b, theta):
    """numpy float64 recurrence of the paper's equations; returns (ys, c_after_reset, c_before_reset)."""
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    H = theta.shape[0]
    c = np.zeros((xs.shape[1], H))
    y = np.zeros((xs.shape[1], H))
    ys, cs, pre = [], [], []
    for x in xs:
        gx, gh = x @ w.T + b, y @ u.T
        up = sig(gx[:, :H] + gh[:, :H])
        r = sig(gx[:, H:2 * H] + gh[:, H:2 * H])
        z = np.tanh(gx[:, 2 * H:] + r * gh[:, 2 * H:])
        c = up * c + (1 - up) * z
        o = (c > theta).astype(float)
        pre.append(c.copy())
        y = c * o
        c = c - o * theta
        ys.append(y)
        cs.append(c)
    return np.stack(ys), np.stack(cs), np.stack(pre)


def _layer(gen):
    torch.manual_seed(0)
    layer = EGRU(4, 6, theta_init=0.3).double()
    with torch.no_grad():
        layer.theta_raw.copy_(torch.randn(6, generator=gen, dtype=torch.float64) * 0.5 - 1)
    return layer


def test_golden_against_float64_recurrence(gen):
    layer = _layer(gen)
    xs = torch.randn(25, 3, 4, generator=gen, dtype=torch.float64) * 2
    ys, state = layer.run(xs)
    w, u, b, th = (p.detach().numpy() for p in (layer.weight_ih, layer.weight_hh, layer.bias, layer.theta))
    ry, rc, _ = _reference(xs.numpy(), w, u, b, th)
    np.testing.assert_allclose(ys.detach().numpy(), ry, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state.c.detach().numpy(), rc[-1], rtol=0, atol=1e-12)
    assert 0 < (ry != 0).mean() < 1  # both events and silence occur


def test_events_exceed_threshold_and_reset_by_theta(gen):
    layer = _layer(gen)
    xs = torch.randn(25, 3, 4, generator=gen, dtype=torch.float64) * 2
    th = layer.theta.detach()
    state, seen = None, 0
    with torch.no_grad():
        for x in xs:
            y, state = layer.run(x[None], state)
            y = y[0]
            ev = y != 0
            seen += int(ev.sum())
            assert (y[ev] > th.expand_as(y)[ev]).all()  # y_t = 0 whenever c_t <= ϑ
            torch.testing.assert_close(state.c[ev], (y - th)[ev], rtol=0, atol=1e-15)  # c drops by ϑ
            assert (state.c[~ev] <= th.expand_as(y)[~ev]).all()  # no event: c stayed at or below ϑ
    assert seen > 0


@pytest.mark.parametrize(("gamma", "width"), [(0.7, 1.0), (0.7, 0.5), (1.3, 2.0)])
def test_pseudo_derivative_area_and_shape(gamma, width):
    sg = EGRUPseudoDerivative(gamma=gamma, width=width)
    x = np.linspace(-3 * width, 3 * width, 600_001)
    g = sg.grad(torch.from_numpy(x)).numpy()
    area = float(np.sum((g[1:] + g[:-1]) / 2 * np.diff(x)))
    assert area == pytest.approx(gamma * width, rel=1e-9)
    c = torch.tensor([-2 * width, -width / 2, 0.0, width / 4, 2 * width], dtype=torch.float64, requires_grad=True)
    sg(c).sum().backward()
    want = [0.0, gamma / 2, gamma, 0.75 * gamma, 0.0]
    assert c.grad.tolist() == pytest.approx(want, abs=1e-15)


def test_gradients_reach_weights_and_threshold(gen):
    layer = _layer(gen)
    xs = torch.randn(15, 3, 4, generator=gen, dtype=torch.float64) * 2
    layer(xs).sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_bad_input():
    with pytest.raises(ValueError, match="theta_init must be in"):
        EGRU(2, 3, theta_init=1.5)
    with pytest.raises(ValueError, match="expected input"):
        EGRU(2, 3)(torch.rand(4, 2, 5))
    with pytest.raises(ValueError, match="positive ints"):
        EGRU(0, 3)
