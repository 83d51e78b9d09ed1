"""SSDP against the reference's cases (§1.6, check 9) and its own sequence form."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.plasticity import SSDP, SSDPParams, ssdp_update


def _seq(T, times, n):
    """[T, 1, n] spikes: unit j fires at the steps in times[j] (empty = silent)."""
    s = torch.zeros(T, 1, n)
    for j, ts in enumerate(times):
        for t in ts:
            s[t, 0, j] = 1
    return s


def test_reference_cases():
    p = SSDPParams(a_plus=2e-4, a_base=5e-5, sigma=1.0)
    T = 40
    pre = _seq(T, [[3], [], [5, 9], [30]], 4)
    post = _seq(T, [[3], []], 2)
    dw = ssdp_update(pre, post, p).double()
    assert float(dw[0, 0]) == pytest.approx(2e-4, rel=1e-6)  # both first fire at step 3: +A+
    assert float(dw[1, 1]) == pytest.approx(-5e-5, rel=1e-6)  # both silent: -A_base
    assert abs(float(dw[1, 0])) < 1e-20  # post silent (t = T = 40), pre at 3: G = e^{-37^2/2} ~ 0
    assert float(dw[0, 2]) == pytest.approx(2e-4 * math.exp(-4 / 2), rel=1e-5)  # first spikes 3 and 5
    assert float(dw[1, 3]) == pytest.approx(-5e-5 * math.exp(-100 / 2), rel=1e-5)  # silent post vs pre at 30


def test_streaming_rule_sums_to_sequence_update():
    g = torch.Generator().manual_seed(0)
    pre = (torch.rand(25, 3, 6, generator=g) < 0.05).float()
    post = (torch.rand(25, 3, 4, generator=g) < 0.05).float()
    rule = SSDP(sigma=2.0)
    state, total = None, torch.zeros(4, 6)
    for a, b in zip(pre, post):
        dw, state = rule.step(a, b, state, torch.zeros(4, 6))
        total += dw
    torch.testing.assert_close(total, ssdp_update(pre, post, rule.params), rtol=1e-5, atol=1e-12)
    assert float(total.abs().sum()) > 0


def test_update_is_clipped():
    dw = ssdp_update(torch.ones(3, 1, 2), torch.ones(3, 1, 2), SSDPParams(a_plus=5.0))
    assert float(dw.max()) == 1.0


def test_refuses_bad_shapes():
    with pytest.raises(ValueError, match="same T, B"):
        ssdp_update(torch.ones(3, 1, 2), torch.ones(4, 1, 2))
