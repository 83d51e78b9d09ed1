"""kernel_quality, generalization_rank, separation and spike_distance against closed forms and hand counts."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.reservoir import ESN, Liquid
from spikeforge.reservoir.separation import generalization_rank, kernel_quality, separation, spike_distance


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def test_rank_closed_forms_on_an_identity_reservoir() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 7, 4, generator=g, dtype=torch.float64)  # 7 generic streams, 4 channels
    assert kernel_quality(_identity, x) == 4  # min(m, N)
    assert kernel_quality(_identity, x[:, :3]) == 3
    x[:, 1] = 2 * x[:, 0]  # collinear counts: the rank drops by one (hand count)
    assert kernel_quality(_identity, x[:, :3]) == 2


def test_identical_inputs_rank_one_in_a_deterministic_reservoir() -> None:  # reference check 22
    liquid = Liquid(3, shape=(4, 4, 4), seed=0)
    u = (torch.rand(60, 3, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    same = u[:, None, :].expand(60, 5, 3)
    assert kernel_quality(liquid, same) == 1
    assert generalization_rank(liquid, u, 5, 0.0) == 1  # no noise: m copies
    noisy = generalization_rank(liquid, u, 5, 0.2, generator=torch.Generator().manual_seed(2))
    distinct = (torch.rand(60, 5, 3, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    assert 1 < noisy <= 5 and kernel_quality(liquid, distinct) <= min(5, 64)


def test_rate_reservoir_with_callable_noise() -> None:
    esn = ESN(30, 1, spectral_radius=0.9, seed=0)
    u = torch.rand(50, 1, dtype=torch.float64)
    last = lambda s: s[-1]  # noqa: E731  final state [m, N]
    assert generalization_rank(esn, u, 6, lambda c: c, state_fn=last) == 1
    r = generalization_rank(esn, u, 6, lambda c: c + 0.1 * torch.randn(c.shape, dtype=c.dtype), state_fn=last)
    assert r == 6


def test_separation_hand_count() -> None:
    su = torch.zeros(2, 2, 4)
    sv = torch.zeros(2, 2, 4)
    sv[1, 0, :2] = 1.0  # pair 0 differs at t=1 in 2 of 4 neurons by 1
    sv[1, 1, 0] = 2.0  # pair 1 differs at t=1 in 1 neuron by 2
    assert separation(su, sv, mean=False).tolist() == [[0.0, 0.0], [0.5, 1.0]]
    assert separation(su, sv).tolist() == [0.0, 0.75]
    with pytest.raises(ValueError, match="one shape"):
        separation(su, sv[:, :1])


def test_spike_distance_closed_form_and_quadrature() -> None:
    tau, d = 5.0, 3.0
    # one spike each, Δ apart: 2 K(0) - 2 K(Δ)
    expect = 2 * tau * math.sqrt(math.pi / 2) * (1 - math.exp(-(d**2) / (2 * tau**2)))
    assert spike_distance(torch.tensor([10.0]), torch.tensor([10.0 + d]), tau) == pytest.approx(expect, rel=1e-12)
    # several spikes: trapezoid integral of the squared filtered difference in float64
    a, b = torch.tensor([5.0, 20.0, 22.0]), torch.tensor([7.0, 40.0])
    t = torch.linspace(-60, 120, 200_001, dtype=torch.float64)
    f = lambda s: torch.exp(-(((t[:, None] - s.double()[None]) / tau) ** 2)).sum(1)  # noqa: E731
    assert spike_distance(a, b, tau) == pytest.approx(float(torch.trapezoid((f(a) - f(b)) ** 2, t)), rel=1e-9)
    assert spike_distance(a, a, tau) == pytest.approx(0.0, abs=1e-12)
