"""Tempotron: kernel constants, the streaming rule vs the trial update, capacity (reference §1.7, check 11)."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.plasticity import Tempotron, fit_tempotron, tempotron_kernel, tempotron_psp


def _patterns(P, N=100, T=500, seed=0):
    """One spike per afferent at a uniform random step, random labels (the paper's task)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(P, T, N, dtype=torch.float64)
    t = torch.randint(0, T, (P, N), generator=g)
    x[torch.arange(P)[:, None], t, torch.arange(N)[None, :]] = 1
    return x, torch.randint(0, 2, (P,), generator=g), g


def test_kernel_constants():
    t_peak, v0 = tempotron_kernel(15e-3, 3.75e-3)
    assert t_peak == pytest.approx(6.9315e-3, abs=1e-7)
    assert v0 == pytest.approx(2.11653, abs=1e-5)
    assert v0 * (math.exp(-t_peak / 15e-3) - math.exp(-t_peak / 3.75e-3)) == pytest.approx(1.0, rel=1e-12)


def test_psp_is_the_sampled_kernel():
    """One input spike at step 3: psp(t) = K((t - 3) dt) exactly, 0 before."""
    rule = Tempotron(dt=1e-3)
    x = torch.zeros(40, 1, 1, dtype=torch.float64)
    x[3] = 1
    psp = tempotron_psp(x, rule.params, rule.dt)[:, 0, 0]
    _, v0 = rule.kernel
    for t in range(40):
        k = 0.0 if t < 3 else v0 * (math.exp(-(t - 3) * 1e-3 / 15e-3) - math.exp(-(t - 3) * 1e-3 / 3.75e-3))
        assert float(psp[t]) == pytest.approx(k, abs=1e-12)


def test_streaming_rule_sums_to_the_trial_update():
    """Summing tempotron_step's dw over a trial = lambda * error * psp(t_max), computed by hand from the PSPs."""
    x, labels, g = _patterns(6, N=30, T=200, seed=3)
    rule = Tempotron(lr=0.1)
    w = torch.randn(1, 30, generator=g, dtype=torch.float64) * 0.3
    psp = tempotron_psp(x.transpose(0, 1), rule.params, rule.dt)  # [T, P, N]
    for k in range(6):
        state, total = None, torch.zeros_like(w)
        target = labels[k].double().reshape(1, 1)
        for s in x[k].unsqueeze(1):
            dw, state = rule.step(s, target, state, w)
            total += dw
        v = psp[:, k] @ w[0]
        t_max = int(torch.argmax(v))
        error = float(labels[k]) - float(v[t_max] > 1.0)
        torch.testing.assert_close(total, 0.1 * error * psp[t_max, k].unsqueeze(0), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("P", [50, 100])
def test_capacity_below_one_pattern_per_synapse_converges(P):
    """N = 100, alpha = P/N <= 1, lambda = 1e-3, mu = 0.99: zero training error within 100 epochs (the
    reference computed 13-15 epochs at P = 50 and 24-33 at P = 100; we measure 7-13 and 31-63 over
    seeds 0-2 with weights ~ N(0, 1e-6): the initialisation is not published)."""
    x, labels, g = _patterns(P, seed=0)
    w, history = fit_tempotron(x, labels, epochs=100, rule=Tempotron(lr=1e-3, momentum=0.99), generator=g)
    assert history[-1] == 0 and len(history) <= 100
    assert history[0] > P // 5  # the untrained neuron does not already solve it


def test_without_momentum_an_error_free_epoch_leaves_weights_that_classify_everything():
    """With mu = 0 an epoch without errors changes nothing, so the returned weights must classify every
    pattern when recomputed from scratch (an independent check of the error count)."""
    x, labels, g = _patterns(30, seed=1)
    w, history = fit_tempotron(x, labels, epochs=200, rule=Tempotron(lr=1e-2, momentum=0.0), generator=g)
    assert history[-1] == 0
    v = tempotron_psp(x.transpose(0, 1), Tempotron().params, 1e-3) @ w[0]  # [T, P]
    assert torch.equal((v.amax(0) > 1.0).long(), labels)


def test_fit_tempotron_refuses_bad_shapes():
    with pytest.raises(ValueError, match="P, T, N_in"):
        fit_tempotron(torch.zeros(3, 4), torch.zeros(3), epochs=1)
    with pytest.raises(ValueError, match="labels"):
        fit_tempotron(torch.zeros(3, 4, 5), torch.zeros(2), epochs=1)
    with pytest.raises(ValueError, match="tau > tau_s"):
        Tempotron(tau=1e-3, tau_s=2e-3)
