"""DelRec learnable recurrent delays: reference check 14 and an explicit-history reference simulation."""

from __future__ import annotations

import pytest
import torch

from spikeforge.layers import DelayedRecurrentSpiking, delrec_mask


@pytest.mark.parametrize("d", [0, 1, 4, 7])
def test_mask_one_hot_at_one_plus_d(d: int) -> None:
    m = delrec_mask(torch.tensor([float(d)]), 1.0, 10)[0]
    expected = torch.zeros(10)
    expected[1 + d] = 1.0
    assert torch.equal(m, expected)


@pytest.mark.parametrize("s", [1, 2, 3, 5])
def test_mask_sums_to_one_for_integer_s(s: int) -> None:
    # delays with 1 + d - s >= 0: the triangle lies in slots l >= 0 (slot 0, the current step, is never written)
    d = s - 1 + torch.tensor([0.0, 0.3, 2.5, 6.0, 7.9], dtype=torch.float64)
    m = delrec_mask(d, float(s), 1 + 8 + 2 * s + 2)
    torch.testing.assert_close(m.sum(-1), torch.ones(5, dtype=torch.float64), atol=1e-12, rtol=0)
    # centre of mass sits at 1 + d (symmetric triangle, fully inside the window)
    com = (m * torch.arange(m.shape[1], dtype=torch.float64)).sum(-1)
    torch.testing.assert_close(com, 1 + d)


def _reference(layer: DelayedRecurrentSpiking, xs: torch.Tensor) -> torch.Tensor:
    """Explicit spike history: i_t = W_in x_t + sum_j W_rec[:, j] z_{t-1-d_j}[j]."""
    d = torch.round(layer.delays.detach()).long()
    w = layer.recurrent.weight.detach()
    i_in = layer.input(xs).detach()
    state = layer.neuron.init_state(i_in[0])
    zs: list[torch.Tensor] = []
    for t in range(xs.shape[0]):
        rec = torch.zeros_like(i_in[0])
        for j in range(layer.out_features):
            s = t - 1 - int(d[j])
            if s >= 0:
                rec += zs[s][:, j : j + 1] * w[:, j]
        z, state = layer.neuron.step(i_in[t] + rec, state)
        zs.append(z)
    return torch.stack(zs)


@pytest.mark.parametrize("train", [True, False])
def test_integer_delays_match_explicit_history(train: bool) -> None:
    torch.manual_seed(0)
    layer = DelayedRecurrentSpiking(3, 6, max_delay=4, sigma=0.0).double().train(train)
    with torch.no_grad():
        layer.delays.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 2.0]))
        layer.recurrent.weight.mul_(3.0)
    xs = torch.rand(30, 2, 3, dtype=torch.float64) * 30
    with torch.no_grad():
        got = layer(xs)
    assert got.sum() > 0
    torch.testing.assert_close(got, _reference(layer, xs), atol=1e-12, rtol=0)


def test_delay_gradient_finite_nonzero_for_positive_sigma() -> None:
    torch.manual_seed(1)
    layer = DelayedRecurrentSpiking(3, 5, max_delay=6, sigma=1.5).train()
    with torch.no_grad():
        layer.recurrent.weight.mul_(3.0)
    out = layer(torch.rand(40, 4, 3) * 30)
    assert out.detach().sum() > 0  # spikes, so the delays matter
    out.sum().backward()
    g = layer.delays.grad
    assert g is not None and bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0


def test_eval_rounds_fractional_delays() -> None:
    torch.manual_seed(2)
    layer = DelayedRecurrentSpiking(3, 4, max_delay=5, sigma=2.0).double().eval()
    with torch.no_grad():
        layer.delays.copy_(torch.tensor([0.4, 1.6, 3.2, 4.7]))
        layer.recurrent.weight.mul_(3.0)
    xs = torch.rand(30, 2, 3, dtype=torch.float64) * 30
    with torch.no_grad():
        got = layer(xs)
    assert got.sum() > 0
    torch.testing.assert_close(got, _reference(layer, xs), atol=1e-12, rtol=0)
