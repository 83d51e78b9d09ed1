"""PDSG (Lun et al., CVPR 2025; reference §4.7, check 21 ✓): the surrogate integrates to 1 for any σ and
peaks at u − θ = σ/2; σ is the population spread of the membrane potentials (σ = 0 → 1).

[unverified] Whether the paper's code uses the population (÷n) or the sample (÷(n−1)) standard
deviation is not confirmed by the reference; spikeforge uses the population one and the test pins it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.neurons import LIF
from spikeforge.surrogate import PDSG, SURROGATES, membrane_sigma


@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_integrates_to_one(sigma):
    x = np.linspace(-40 * sigma, 40 * sigma, 400_001)
    g = PDSG(sigma=sigma).grad(torch.from_numpy(x)).numpy()
    integral = float(np.sum((g[1:] + g[:-1]) / 2 * np.diff(x)))  # trapezoid rule, written out
    assert abs(integral - 1.0) < 1e-9
    # and the primitive spans 0 -> 1 consistently with that integral
    p = PDSG(sigma=sigma).primitive(torch.tensor([-40 * sigma, 40 * sigma], dtype=torch.float64))
    assert p.tolist() == pytest.approx([0.0, 1.0], abs=1e-12)


@pytest.mark.parametrize("sigma", [0.1, 1.0, 3.0])
def test_peak_at_half_sigma(sigma):
    x = torch.linspace(-5 * sigma, 5 * sigma, 200_001, dtype=torch.float64)
    g = PDSG(sigma=sigma).grad(x)
    assert float(x[int(g.argmax())]) == pytest.approx(sigma / 2, abs=1e-4 * sigma)
    assert PDSG(sigma=sigma).peak == sigma / 2
    assert float(g.max()) == pytest.approx(1 / (sigma * math.sqrt(2 * math.pi)), rel=1e-12)
    # strictly smaller on both sides of the peak
    side = PDSG(sigma=sigma).grad(torch.tensor([sigma / 2 - 1e-3, sigma / 2 + 1e-3], dtype=torch.float64))
    assert (side < g.max()).all()


def test_membrane_sigma_is_the_population_std(gen):
    scale = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)[:, None, None]  # per channel [C, 1, 1]
    vs = torch.randn(6, 4, 3, 5, 5, generator=gen, dtype=torch.float64) * scale  # [T, B, C, H, W]
    a = vs.numpy()
    assert float(membrane_sigma(vs)) == pytest.approx(float(np.std(a)), rel=1e-12)
    per_channel = membrane_sigma(vs, channel_dim=2)
    assert per_channel.shape == (3,)
    want = [float(np.std(a[:, :, c])) for c in range(3)]
    assert per_channel.tolist() == pytest.approx(want, rel=1e-12)
    assert PDSG.from_membrane(vs).sigma == pytest.approx(float(np.std(a)), rel=1e-12)


def test_zero_spread_gives_sigma_one():
    assert float(membrane_sigma(torch.full((4, 2, 3), 0.7))) == 1.0
    vs = torch.zeros(4, 2, 3, 2)
    vs[:, :, 1] = torch.arange(8.0).reshape(4, 2, 1)
    assert membrane_sigma(vs, channel_dim=2).tolist()[0] == 1.0 and membrane_sigma(vs, channel_dim=2)[1] != 1.0
    assert PDSG.from_membrane(torch.zeros(3, 2)) == PDSG(sigma=1.0)


def test_bad_membrane_input_rejected():
    with pytest.raises(ValueError, match="membrane potentials"):
        membrane_sigma(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="membrane potentials"):
        membrane_sigma(torch.empty(0))


def test_registered_and_drives_a_neuron_backward(gen):
    assert SURROGATES.get("pdsg") is PDSG
    xs = (torch.rand(10, 2, 4, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    LIF(surrogate="pdsg", dtype=torch.float64)(xs).sum().backward()
    assert xs.grad is not None and torch.isfinite(xs.grad).all() and xs.grad.abs().sum() > 0
