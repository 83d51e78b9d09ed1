"""Pair and triplet STDP against closed forms (reference §4 checks 1-5), in float64."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.plasticity import STDP, TRIPLET_SETS, TripletState, TripletSTDP, triplet_stdp_step

DT = 1e-3


def _run(rule, pre_steps, post_steps, T, w0=0.5, n_in=1, n_out=1):
    """Total dw of one synapse for spikes at the given steps (weights held fixed)."""
    w = torch.full((n_out, n_in), w0, dtype=torch.float64)
    state, total = None, torch.zeros_like(w)
    for t in range(T):
        pre = torch.full((1, n_in), float(t in pre_steps), dtype=torch.float64)
        post = torch.full((1, n_out), float(t in post_steps), dtype=torch.float64)
        dw, state = rule.step(pre, post, state, w)
        total += dw
    return float(total[0, 0])


@pytest.mark.parametrize("k", [1, 3, 17])
def test_pair_exact_traces(k):
    rule = STDP(tau_pre=20e-3, tau_post=30e-3, eta_plus=0.01, eta_minus=0.02, dt=DT)
    assert _run(rule, {0}, {k}, k + 2) == pytest.approx(0.01 * math.exp(-k * DT / 20e-3), rel=1e-9)
    assert _run(rule, {k}, {0}, k + 2) == pytest.approx(-0.02 * math.exp(-k * DT / 30e-3), rel=1e-9)


def test_pair_euler_traces():
    rule = STDP(tau_pre=20e-3, tau_post=30e-3, eta_plus=0.01, eta_minus=0.02, dt=DT, trace_integrator="euler")
    assert _run(rule, {0}, {5}, 7) == pytest.approx(0.01 * (1 - DT / 20e-3) ** 5, rel=1e-9)
    assert _run(rule, {5}, {0}, 7) == pytest.approx(-0.02 * (1 - DT / 30e-3) ** 5, rel=1e-9)


def test_same_step_convention():
    """Pre and post in the same step: +eta+ A+ - eta- A- (documented, SpikingJelly-like)."""
    rule = STDP(eta_plus=0.01, eta_minus=0.03)
    assert _run(rule, {2}, {2}, 3) == pytest.approx(0.01 - 0.03, rel=1e-12)


def test_nearest_vs_all_to_all():
    """Two pre spikes before one post: all-to-all sums both pairings, nearest only the later one."""
    a2a = STDP(eta_plus=1.0, eta_minus=0.0)
    near = STDP(eta_plus=1.0, eta_minus=0.0, traces="nearest")
    d = lambda k: math.exp(-k * DT / 20e-3)  # noqa: E731
    assert _run(a2a, {0, 2}, {5}, 6) == pytest.approx(d(5) + d(3), rel=1e-9)
    assert _run(near, {0, 2}, {5}, 6) == pytest.approx(d(3), rel=1e-9)


def test_soft_bound_geometric_approach():
    """Soft bounds, unit trace at each event: w_n = w_max - (w_max - w_0)(1 - eta)^n, never above w_max."""
    eta, w_max, w0 = 0.1, 1.0, 0.2
    rule = STDP(eta_plus=eta, eta_minus=0.0, w_max=w_max, weight_dependence="soft", traces="nearest")
    w = torch.full((1, 1), w0, dtype=torch.float64)
    state = None
    one = torch.ones(1, 1, dtype=torch.float64)
    for n in range(1, 60):
        dw, state = rule.step(one, one, state, w)
        w = w + dw
        assert float(w) == pytest.approx(w_max - (w_max - w0) * (1 - eta) ** n, rel=1e-12)
        assert float(w) <= w_max


def test_weight_dependences_values():
    w = torch.tensor([[0.25, 0.75]], dtype=torch.float64)
    pre = torch.ones(1, 2, dtype=torch.float64)
    post = torch.ones(1, 1, dtype=torch.float64)
    for name, (ap, am) in {
        "additive": ([1, 1], [1, 1]),
        "soft": ([0.75, 0.25], [0.25, 0.75]),
        "power": ([0.75 ** 0.5, 0.25 ** 0.5], [0.25 ** 0.5, 0.75 ** 0.5]),
        "proportional": ([0.25, 0.75], [0.25, 0.75]),
    }.items():
        rule = STDP(eta_plus=1.0, eta_minus=2.0, weight_dependence=name, mu=0.5, traces="nearest")
        dw, _ = rule.step(pre, post, None, w)  # same step: ltp = ltd = 1
        expect = torch.tensor([ap], dtype=torch.float64) - 2.0 * torch.tensor([am], dtype=torch.float64)
        torch.testing.assert_close(dw, expect, rtol=1e-12, atol=0)
    step = STDP(weight_dependence="additive_step", w_min=0.25, w_max=0.75, eta_plus=1.0, eta_minus=1.0,
                traces="nearest")
    dw, _ = step.step(pre, post, None, w)  # first weight at w_min (no LTD), second at w_max (no LTP)
    torch.testing.assert_close(dw, torch.tensor([[1.0, -1.0]], dtype=torch.float64))


# --- triplet -------------------------------------------------------------------------------------------
def test_triplet_isolated_pair_is_nearly_pure_pair_ltp():
    """Visual set: pre at 0, post at 10 ms -> dw = A2+ e^{-10/16.8} ~ 2.8e-10 (pair LTP ~ 0)."""
    rule = TripletSTDP(preset="visual_all_to_all")
    dw = _run(rule, {0}, {10}, 12)
    assert dw == pytest.approx(5e-10 * math.exp(-10 / 16.8), rel=1e-9)
    assert dw == pytest.approx(2.8e-10, rel=0.02)  # the reference's rounded value


def test_triplet_pre_post_post():
    """Second post after delta adds e^{-(dt+delta)/tau+} (A2+ + A3+ e^{-delta/tau_y})."""
    p = TRIPLET_SETS["visual_all_to_all"]
    rule = TripletSTDP(preset="visual_all_to_all")
    d1, delta = 10, 7
    dw = _run(rule, {0}, {d1, d1 + delta}, d1 + delta + 2)
    first = p.a2_plus * math.exp(-d1 * DT / p.tau_plus)
    second = math.exp(-(d1 + delta) * DT / p.tau_plus) * (p.a2_plus + p.a3_plus * math.exp(-delta * DT / p.tau_y))
    assert dw == pytest.approx(first + second, rel=1e-9)


def test_triplet_post_pre_pre_depression():
    """post at 0, pre at 5 and 5 + delta: -(A2- e^{-5/tau-}) - e^{-(5+delta)/tau-}(A2- + A3- e^{-delta/tau_x})."""
    p = TRIPLET_SETS["visual_all_to_all"]
    rule = TripletSTDP(preset="visual_all_to_all")
    dw = _run(rule, {5, 9}, {0}, 11)
    expect = -p.a2_minus * math.exp(-5 * DT / p.tau_minus) - math.exp(-9 * DT / p.tau_minus) * (
        p.a2_minus + p.a3_minus * math.exp(-4 * DT / p.tau_x))
    assert dw == pytest.approx(expect, rel=1e-9)


def _mean_field(rho: float) -> float:
    p = TRIPLET_SETS["visual_all_to_all"]
    return rho ** 2 * (p.a2_plus * p.tau_plus - p.a2_minus * p.tau_minus) + rho ** 3 * (
        p.a3_plus * p.tau_plus * p.tau_y - p.a3_minus * p.tau_minus * p.tau_x)


def test_triplet_mean_field_crossover_is_19_28_hz():
    """The reference's oracle (computed independently there): sign change at 19.28 Hz, -0.01135/s at 10 Hz."""
    assert _mean_field(10.0) == pytest.approx(-0.01135, abs=5e-5)
    assert _mean_field(40.0) == pytest.approx(0.406, abs=5e-3)
    lo, hi = 10.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _mean_field(mid) < 0 else (lo, mid)
    assert lo == pytest.approx(19.28, abs=0.01)


