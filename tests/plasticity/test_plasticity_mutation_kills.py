"""Plasticity details that planted bugs (``make mutation``, ``MUTATION.md``) showed untested.
Expected values are computed by hand in the comments."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.plasticity import Tempotron, ThreeFactorParams, ThreeFactorState, tempotron_step, three_factor_step

F64 = torch.float64


@pytest.mark.parametrize("reward, baseline", [(0.5, 0.3), (0.0, 0.3), (0.5, -0.2)])
def test_three_factor_update_is_dopamine_minus_baseline(reward, baseline):
    """``dW = eta (d' - b) e' dt``. Pre and post spiking together from empty traces: x' = y' = 1, so
    the eligibility is ``a+ - a- = 0.1 - 0.15 = -0.05`` for every synapse, and ``d' = reward``."""
    pre, post = torch.ones(1, 3, dtype=F64), torch.ones(1, 2, dtype=F64)
    w = torch.zeros(2, 3, dtype=F64)
    s0 = ThreeFactorState(torch.zeros(1, 3, dtype=F64), torch.zeros(1, 2, dtype=F64), torch.zeros_like(w),
                          torch.zeros((), dtype=F64))
    p = ThreeFactorParams(baseline=baseline, eta=2.0)
    dw, s = three_factor_step(pre, post, s0, w, p, modulator=reward, dt=1e-3)
    want = 2.0 * (reward - baseline) * -0.05 * 1e-3
    assert torch.allclose(dw, torch.full_like(w, want), rtol=1e-12, atol=0)
    assert torch.allclose(s.e, torch.full_like(w, -0.05), rtol=1e-12, atol=0)
    assert float(s.d) == reward


def _psp_by_hand(spikes: list[float], tau: float, tau_s: float, dt: float) -> list[float]:
    """``V0 (a - b)`` with ``a' = e^{-dt/tau} a + s``, ``b' = e^{-dt/tau_s} b + s`` and the kernel's
    peak ``t* = tau tau_s ln(tau/tau_s) / (tau - tau_s)`` normalised to 1 (Guetig & Sompolinsky 2006)."""
    t_peak = tau * tau_s * math.log(tau / tau_s) / (tau - tau_s)
    v0 = 1.0 / (math.exp(-t_peak / tau) - math.exp(-t_peak / tau_s))
    da, db, a, b, out = math.exp(-dt / tau), math.exp(-dt / tau_s), 0.0, 0.0, []
    for s in spikes:
        a, b = da * a + s, db * b + s
        out.append(v0 * (a - b))
    return out


@pytest.mark.parametrize("target", [1.0, 0.0])
def test_tempotron_does_not_fire_when_the_maximum_equals_the_threshold(target):
    """The neuron fires iff ``V_max > V_th`` (strict). One afferent with weight 1 spiking at step 0,
    threshold set to exactly the largest PSP sample: a silent neuron, so a (+) trial is an error
    (``dW = lr psp(t_max)``) and a (-) trial is not (``dW = 0``)."""
    dt, lr, steps = 1e-3, 0.25, 30
    spikes = [1.0] + [0.0] * (steps - 1)
    psp = _psp_by_hand(spikes, 15e-3, 3.75e-3, dt)
    rule = Tempotron(v_th=max(psp), lr=lr, dt=dt)
    pre_seq = torch.tensor(spikes, dtype=F64).view(steps, 1, 1)  # [T, B=1, N_in=1]
    target_t = torch.full((1, 1), target, dtype=F64)
    w = torch.ones(1, 1, dtype=F64)
    state, total = rule.init_state(pre_seq[0], target_t, w), torch.zeros_like(w)
    for pre in pre_seq:
        dw, state = tempotron_step(pre, target_t, state, w, rule.params, dt=dt)
        total += dw
    assert float(state.v_max) == max(psp)  # the tie is exact
    want = lr * max(psp) if target == 1.0 else 0.0  # silent: an error only on the (+) trial
    assert float(total) == pytest.approx(want, rel=1e-12, abs=0)
