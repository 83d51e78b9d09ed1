"""BurstIF: golden trajectory, at most Γ spikes per step, one step emits floor(z/θ) (check 28)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.neurons import IF, BurstIF, BurstIFParams, BurstIFState, burst_if_step

D = torch.float64


def test_golden_trajectory_by_hand():
    # θ = 0.5, Γ = 3: v 0 +1.3 -> 1.3, n = 2 -> 0.3 ; +2.0 -> 2.3, n = min(4, 3) = 3 -> 0.8 ; +0.1 -> 0.9, n = 1 -> 0.4
    st = BurstIFState(torch.zeros(1, dtype=D))
    p = BurstIFParams(r=1.0, v_th=0.5)
    got = []
    for x in (1.3, 2.0, 0.1):
        n, st = burst_if_step(torch.tensor([x], dtype=D), st, p, dt=1.0, max_burst=3)
        got.append((n.item(), round(st.v.item(), 12)))
    assert got == [(2.0, 0.3), (3.0, 0.8), (1.0, 0.4)]


def test_one_step_emits_floor_and_never_more_than_gamma(gen):
    z = torch.rand(1000, generator=gen, dtype=D) * 6  # [N]
    theta = 0.7
    n, _ = burst_if_step(z, BurstIFState(torch.zeros_like(z)), BurstIFParams(r=1.0, v_th=theta), dt=1.0,
                         max_burst=9)
    assert torch.equal(n, torch.floor(z / theta))  # Γ = 9 >= ceil(6 / 0.7)
    xs = torch.rand(50, 4, 8, generator=gen) * 5  # [T, B, N]
    ns = BurstIF(max_burst=2)(xs)
    assert ns.max() == 2 and (ns >= 0).all() and torch.equal(ns, ns.round())


def test_gamma_one_is_a_plain_if_below_twice_threshold(gen):
    xs = torch.rand(40, 3, 6, generator=gen)  # inputs below θ = 1: v < 2θ, at most one spike
    assert torch.equal(BurstIF(max_burst=1)(xs), IF()(xs))


def test_bad_gamma_is_refused():
    for bad in (2.5, 0, True):
        with pytest.raises(ValueError, match="max_burst"):
            BurstIF(max_burst=bad)
