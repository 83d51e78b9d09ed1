"""Golden trajectories: analytic solutions and hand-computed sequences (float64)."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.neurons import (
    ALIF, IF, LI, LIF, PLIF, CubaLIF, Izhikevich, IzhikevichParams, IzhikevichState, LIFParams,
    LIFState, izhikevich_step, lif_step,
)

F64 = torch.float64


def _const(value: float, steps: int) -> torch.Tensor:
    return torch.full((steps, 1, 1), value, dtype=F64)  # [T, B=1, N=1]


def _trace(neuron, xs):
    """Membrane after each step (post-reset) and spikes, via step()."""
    state, vs, zs = None, [], []
    for x in xs:
        z, state = neuron.step(x, state)
        vs.append(state.v.item())
        zs.append(z.item())
    return vs, zs


def test_lif_hand_sequence_subtract_reset():
    # a = dt/tau = 0.1, x = 1, v_th = 0.25: computed by hand
    lif = LIF(tau_mem=10e-3, dt=1e-3, v_th=0.25, dtype=F64)
    vs, zs = _trace(lif, _const(1.0, 6))
    assert zs == [0, 0, 1, 0, 0, 1]
    assert vs == pytest.approx([0.1, 0.19, 0.021, 0.1189, 0.20701, 0.036309], abs=1e-12)


def test_lif_hand_sequence_value_reset():
    lif = LIF(tau_mem=10e-3, dt=1e-3, v_th=0.25, v_reset=-0.5, reset="value", dtype=F64)
    vs, zs = _trace(lif, _const(1.0, 4))
    # 0.1, 0.19, 0.271 -> spike -> -0.5, then 0.9 * -0.5 + 0.1 = -0.35
    assert zs == [0, 0, 1, 0]
    assert vs == pytest.approx([0.1, 0.19, -0.5, -0.35], abs=1e-12)


def test_lif_converges_to_exponential_solution():
    # tau v' = -v + r x with x constant: v(t) = r x (1 - exp(-t / tau)); Euler error O(dt)
    tau, dt, t_end, r, x = 10e-3, 1e-6, 20e-3, 2.0, 0.3
    lif = LIF(tau_mem=tau, r=r, dt=dt, v_th=1e9, dtype=F64)
    steps = round(t_end / dt)
    _, state = lif.run(_const(x, steps))
    exact = r * x * (1 - math.exp(-t_end / tau))
    assert state.v.item() == pytest.approx(exact, rel=1e-4)


def test_lif_leak_towards_v_leak():
    lif = LIF(tau_mem=5e-3, v_leak=-0.7, dt=1e-5, v_th=10.0, dtype=F64)
    state = LIFState(v=torch.zeros(1, 1, dtype=F64))
    _, state = lif.run(_const(0.0, 500), state)  # 5 ms = one tau
    assert state.v.item() == pytest.approx(-0.7 * (1 - math.exp(-1)), rel=1e-3)


def test_lif_from_decay_is_discrete_leaky():
    lif = LIF.from_decay(0.75, dt=1e-3, v_th=100.0, dtype=F64)
    vs, _ = _trace(lif, _const(1.0, 3))
    assert vs == pytest.approx([1.0, 1.75, 2.3125], abs=1e-12)


def test_if_strict_threshold():
    # x = 0.375 per step (dt * r = 1): 0.375, 0.75, 1.125* -> .125, .5, .875, 1.25* -> .25, .625, 1.0 (not > 1), 1.375*
    neuron = IF(dtype=F64)
    vs, zs = _trace(neuron, _const(0.375, 9))
    assert zs == [0, 0, 1, 0, 0, 1, 0, 0, 1]
    assert vs == pytest.approx([0.375, 0.75, 0.125, 0.5, 0.875, 0.25, 0.625, 1.0, 0.375], abs=1e-12)


def test_li_exponential_decay():
    li = LI(tau_mem=20e-3, dt=1e-3, dtype=F64)
    xs = torch.zeros(10, 1, 1, dtype=F64)
    _, state = li.run(xs, li.state_cls(v=torch.ones(1, 1, dtype=F64)))
    assert state.v.item() == pytest.approx(0.95**10, abs=1e-12)


def test_cuba_lif_hand_sequence():
    # a_s = 0.5, a_m = 0.25, x = 1: i = .5, .75, .875; v = .125, .28125, .4296875
    n = CubaLIF(tau_syn=2e-3, tau_mem=4e-3, dt=1e-3, v_th=10.0, dtype=F64)
    state, vs, is_ = None, [], []
    for x in _const(1.0, 3):
        _, state = n.step(x, state)
        vs.append(state.v.item())
        is_.append(state.i.item())
    assert is_ == pytest.approx([0.5, 0.75, 0.875], abs=1e-12)
    assert vs == pytest.approx([0.125, 0.28125, 0.4296875], abs=1e-12)


def _alif_reference(xs, reset, *, tau_mem, tau_adapt, adapt, r, v_leak, v_th, v_reset, dt):
    """Independent float64 recurrence of forward-Euler ALIF (Bellec et al. 2018), plain Python floats.

    Returns membranes (after reset), adaptation values, spikes, and the smallest distance of a
    pre-reset membrane to its threshold (so the test can check that no step is a near-tie)."""
    v, a, vs, as_, zs, margin = v_leak, 0.0, [], [], [], math.inf
    for x in xs:
        v = v + dt / tau_mem * (v_leak - v + r * x)  # tau_mem dv/dt = v_leak - v + r x
        theta = v_th + adapt * a  # threshold raised by adaptation *before* this step's spike
        z = 1.0 if v > theta else 0.0
        margin = min(margin, abs(v - theta))
        if z:
            v = {"subtract": v - theta, "zero": 0.0, "value": v_reset}[reset]
        a = a + dt / tau_adapt * (-a) + z  # tau_adapt da/dt = -a, plus one per spike
        vs.append(v)
        as_.append(a)
        zs.append(z)
    return vs, as_, zs, margin


@pytest.mark.parametrize("reset", ["subtract", "zero", "value"])
def test_alif_golden_with_leak_reset_and_adaptation(reset):
    # tau_mem = 4 dt (decay 0.75), tau_adapt = 5 dt (decay 0.8), r = 2, v_leak = 0.2: the leak,
    # the input gain, the reset and the adaptation all change the trajectory.
    p = dict(tau_mem=4e-3, tau_adapt=5e-3, adapt=0.5, r=2.0, v_leak=0.2, v_th=1.0, v_reset=-0.1)
    xs = [0.55 + 0.35 * math.sin(0.7 * t) for t in range(40)]
    vs_ref, a_ref, zs_ref, margin = _alif_reference(xs, reset, dt=1e-3, **p)
    assert margin > 1e-6 and 5 <= sum(zs_ref) <= 35  # no near-ties; both spikes and silences
    # first step by hand: v = 0.2 + 0.25 (0.2 - 0.2 + 2 * 0.55) = 0.475, no spike, a = 0
    assert (vs_ref[0], a_ref[0], zs_ref[0]) == (pytest.approx(0.475, abs=1e-15), 0.0, 0.0)

    n = ALIF(dt=1e-3, reset=reset, dtype=F64, **p)
    state, vs, a, zs = None, [], [], []
    for x in torch.tensor(xs, dtype=F64).view(-1, 1, 1):  # [T, B=1, N=1]
        z, state = n.step(x, state)
        vs.append(state.v.item())
        a.append(state.a.item())
        zs.append(z.item())
    assert zs == zs_ref
    assert vs == pytest.approx(vs_ref, abs=1e-12)
    assert a == pytest.approx(a_ref, abs=1e-12)
    zs_run, final = n.run(torch.tensor(xs, dtype=F64).view(-1, 1, 1))  # the module's sequence path
    assert zs_run.flatten().tolist() == zs_ref
    assert final.v.item() == pytest.approx(vs_ref[-1], abs=1e-12)


def test_plif_equals_lif_and_learns_tau():
    xs = torch.rand(20, 3, 4, dtype=F64) * 3
    lif = LIF(tau_mem=4e-3, dtype=F64)
    plif = PLIF(tau_mem=4e-3, dtype=F64)
    torch.testing.assert_close(plif.tau_mem, torch.tensor(4e-3, dtype=F64))
    torch.testing.assert_close(plif(xs), lif(xs))
    plif(xs.requires_grad_()).sum().backward()
    assert plif.w.grad is not None and plif.w.grad.abs() > 0


def _izhikevich_reference(a, b, c, d, current, h, steps):
    """Izhikevich (2003) equations, forward Euler in ms, plain Python floats."""
    v, u, spikes = c, b * c, []
    for _ in range(steps):
        v, u = v + h * (0.04 * v * v + 5 * v + 140 - u + current), u + h * (a * (b * v - u))
        if v > 30.0:
            spikes.append(1)
            v, u = c, u + d
        else:
            spikes.append(0)
    return spikes, v, u


@pytest.mark.parametrize("preset", ["regular_spiking", "fast_spiking", "chattering"])
def test_izhikevich_matches_float_reference(preset):
    n = Izhikevich.preset(preset, dt=0.5e-3, dtype=F64)
    p = n.params()
    steps = 400
    zs, state = n.run(_const(10.0, steps))
    ref, v, u = _izhikevich_reference(p.a.item(), p.b.item(), p.c.item(), p.d.item(), 10.0, 0.5, steps)
    assert zs.flatten().tolist() == ref
    assert state.v.item() == pytest.approx(v, abs=1e-9) and state.u.item() == pytest.approx(u, abs=1e-9)
    assert sum(ref) > 2  # tonic firing


def test_izhikevich_fast_spiking_fires_more_than_regular():
    xs = _const(10.0, 1000)
    rs = Izhikevich.preset("regular_spiking", dt=0.5e-3)(xs.float()).sum()
    fs = Izhikevich.preset("fast_spiking", dt=0.5e-3)(xs.float()).sum()
    assert fs > rs


def test_lif_step_pure_function():
    x = torch.tensor([[2.0]])
    params = LIFParams(tau_mem=torch.tensor(1e-3), v_th=torch.tensor(1.0))
    z, s = lif_step(x, LIFState(torch.zeros(1, 1)), params, dt=1e-3)
    assert z.item() == 1.0 and s.v.item() == pytest.approx(1.0)


def test_izhikevich_step_pure_function():
    s0 = IzhikevichState(torch.tensor([-65.0]), torch.tensor([-13.0]))
    p = IzhikevichParams(*(torch.tensor(float(v)) for v in IzhikevichParams()))
    z, s = izhikevich_step(torch.tensor([0.0]), s0, p, dt=1e-3)
    # at rest v=-65,u=-13: dv = 0.04*4225 - 325 + 140 + 13 = -3 ; du = 0.02*(0.2*-65 + 13) = 0
    assert s.v.item() == pytest.approx(-68.0) and s.u.item() == pytest.approx(-13.0) and z.item() == 0
