"""Integrators of the leaky neurons: exact exponential integration, Euler's stability check, and
learnable time constants kept stable during training (``spikeforge/neurons/_dynamics.py``)."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.neurons import ALIF, IF, LI, LIF, PLIF, CubaLI, CubaLIF, Izhikevich

F64 = torch.float64


def _const(value: float, steps: int, n: int = 1) -> torch.Tensor:
    return torch.full((steps, 1, n), value, dtype=F64)  # [T, B=1, N]


def _trace(neuron, xs: torch.Tensor, state=None) -> list:  # type: ignore[no-untyped-def]
    """The state after every step (``step()`` loop)."""
    out = []
    for x in xs:
        _, state = neuron.step(x, state)
        out.append(state)
    return out


# --- exact exponential integration: the closed-form solution at every step --------------------------
@pytest.mark.parametrize("dt_over_tau", [0.01, 1.0, 3.0, 40.0])
def test_exp_lif_matches_closed_form_for_constant_input(dt_over_tau):
    tau, r, v_leak, x, v0 = 2e-3, 1.7, -0.3, 0.8, 0.45
    dt = dt_over_tau * tau
    lif = LIF(tau_mem=tau, r=r, v_leak=v_leak, dt=dt, v_th=1e9, integrator="exp", dtype=F64)
    steps = 30
    states = _trace(lif, _const(x, steps), lif.state_cls(v=torch.full((1, 1), v0, dtype=F64)))
    v_inf = v_leak + r * x
    for k, s in enumerate(states, start=1):
        exact = v_inf + (v0 - v_inf) * math.exp(-k * dt / tau)
        assert s.v.item() == pytest.approx(exact, rel=1e-13, abs=1e-14), k


def test_exp_li_and_cuba_current_match_closed_form():
    dt, tau_m, tau_s, w_in, x = 1e-3, 4e-4, 2.5e-4, 0.6, 1.3
    li = LI(tau_mem=tau_m, r=2.0, dt=dt, integrator="exp", dtype=F64)
    for k, s in enumerate(_trace(li, _const(x, 20)), start=1):
        assert s.v.item() == pytest.approx(2.0 * x * (1 - math.exp(-k * dt / tau_m)), rel=1e-13)
    for cls in (CubaLIF, CubaLI):
        kw = {"v_th": 1e9} if cls is CubaLIF else {}
        n = cls(tau_syn=tau_s, tau_mem=tau_m, w_in=w_in, dt=dt, integrator="exp", dtype=F64, **kw)
        for k, s in enumerate(_trace(n, _const(x, 20)), start=1):
            assert s.i.item() == pytest.approx(w_in * x * (1 - math.exp(-k * dt / tau_s)), rel=1e-13)


def test_exp_cuba_membrane_is_exact_for_the_held_current():
    """The membrane integrates the (updated) current held over the step exactly: for a constant
    current the closed-form approach to ``r i``."""
    dt, tau_m = 2e-3, 5e-4
    n = CubaLIF(tau_syn=1e-3, tau_mem=tau_m, r=1.5, dt=dt, v_th=1e9, integrator="exp", dtype=F64)
    state = n.state_cls(i=torch.full((1, 1), 0.7, dtype=F64), v=torch.zeros(1, 1, dtype=F64))
    _, s = n.step(torch.zeros(1, 1, dtype=F64), state)
    i1 = 0.7 * math.exp(-dt / 1e-3)
    assert s.v.item() == pytest.approx(1.5 * i1 * (1 - math.exp(-dt / tau_m)), rel=1e-13)


def test_exp_alif_adaptation_decays_exactly():
    dt, tau_a = 1e-3, 3e-4  # dt > tau_adapt: only the exponential integrator accepts it
    n = ALIF(tau_mem=5e-4, tau_adapt=tau_a, dt=dt, integrator="exp", dtype=F64)
    state = n.state_cls(v=torch.zeros(1, 1, dtype=F64), a=torch.ones(1, 1, dtype=F64))
    for k, s in enumerate(_trace(n, _const(0.0, 5), state), start=1):
        assert s.a.item() == pytest.approx(math.exp(-k * dt / tau_a), rel=1e-13)


@pytest.mark.parametrize("cls", [LIF, LI, CubaLIF, CubaLI, ALIF, PLIF])
@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_exp_never_blows_up_for_dt_much_larger_than_tau(cls, backend):
    """dt = 1000 tau: every state stays a convex mix of its resting value and the drive."""
    kw: dict = {"tau_mem": 1e-6}
    if cls in (CubaLIF, CubaLI):
        kw["tau_syn"] = 1e-6
    if cls is ALIF:
        kw["tau_adapt"] = 1e-6
    if cls is PLIF:
        kw = {"tau_mem": 2e-3}  # PLIF keeps tau >= dt by construction (sigmoid)
    if cls in (LIF, PLIF, CubaLIF, ALIF):
        kw["reset"] = "none"
    neuron = cls(dt=1e-3, integrator="exp", backend=backend, **kw)
    xs = torch.rand(300, 2, 4) * 4 - 2  # [-2, 2)
    _, state = neuron.run(xs)
    for s in state:
        assert torch.isfinite(s).all() and s.abs().max() <= 2.0


def test_euler_blows_up_where_exp_does_not_the_reported_case():
    """The issue's case: LI(tau_mem=1e-4, dt=1e-3) reached inf with Euler; now Euler refuses it and
    exp gives the bounded exact answer."""
    xs = torch.rand(200, 2, 4)
    with pytest.raises(ValueError, match="forward Euler is unstable"):
        LI(tau_mem=1e-4, dt=1e-3)
    v = LI(tau_mem=1e-4, dt=1e-3, integrator="exp")(xs)
    assert torch.isfinite(v).all() and v.max() <= 1.0
    torch.testing.assert_close(v[-1], xs[-1] * (1 - math.exp(-10)) + v[-2] * math.exp(-10))


# --- forward Euler refuses dt > tau -------------------------------------------------------------------
@pytest.mark.parametrize("cls, field", [(LIF, "tau_mem"), (LI, "tau_mem"), (CubaLIF, "tau_syn"),
                                        (CubaLIF, "tau_mem"), (CubaLI, "tau_syn"), (ALIF, "tau_adapt")])
def test_euler_refuses_dt_larger_than_tau_naming_both(cls, field):
    with pytest.raises(ValueError) as info:
        cls(dt=1e-3, **{field: 4e-4})
    msg = str(info.value)
    assert "forward Euler" in msg and "dt = 0.001 s" in msg and f"{field} = 0.0004 s" in msg
    assert "integrator='exp'" in msg and "smaller dt (<= 0.0004 s)" in msg
    cls(dt=1e-3, integrator="exp", **{field: 4e-4})  # accepted by the exact integrator


def test_euler_accepts_dt_equal_tau_and_names_per_neuron_minimum():
    lif = LIF(tau_mem=1e-3, dt=1e-3)
    assert lif.decay.item() == 0.0
    with pytest.raises(ValueError, match=r"tau_mem = tensor\(3,\)\[0.0005\.\.0\.002\] s"):
        LIF(tau_mem=torch.tensor([2e-3, 5e-4, 1e-3]), dt=1e-3)


def test_unknown_or_unsupported_integrator():
    with pytest.raises(ValueError, match=r"integrator must be one of \['euler', 'exp', 'decay'\], got 'rk4'"):
        LIF(integrator="rk4")
    with pytest.raises(ValueError, match=r"Izhikevich: integrator must be one of \['euler'\]"):
        Izhikevich(integrator="exp")
    with pytest.raises(ValueError, match=r"PLIF: integrator must be one of \['euler', 'exp'\]"):
        PLIF(integrator="decay")
    # IF and Integrator have no time constant: "exp" is the same (exact) update as Euler
    xs = torch.rand(5, 2, 3)
    assert torch.equal(IF(integrator="exp")(xs), IF()(xs))


# --- learnable time constants stay in the stable range -----------------------------------------------
def _push_tau_down(neuron, name: str, lr: float, steps: int = 3) -> list[float]:  # type: ignore[no-untyped-def]
    """Aggressive SGD steps on a loss that wants a shorter time constant; returns the raw minimum
    of the parameter right after each optimiser step (before the next run projects it)."""
    opt = torch.optim.SGD(neuron.parameters(), lr=lr)
    xs = torch.ones(3, 4, 6)  # from rest, v_3 = 1 - decay^3 rises as tau shrinks
    raw = []
    for _ in range(steps):
        opt.zero_grad()
        (-neuron.run(xs)[1][-1].sum()).backward()
        opt.step()
        raw.append(getattr(neuron, name).detach().min().item())
    return raw


@pytest.mark.parametrize("backend", ["torch", "auto"])
@pytest.mark.parametrize("integrator, lo", [("euler", 1e-3), ("exp", 1e-4)])
def test_learnable_tau_is_projected_into_the_stable_range(integrator, lo, backend):
    lif = LIF(tau_mem=2e-3, dt=1e-3, learn=("tau_mem",), size=6, reset="none", integrator=integrator,
              backend=backend)
    raw = _push_tau_down(lif, "tau_mem", lr=10.0)
    assert min(raw) < 0  # the optimiser really drove tau negative (unstable for any integrator)
    xs = torch.rand(300, 4, 6) * 2
    _, state = lif.run(xs)
    assert lif.tau_mem.min().item() == pytest.approx(lo, rel=1e-6)  # projected, in place
    assert torch.isfinite(state.v).all() and state.v.abs().max() <= 2.0 * 1.0001


def test_learnable_decay_is_projected_into_0_1():
    lif = LIF.from_decay(0.5, learn=("beta",), size=6, reset="none")
    opt = torch.optim.SGD(lif.parameters(), lr=10.0)
    xs = torch.rand(40, 4, 6)
    opt.zero_grad()
    (-lif.run(xs)[1].v.sum()).backward()  # wants more memory: beta up
    opt.step()
    assert lif.beta.max().item() > 1.0
    _, state = lif.run(torch.rand(300, 4, 6))
    assert lif.beta.max().item() == 1.0 and torch.isfinite(state.v).all()


def test_learnable_tau_of_other_neurons_projected():
    n = CubaLIF(tau_syn=3e-3, tau_mem=3e-3, learn=("tau_syn", "tau_mem"), size=6, dt=1e-3, reset="none")
    with torch.no_grad():
        n.tau_syn.fill_(-1.0)
        n.tau_mem.fill_(1e-5)
    _, state = n.run(torch.rand(50, 2, 6))
    assert n.tau_syn.min().item() == n.tau_mem.min().item() == pytest.approx(1e-3)
    assert all(torch.isfinite(s).all() for s in state)


def test_buffers_are_not_touched_and_learnable_exp_floor_checked_at_construction():
    lif = LIF(tau_mem=2e-3, dt=1e-3)
    before = lif.tau_mem.clone()
    lif(torch.rand(3, 2, 1))
    assert torch.equal(lif.tau_mem, before)
    LIF(tau_mem=1e-4, dt=1e-3, integrator="exp")  # fixed: any tau > 0
    with pytest.raises(ValueError, match="learnable tau_mem must be >= 0.0001 s"):
        LIF(tau_mem=1e-5, dt=1e-3, integrator="exp", learn=("tau_mem",))


def test_exp_gradients_match_finite_differences():
    lif = LIF(tau_mem=5e-4, dt=1e-3, integrator="exp", reset="none", learn=("tau_mem", "r"), dtype=F64)
    xs = torch.rand(20, 2, 3, dtype=F64)

    def f(tau: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            lif.tau_mem.copy_(tau)
            lif.r.copy_(r)
        return lif.run(xs)[1].v.sum()

    lif.run(xs)[1].v.sum().backward()
    g_tau, g_r = lif.tau_mem.grad.item(), lif.r.grad.item()
    t0, r0 = lif.tau_mem.detach().clone(), lif.r.detach().clone()
    eps = 1e-9
    fd_tau = (f(t0 + eps, r0) - f(t0 - eps, r0)).item() / (2 * eps)
    fd_r = (f(t0, r0 + 1e-6) - f(t0, r0 - 1e-6)).item() / 2e-6
    assert g_tau == pytest.approx(fd_tau, rel=1e-5) and g_r == pytest.approx(fd_r, rel=1e-7)
