"""SignedIF (SNM): golden trajectory, memory never negative, IF on non-negative input (check 27)."""

from __future__ import annotations

import torch

from spikeforge.neurons import IF, SignedIF, SignedIFParams, SignedIFState, signed_if_step

D = torch.float64


def test_golden_trajectory_by_hand():
    # v: 0 +1.2 -> 1.2 fire (+1) -> 0.2 ; -0.9 -> -0.7 <= -0.5, m = 1 > 0: negative spike -> 0.3, m = 0;
    # -0.9 -> -0.6 <= -0.5 but m = 0: nothing ; +2.0 -> 1.4 fire -> 0.4
    xs = torch.tensor([1.2, -0.9, -0.9, 2.0], dtype=D)
    st = SignedIFState(torch.zeros(1, dtype=D), torch.zeros(1, dtype=D))
    got = []
    for x in xs:
        z, st = signed_if_step(x.reshape(1), st, SignedIFParams(r=1.0), dt=1.0)
        got.append((z.item(), round(st.v.item(), 12), st.m.item()))
    assert got == [(1.0, 0.2, 1.0), (-1.0, 0.3, 0.0), (0.0, -0.6, 0.0), (1.0, 0.4, 1.0)]


def test_memory_is_never_negative_and_counts_net_spikes(gen):
    xs = torch.randn(200, 8, 16, generator=gen) * 1.5  # [T, B, N], both signs
    zs, st = SignedIF().run(xs)
    m = zs.cumsum(0)  # net count after each step
    assert (m >= 0).all() and (zs < 0).any() and (zs > 0).any()
    torch.testing.assert_close(st.m, m[-1])
    assert set(zs.unique().tolist()) <= {-1.0, 0.0, 1.0}
    # what was sent plus what is left equals what came in (reset by subtraction, θ⁺ = 1)
    torch.testing.assert_close(m[-1] + st.v, xs.sum(0), rtol=0, atol=1e-4)


def test_non_negative_input_is_a_plain_if(gen):
    xs = torch.rand(64, 4, 10, generator=gen) * 1.3  # [T, B, N] >= 0
    assert torch.equal(SignedIF(v_th=0.7)(xs), IF(v_th=0.7)(xs))


def test_bad_thresholds_and_reset_are_refused():
    import pytest

    with pytest.raises(ValueError, match="v_th_neg"):
        SignedIF(v_th_neg=0.2)
    with pytest.raises(ValueError, match="subtraction"):
        SignedIF(reset="zero")
