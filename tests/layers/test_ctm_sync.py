"""CTM synchronisation read-out (reference §4.12, check 25) against float64 hand sums."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.layers.ctm_sync import CTMSync, ctm_certainty, ctm_loss, ctm_sync_step, sync_pairs


def _closed_form(zs: torch.Tensor, r: float, i: int, j: int) -> torch.Tensor:
    """S_I = Σ_t r^{I−t} z_t^i z_t^j / sqrt(Σ_t r^{I−t}), written as explicit sums over ticks."""
    n = zs.shape[0]
    num = sum(r ** (n - 1 - t) * zs[t, :, i] * zs[t, :, j] for t in range(n))
    den = sum(r ** (n - 1 - t) for t in range(n))
    return num / math.sqrt(den)


def test_rho_zero_is_sum_over_sqrt_ticks(gen):  # check 25
    zs = torch.randn(7, 3, 5, generator=gen, dtype=torch.float64)  # [I, B, D]
    left, right = torch.tensor([0, 2, 4, 1]), torch.tensor([3, 2, 0, 1])
    state, s = None, None
    for z in zs:
        s, state = ctm_sync_step(z, state, torch.zeros(4, dtype=torch.float64), left, right)
    assert s is not None
    for p, (i, j) in enumerate(zip(left.tolist(), right.tolist())):
        want = (zs[:, :, i] * zs[:, :, j]).sum(0) / math.sqrt(7)
        torch.testing.assert_close(s[:, p], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rho", [0.3, 2.0])
def test_decay_matches_closed_form(gen, rho):
    zs = torch.randn(6, 2, 4, generator=gen, dtype=torch.float64)
    sync = CTMSync(4, n_select=4).double()
    with torch.no_grad():
        sync.rho.fill_(rho)
    ss = sync(zs)  # [I, B, 10]
    for p, (i, j) in enumerate(zip(sync.left.tolist(), sync.right.tolist())):
        torch.testing.assert_close(ss[-1, :, p], _closed_form(zs, math.exp(-rho), i, j), rtol=1e-12, atol=1e-12)


def test_symmetric_in_the_pair(gen):  # check 25
    zs = torch.rand(5, 3, 6, generator=gen, dtype=torch.float64)
    left, right = sync_pairs(6, n_pairs=12, generator=gen)
    rho = torch.rand(12, generator=gen, dtype=torch.float64)
    a, b, sa, sb = None, None, None, None
    for z in zs:
        sa, a = ctm_sync_step(z, a, rho, left, right)
        sb, b = ctm_sync_step(z, b, rho, right, left)
    assert sa is not None and sb is not None
    assert torch.equal(sa, sb)


def test_decay_clamped_to_e_minus_15_and_1():  # check 25: r in [e^-15, 1]
    z = torch.ones(1, 2, dtype=torch.float64)
    left, right = torch.tensor([0, 1]), torch.tensor([0, 1])
    rho = torch.tensor([-3.0, 100.0], dtype=torch.float64)  # clamp -> r = 1 and r = e^-15
    s, st = ctm_sync_step(z, None, rho, left, right)
    s, st = ctm_sync_step(z, st, rho, left, right)
    assert st.beta[0].tolist() == pytest.approx([2.0, 1.0 + math.exp(-15.0)], rel=1e-15)


def test_dense_pairs_count_and_readout_shape():
    left, right = sync_pairs(10, n_select=5)
    assert len(left) == 15 and bool((left <= right).all())  # n(n+1)/2, i <= j
    assert CTMSync(10, n_select=5, out_features=3)(torch.rand(4, 2, 10)).shape == (4, 2, 3)
    with pytest.raises(ValueError, match="exactly one"):
        sync_pairs(10)
    with pytest.raises(ValueError, match=r"\[I, B, 10\]"):
        CTMSync(10, n_pairs=4)(torch.rand(4, 2, 9))


def test_certainty_and_two_tick_loss():
    k = 4
    assert ctm_certainty(torch.zeros(k)).item() == pytest.approx(0.0, abs=1e-12)
    assert ctm_certainty(torch.tensor([50.0, 0, 0, 0], dtype=torch.float64)).item() == pytest.approx(1.0, abs=1e-18)
    # 3 ticks, 1 sample, target 0: tick 0 is most certain but wrong, tick 2 has the least CE
    logits = torch.tensor([[[0.0, 9.0, 0.0, 0.0]], [[1.0, 0.0, 0.0, 0.0]], [[3.0, 0.0, 0.0, 0.0]]],
                          dtype=torch.float64)  # [I=3, B=1, K=4]

    def ce(row: list[float]) -> float:
        return -row[0] + math.log(sum(math.exp(v) for v in row))

    want = (ce([3.0, 0, 0, 0]) + ce([0.0, 9.0, 0, 0])) / 2
    assert ctm_loss(logits, torch.tensor([0])).item() == pytest.approx(want, rel=1e-12)
