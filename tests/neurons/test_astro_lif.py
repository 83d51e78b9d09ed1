"""AstroLIF (registered "astro_lif"): golden run against a plain-Python float64 loop, domains, homeostasis."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.neurons import NEURONS, AstroLIF


def _reference(xs: list[list[list[float]]], tau_mem: float, tau_astro: float, k: float, v_th: float, dt: float,
               domain: int) -> list[list[list[float]]]:
    """Scalar float64 loop of the docstring equations (Euler, subtractive reset by θ), no torch."""
    T, B, N = len(xs), len(xs[0]), len(xs[0][0])
    v = [[0.0] * N for _ in range(B)]
    a = [[0.0] * N for _ in range(B)]
    out = []
    for t in range(T):
        zt = [[0.0] * N for _ in range(B)]
        for b in range(B):
            for n in range(N):
                v[b][n] = v[b][n] + dt / tau_mem * (xs[t][b][n] - v[b][n])
                th = v_th * (1.0 + k * a[b][n])
                zt[b][n] = 1.0 if v[b][n] - th > 0 else 0.0
                v[b][n] -= zt[b][n] * th
            for g in range(0, N, domain):
                mean = sum(zt[b][g:g + domain]) / domain
                for n in range(g, g + domain):
                    a[b][n] = (1 - dt / tau_astro) * a[b][n] + dt / tau_astro * mean
        out.append(zt)
    return out


@pytest.mark.parametrize("domain", [None, 3])
def test_golden_against_float64_loop(domain: int | None) -> None:
    g = torch.Generator().manual_seed(0)
    xs = torch.rand(80, 2, 6, generator=g, dtype=torch.float64) * 3.0
    p = {"tau_mem": 5e-3, "tau_astro": 20e-3, "k_astro": 3.0, "v_th": 1.0}
    zs = NEURONS.create("astro_lif", dt=1e-3, domain=domain, **p).to(torch.float64)(xs)
    ref = _reference(xs.tolist(), 5e-3, 20e-3, 3.0, 1.0, 1e-3, domain or 1)
    assert torch.equal(zs, torch.tensor(ref, dtype=torch.float64))
    assert 0 < float(zs.sum()) < zs.numel()


def test_astrocyte_state_hand_count() -> None:
    # one neuron per domain of 2 driven hard, its neighbour silent: ā = 1/2 per step the driven one fires
    m = AstroLIF(tau_astro=10e-3, k_astro=0.0, domain=2, dt=1e-3)
    x = torch.tensor([[100.0, 0.0]])
    z, s = m.step(x)
    assert z.tolist() == [[1.0, 0.0]]
    torch.testing.assert_close(s.a, torch.full((1, 2), 0.1 * 0.5))  # a' = 0 + (dt/τ)·mean(1, 0)
    z, s = m.step(x, s)
    torch.testing.assert_close(s.a, torch.full((1, 2), 0.9 * 0.05 + 0.05))


def test_astrocyte_lowers_the_rate() -> None:
    xs = torch.full((300, 1, 8), 1.5)
    free = float(AstroLIF(k_astro=0.0, domain=8)(xs).mean())
    held = float(AstroLIF(k_astro=20.0, domain=8)(xs).mean())
    assert 0 < held < 0.8 * free


def test_bad_domain() -> None:
    with pytest.raises(ValueError, match="domain"):
        AstroLIF(domain=0)
    with pytest.raises(ValueError, match="divide the last dim"):
        AstroLIF(domain=4)(torch.zeros(3, 1, 6))
    with pytest.raises(ValueError, match="k_astro"):
        AstroLIF(k_astro=-1.0)
    assert math.isfinite(float(AstroLIF(domain=2)(torch.ones(4, 1, 6)).sum()))