def _discrete_mean_field(rho: float, dt: float) -> float:
    """Expected drift per second of the discrete rule for independent Bernoulli(rho dt) pre/post spikes.

    Derived from the rule's definition: fast traces are read after this step's spike (mean
    q / (1 - d)), slow traces before it (mean q d / (1 - d)), with q = rho dt and d = e^{-dt/tau};
    the same-step pairs it counts make it differ from the continuous mean field by O(dt / tau).
    """
    p = TRIPLET_SETS["visual_all_to_all"]
    q = rho * dt
    d = {k: math.exp(-dt / getattr(p, k)) for k in ("tau_plus", "tau_minus", "tau_x", "tau_y")}
    r1, o1 = q / (1 - d["tau_plus"]), q / (1 - d["tau_minus"])
    r2m, o2m = q * d["tau_x"] / (1 - d["tau_x"]), q * d["tau_y"] / (1 - d["tau_y"])
    ltp = q * (p.a2_plus + p.a3_plus * o2m) * r1
    ltd = o1 * q * (p.a2_minus + p.a3_minus * r2m)
    return (ltp - ltd) / dt


@pytest.mark.parametrize("rho", [10.0, 40.0])
def test_discrete_expectation_tends_to_continuous_mean_field(rho):
    assert _discrete_mean_field(rho, 1e-6) == pytest.approx(_mean_field(rho), rel=2e-3)


@pytest.mark.parametrize("rho", [10.0, 40.0])
def test_triplet_poisson_monte_carlo_matches_expectation(rho):
    """Independent Poisson pre/post at rate rho, 8000 synapses x 2 s: simulated drift within 2.5 % of the
    expectation, which itself is within a few % of the reference's continuous oracle at dt = 1 ms.

    Traces start at their stationary mean so no warm-up transient biases the short run (the rule is
    linear in each trace and pre/post are independent, so means suffice).
    """
    g = torch.Generator().manual_seed(7)
    n, steps = 8000, 2000
    p = TRIPLET_SETS["visual_all_to_all"]
    w = torch.zeros(1, 1, dtype=torch.float64)
    q = rho * DT
    d = [math.exp(-DT / tau) for tau in (p.tau_plus, p.tau_x, p.tau_minus, p.tau_y)]
    state = TripletState(*(torch.full((n, 1), q * dk / (1 - dk), dtype=torch.float64) for dk in d))
    total = torch.zeros(1, 1, dtype=torch.float64)
    chunk = 500
    for _ in range(steps // chunk):  # each batch entry is one independent pre/post pair
        spikes = (torch.rand(chunk, 2, n, 1, generator=g, dtype=torch.float64) < q).double()
        for pre, post in spikes:
            dw, state = triplet_stdp_step(pre, post, state, w, p, dt=DT)
            total += dw
    rate = float(total) / n / (steps * DT)
    assert rate == pytest.approx(_discrete_mean_field(rho, DT), rel=0.025)
    assert rate == pytest.approx(_mean_field(rho), rel=0.08)
