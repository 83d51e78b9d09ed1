"""QCFS activation: the reference's checks 1 (limit) and 2 (IF == QCFS), and its gradients (§2.2)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.convert import QCFS, PrimeMembrane, convert, qcfs
from spikeforge.layers import SpikingSequential
from spikeforge.neurons import IF
from spikeforge.runtime import checkpoint_through_time


@pytest.mark.parametrize("levels", [1, 4, 16, 1000, 10**6])
def test_qcfs_limit_is_clip_within_half_step(levels: int, gen: torch.Generator) -> None:
    # reference check 1 (✓): max |h_L(z) - clip(z, 0, λ)| <= λ/(2L), on z in [-2, 10], λ = 4
    lam = 4.0
    z = -2 + 12 * torch.rand(20000, generator=gen, dtype=torch.float64)
    err = (qcfs(z, lam, levels) - z.clamp(0, lam)).abs().max().item()
    assert err <= lam / (2 * levels) + 1e-15
    assert err > lam / (2 * levels) * 0.9  # the bound is tight on random z
    # the reference's "below 1e-12 at L = 1e6" holds on its evenly spaced grid, whose points are
    # multiples of λ/L (here 0.0006 = 150·λ/L), where the floor is exact
    grid = torch.linspace(-2, 10, 20001, dtype=torch.float64)
    if levels == 10**6:
        assert (qcfs(grid, lam, levels) - grid.clamp(0, lam)).abs().max().item() < 1e-12


def test_if_with_half_threshold_start_equals_qcfs_at_T_equal_L(gen: torch.Generator) -> None:
    # reference check 2 (✓, 0 mismatches in 20 000 cases): IF, reset by subtraction, u0 = θ/2,
    # constant z for T steps: θ·N_T/T == h_{L=T, λ=θ}(z) (θ in [0.5, 3], T in [1, 32], z in [-θ, 1.5θ])
    n = 640
    mismatches, cases = 0, 0
    for T in range(1, 33):
        theta = 0.5 + 2.5 * torch.rand(n, generator=gen, dtype=torch.float64)
        z = theta * (-1 + 2.5 * torch.rand(n, generator=gen, dtype=torch.float64))
        frac = (z / theta * T + 0.5) % 1
        keep = (frac > 1e-9) & (frac < 1 - 1e-9)  # exact floor ties are float-fragile (reference pitfall)
        xs = z.expand(T, 1, n)  # [T, B=1, n] constant input
        counts_half = nn.Sequential(_Prime(theta / 2), IF(v_th=theta, dtype=torch.float64))(xs).sum(0)[0]
        counts_zero = IF(v_th=theta, dtype=torch.float64)(xs).sum(0)[0]  # u0 = 0
        h = qcfs(z, theta, T)
        mismatches += int(((theta * counts_half / T - h).abs() > 1e-12)[keep].sum())
        cases += int(keep.sum())
        if T >= 2:  # without the θ/2 start the identity fails
            assert ((theta * counts_zero / T - h).abs() > 1e-12)[keep].any()
    assert cases > 20000 and mismatches == 0


def test_prime_membrane_is_an_initial_potential() -> None:
    xs = torch.rand(5, 3, 4, dtype=torch.float64)
    theta = torch.full((4,), 0.8, dtype=torch.float64)
    a = nn.Sequential(PrimeMembrane(0.4), IF(v_th=theta, dtype=torch.float64))(xs)
    b = nn.Sequential(_Prime(theta / 2), IF(v_th=theta, dtype=torch.float64))(xs)
    assert torch.equal(a, b)
    assert torch.equal(PrimeMembrane(0.4)(xs)[1:], xs[1:])


def test_prime_membrane_streams_chunk_by_chunk() -> None:
    """Passing the returned state back primes only the sequence's first step, so chunks equal one run
    (a PrimeMembrane that added u_0 to the first step of every call would fail the equality)."""
    xs = torch.rand(7, 3, 4, dtype=torch.float64)
    net = SpikingSequential(PrimeMembrane(0.5), IF(dtype=torch.float64))
    whole = net(xs)
    y1, states = net.run(xs[:3])
    y2, states = net.run(xs[3:5], states)
    y3, states = net.run(xs[5:], states)
    assert torch.equal(torch.cat([y1, y2, y3]), whole)
    assert int(states[0].t) == 7
    restarted, _ = net.run(xs[3:])  # no state: a new sequence starts, primed again
    assert torch.equal(restarted, net(xs[3:]))
    ckpt = checkpoint_through_time(nn.Sequential(*net), xs, chunk=2)  # chunks of 2 steps, states carried
    assert torch.equal(ckpt, whole)
    with pytest.raises(TypeError, match="PrimeState"):
        PrimeMembrane(0.5).run(xs, (torch.tensor(1),))  # type: ignore[arg-type]


class _Prime(nn.Module):  # u0 per neuron (PrimeMembrane takes a scalar)
    def __init__(self, v0: torch.Tensor) -> None:
        super().__init__()
        self.v0 = v0

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        return torch.cat([xs[:1] + self.v0, xs[1:]])


def test_qcfs_gradients_are_straight_through() -> None:
    lam = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    z = torch.tensor([-1.0, 0.3, 0.77, 1.9, 3.0], dtype=torch.float64, requires_grad=True)
    levels = 4
    h = qcfs(z, lam, levels)
    h.sum().backward()
    y = (z.detach() / 2.0).clamp(0, 1)
    q = torch.floor(y * levels + 0.5) / levels
    inside = (z.detach() > 0) & (z.detach() < 2.0)
    assert torch.equal(z.grad, inside.double())  # dh/dz = 1 inside (0, λ), 0 outside
    # dh/dλ = q - z/λ inside, q (= 1) above λ, 0 below 0
    want = torch.where(inside, q - z.detach() / 2.0, torch.where(z.detach() >= 2.0, q, torch.zeros_like(q)))
    assert lam.grad is not None and abs(lam.grad.item() - want.sum().item()) < 1e-12


def test_qcfs_module_validates() -> None:
    with pytest.raises(ValueError, match="levels"):
        QCFS(levels=0)
    with pytest.raises(ValueError, match="lam"):
        QCFS(lam=0.0)
    m = QCFS(levels=4, lam=1.0)
    with torch.no_grad():
        m.lam.fill_(-1.0)
    with pytest.raises(ValueError, match="must stay > 0"):
        m(torch.ones(3))


def test_one_hidden_layer_qcfs_net_converts_exactly_at_T_equal_L(gen: torch.Generator) -> None:
    # The first QCFS layer sees a constant input, so by the identity above its spike counts over
    # T = L equal the ANN's quantized activation: the SNN's mean output equals the ANN output.
    torch.set_default_dtype(torch.float64)
    try:
        levels = 8
        ann = nn.Sequential(nn.Linear(6, 20), QCFS(levels=levels, lam=1.7), nn.Linear(20, 3)).eval()
        snn = convert(ann, method="qcfs")
        x = torch.rand(50, 6, generator=gen, dtype=torch.float64)
        out = snn(x.expand(levels, *x.shape)).mean(0)  # [T, B, 6] -> [B, 3]
        assert (out - ann(x)).abs().max().item() < 1e-9
        no_shift = nn.Sequential(*[m for m in snn if not isinstance(m, PrimeMembrane)])
        assert (no_shift(x.expand(levels, *x.shape)).mean(0) - ann(x)).abs().max().item() > 1e-3
    finally:
        torch.set_default_dtype(torch.float32)
