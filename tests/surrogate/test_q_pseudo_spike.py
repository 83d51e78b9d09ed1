"""q-PseudoSpike (Herranz-Celotti & Rouat, arXiv 2202.00282), float64 goldens.

Analytic facts held here: the derivative ``(1 + 2|x|/(q−1))^{−q}`` peaks at x = 0 with value 1
and integrates to 1 for every q > 1 (∫₀^∞ (1 + a x)^{−q} dx = 1/(a(q−1)) = 1/2 with a = 2/(q−1));
the primitive is its running integral; q = 2 equals SuperSpike's 1/(1 + 2|x|)²; q → ∞ tends to
e^{−2|x|}; and SpikingJelly's ``QPseudoSpike`` (its ``alpha`` is q) gives the same gradients.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.surrogate import SURROGATES, FastSigmoid, QPseudoSpike


@pytest.mark.parametrize("q", [1.5, 2.0, 4.0, 20.0])
def test_unit_area_and_unit_peak(q):
    # the tail decays as |x|^-q: integrate in t with x = sinh(t) (dx = cosh(t) dt) to reach |x| ~ 3.6e10
    t = np.linspace(-25.0, 25.0, 400_001)
    x = np.sinh(t)
    g = QPseudoSpike(q=q).grad(torch.from_numpy(x)).numpy() * np.cosh(t)
    integral = float(np.sum((g[1:] + g[:-1]) / 2 * np.diff(t)))
    cut_tail = (1 + 2 * float(x[-1]) / (q - 1)) ** (1 - q)  # both tails beyond |x| = sinh(25), closed form
    assert integral + cut_tail == pytest.approx(1.0, abs=1e-7)
    grid = torch.arange(-30_000, 30_001, dtype=torch.float64) / 10_000  # exact 0 on the grid
    gg = QPseudoSpike(q=q).grad(grid)
    assert float(grid[int(gg.argmax())]) == 0.0 and float(gg.max()) == 1.0


@pytest.mark.parametrize("q", [1.5, 3.0])
def test_primitive_is_the_running_integral(q):
    sg = QPseudoSpike(q=q)
    x = torch.linspace(-6, 6, 120_001, dtype=torch.float64)
    g = sg.grad(x)
    running = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum((g[1:] + g[:-1]) / 2 * (x[1] - x[0]), 0)])
    assert torch.allclose(sg.primitive(x), sg.primitive(x[:1]) + running, atol=1e-7)
    assert sg.primitive(torch.tensor([0.0], dtype=torch.float64)).item() == 0.5
    # float64 autograd of the primitive equals grad (the pair is consistent on both sides of 0)
    pts = torch.tensor([-2.0, -0.3, 0.2, 1.7], dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(sg.primitive(pts).sum(), pts)
    assert torch.allclose(d, sg.grad(pts.detach()), rtol=1e-12)


def test_limits():
    x = torch.linspace(-4, 4, 81, dtype=torch.float64)
    assert torch.allclose(QPseudoSpike(q=2.0).grad(x), FastSigmoid(slope=2.0).grad(x), rtol=1e-14)
    far = QPseudoSpike(q=1e7).grad(x)
    assert torch.allclose(far, torch.exp(-2 * x.abs()), atol=1e-5)
    assert math.isclose(QPseudoSpike(q=3.0).grad(torch.tensor(1.0, dtype=torch.float64)).item(), 0.125)  # 2^-3


def test_registered_and_validated():
    assert isinstance(SURROGATES.create("q_pseudo_spike", q=3.0), QPseudoSpike)
    for bad in (1.0, 0.5):
        with pytest.raises(ValueError, match="q must be > 1"):
            QPseudoSpike(q=bad)


@pytest.mark.parametrize("q", [2.0, 4.5])
def test_equals_spikingjelly_qpseudospike(q):
    sj = pytest.importorskip("spikingjelly.activation_based.surrogate")
    x = torch.linspace(-3, 3, 241, dtype=torch.float64)
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    QPseudoSpike(q=q)(a).sum().backward()
    sj.QPseudoSpike(alpha=q)(b).sum().backward()
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=0)
