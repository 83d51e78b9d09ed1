"""Learnable delays (DCLS style): reference checks 12, 13 and 15, plus the per-neuron delay."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spikeforge.layers import Delay, DelayLinear, LearnableDelay, delay_param_groups, delay_taps, sigma_schedule


def _gauss_mass(sigma_eff: float, K: int = 25) -> tuple[float, float]:
    """Independent float64 mass at the centre and on one neighbour of an integer position."""
    c = K // 2
    g = [math.exp(-0.5 * ((k - c) / sigma_eff) ** 2) for k in range(K)]
    s = sum(g)
    return g[c] / s, g[c + 1] / s


def test_taps_sum_to_one_per_synapse() -> None:
    torch.manual_seed(0)
    p = torch.empty(7, 5, dtype=torch.float64).uniform_(-12, 12)
    sig = torch.rand(7, 5, dtype=torch.float64) * 5
    for mode in ("gauss", "triangle", "round"):
        g = delay_taps(p, 25, mode, sig)
        assert g.shape == (7, 5, 25)
        torch.testing.assert_close(g.sum(-1), torch.ones(7, 5, dtype=torch.float64), atol=1e-6, rtol=0)


@pytest.mark.parametrize("sig, centre, neighbour, digits", [(0.0, 0.9979, 0.00105, 4), (0.23, 0.787, 0.106, 3)])
def test_gaussian_mass_at_integer_position(sig: float, centre: float, neighbour: float, digits: int) -> None:
    # reference check 12: sigma_eff = |SIG| + 0.27 = 0.27 -> 99.79 % / 0.105 %; 0.5 -> 78.7 % / 10.6 %
    g = delay_taps(torch.tensor([0.0], dtype=torch.float64), 25, "gauss", sig)[0]
    c, n = _gauss_mass(sig + 0.27)
    assert g[12].item() == pytest.approx(c, rel=1e-6)
    assert g[13].item() == pytest.approx(n, rel=1e-6)
    assert g[11].item() == pytest.approx(n, rel=1e-6)
    assert float(f"{g[12].item():.{digits}g}") == centre
    assert float(f"{g[13].item():.3g}") == neighbour


def test_eval_one_hot_and_delay_convention() -> None:
    torch.manual_seed(1)
    K, T = 7, 20
    layer = DelayLinear(4, 3, K=K).eval()
    with torch.no_grad():
        layer.positions.uniform_(-3.4, 3.4)
    g = layer.taps()
    assert bool(((g == 0) | (g == 1)).all()) and bool((g.sum(-1) == 1).all())
    x = torch.randn(T, 2, 4, dtype=torch.float64)
    layer = layer.double()
    y = layer(x)
    d = (K - 1) // 2 - torch.round(layer.positions.detach()).long()  # d = (K-1)/2 - P
    assert torch.equal(d, layer.delays)
    ref = torch.zeros(T, 2, 3, dtype=torch.float64)
    for j in range(3):
        for i in range(4):
            for t in range(T):
                s = t - int(d[j, i])
                if s >= 0:
                    ref[t, :, j] += layer.weight[j, i].detach() * x[s, :, i]
    torch.testing.assert_close(y.detach(), ref)


def test_rounded_layer_is_bit_exact_integer_shift_of_spikes() -> None:
    # reference check 13: one synapse per channel with w = 1 -> integer shift with zero fill
    torch.manual_seed(2)
    K, N, T = 9, 6, 30
    spikes = (torch.rand(T, 3, N) < 0.3).float()
    delays = torch.tensor([0, 1, 3, 4, 7, 8])
    layer = DelayLinear(N, N, K=K).eval()
    with torch.no_grad():
        layer.weight.copy_(torch.eye(N))
        layer.positions.copy_((K - 1) // 2 - delays.double().unsqueeze(1).expand(N, N))
    assert torch.equal(layer(spikes), Delay(delays)(spikes))
    ax = LearnableDelay(N, K=K).eval()
    with torch.no_grad():
        ax.positions.copy_((K - 1) // 2 - delays.float())
    assert torch.equal(ax(spikes), Delay(delays)(spikes))
    assert torch.equal(ax.delays, delays)


def test_position_gradient_finite_nonzero_for_positive_sigma() -> None:
    torch.manual_seed(3)
    layer = DelayLinear(5, 4, K=11, sig=1.0).train()
    x = (torch.rand(40, 2, 5) < 0.4).float()
    (layer(x) ** 2).sum().backward()
    g = layer.positions.grad
    assert g is not None and bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0
    ax = LearnableDelay(5, K=11, sig=1.0).train()
    (ax(x) * torch.arange(40.0).view(40, 1, 1)).sum().backward()
    assert ax.positions.grad is not None and bool((ax.positions.grad.abs() > 0).all())


def test_gauss_gradient_matches_finite_difference() -> None:
    torch.manual_seed(4)
    layer = DelayLinear(3, 2, K=9, sig=0.7, per_synapse_sigma=True).double().train()
    x = torch.randn(25, 2, 3, dtype=torch.float64)
    p0 = torch.empty(2, 3, dtype=torch.float64).uniform_(-3.5, 3.5).requires_grad_()

    def f(p: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, {"positions": p}, (x,))

    assert torch.autograd.gradcheck(f, (p0,))


def test_positions_clamped_to_window() -> None:
    layer = DelayLinear(2, 2, K=5).eval()
    with torch.no_grad():
        layer.positions.copy_(torch.tensor([[-9.0, 9.0], [2.4, -2.6]]))
    assert layer.delays.tolist() == [[4, 0], [0, 4]]
    x = torch.randn(9, 2, 2)
    y_out_of_range = layer(x)
    for mode in ("gauss", "round", "triangle"):  # out-of-window positions act as the nearest edge tap
        layer.set_mode(mode)
        torch.testing.assert_close(layer.taps().sum(-1), torch.ones(2, 2))
    layer.set_mode("auto")
    layer.clamp_positions_()
    torch.testing.assert_close(layer(x), y_out_of_range)
    assert layer.positions.detach().tolist() == [[-2.0, 2.0], [2.0, -2.0]]


def test_shd_dcls_model_parameter_count() -> None:
    # reference check 15: 140-256-256-20, K = 25, no biases: weights + positions + BatchNorm affine
    model = nn.Sequential(
        DelayLinear(140, 256, K=25), nn.BatchNorm1d(256),
        DelayLinear(256, 256, K=25), nn.BatchNorm1d(256),
        DelayLinear(256, 20, K=25),
    )
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert n == 214_016
    groups = delay_param_groups(model, 1e-3, 0.1)
    assert sum(p.numel() for p in groups[1]["params"]) == 106_496  # type: ignore[union-attr]


def test_sigma_setting_and_schedules() -> None:
    layer = DelayLinear(2, 3, K=5, per_synapse_sigma=True)
    layer.set_sigma(0.23)
    torch.testing.assert_close(layer.sigma_eff, torch.full((3, 2), 0.5))
    assert sigma_schedule(0, 10, 12.0, 0.0, "cosine") == 12.0
    assert sigma_schedule(5, 10, 12.0, 0.0, "cosine") == pytest.approx(6.0)
    assert sigma_schedule(10, 10, 12.0, 0.23, "exponential") == pytest.approx(0.23)
    assert sigma_schedule(5, 10, 4.0, 1.0, "exponential") == pytest.approx(2.0)
    with pytest.raises(ValueError, match="kind"):
        sigma_schedule(1, 2, 1.0, kind="step")


def test_bad_input_shape_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"\[T, B, 3\]"):
        DelayLinear(3, 2, K=5)(torch.zeros(4, 2, 4))


@pytest.mark.parametrize("mode", ["gauss", "triangle", "round"])
def test_per_neuron_delay_is_the_diagonal_per_synapse_layer(mode: str) -> None:
    # LearnableDelay (axonal/dendritic) with the same interpolation modes: it must equal a DelayLinear
    # whose weight is the identity and whose diagonal positions are the per-neuron ones (DelayLinear
    # itself is checked against the dcls package in test_dcls_peer.py), forward and position gradients
    torch.manual_seed(5)
    N, K = 4, 9
    ax = LearnableDelay(N, K=K, sig=0.8, per_neuron_sigma=True).double().train()
    ax.set_mode(mode)
    full = DelayLinear(N, N, K=K, sig=0.8, per_synapse_sigma=True).double().train()
    full.set_mode(mode)
    with torch.no_grad():
        ax.positions.uniform_(-4, 4)
        ax.sig.uniform_(0.0, 2.0)
        full.weight.copy_(torch.eye(N))
        full.positions.diagonal().copy_(ax.positions)
        full.sig.diagonal().copy_(ax.sig)
    x = torch.randn(30, 2, N, dtype=torch.float64)
    g = torch.randn(30, 2, N, dtype=torch.float64)
    y_ax, y_full = ax(x), full(x)
    torch.testing.assert_close(y_ax, y_full, rtol=1e-12, atol=1e-12)
    (y_ax * g).sum().backward()
    (y_full * g).sum().backward()
    assert ax.positions.grad is not None and full.positions.grad is not None
    torch.testing.assert_close(ax.positions.grad, full.positions.grad.diagonal(), rtol=1e-12, atol=1e-12)
