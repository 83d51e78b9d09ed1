"""The event-driven simulator against an independent dense float64 loop.

The reference below steps every neuron and multiplies the full masked weight matrix each step (per
delay), and learns with the dense :func:`spikeforge.plasticity.stdp_step` masked to the existing
synapses. The sparse simulator must give the same spikes and (to rounding) the same membranes and
weights.
"""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.plasticity import STDP, stdp_step
from spikeforge.sim import EventNetwork, event_step, fixed_indegree, init_state

F64 = torch.float64


def dense_run(net: EventNetwork, W, cur, v0, steps, *, rule=None, bounds=None):
    """Dense reference: spikes [T, B, N], final v [B, N], final W [N, N]."""
    g = net.graph
    mask = g.mask().to(F64)
    delays = g.to_dense(g.delay.to(F64))  # [N, N] delay of each synapse (0 where none)
    tau, r, v_leak = net.tau_mem.item(), net.r.to(F64), net.v_leak.item()
    v_th, v_reset, dt = net.v_th.item(), net.v_reset.item(), net.dt
    if net.integrator == "euler":
        c1, a = 1 - dt / tau, dt / tau
    else:
        c1, a = math.exp(-dt / tau), -math.expm1(-dt / tau)
    reset = net.reset_fn.__name__
    B, N = v0.shape
    pending = torch.zeros(steps + int(delays.max()) + 1, B, N, dtype=F64)
    v, ref, W = v0.clone(), torch.zeros(B, N, dtype=torch.long), W.clone()
    s = None if rule is None else rule.init_state(torch.zeros(B, N, dtype=F64), torch.zeros(B, N, dtype=F64), W)
    out = []
    for t in range(steps):
        drive = cur + pending[t]
        v_new = c1 * v + a * r * drive + a * v_leak
        active = ref == 0
        v_new = torch.where(active, v_new, v)
        z = active & (v_new > v_th)
        if reset == "reset_to_value":
            v = torch.where(z, torch.full_like(v_new, v_reset), v_new)
        elif reset == "reset_subtract":
            v = torch.where(z, v_new - v_th, v_new)
        else:
            raise AssertionError(reset)
        ref = torch.where(z, max(net.n_ref - 1, 0), (ref - 1).clamp_min(0))
        zf = z.to(F64)
        for d in delays.unique().tolist():
            if d > 0:
                pending[t + int(d)] += zf @ (W * (delays == d)).T  # [B, N] @ [N_in, N_out]
        if rule is not None:
            dw, s = stdp_step(zf, zf, s, W, rule.params, **rule.step_kwargs())
            W_new = W + dw * mask
            if bounds is not None:
                W_new = W_new.clamp(*bounds)
            W = torch.where(mask > 0, W_new, W)
        out.append(z)
    return torch.stack(out), v, W


def _network(seed=0, n=40, k=8, max_delay=3, **kwargs):
    gen = torch.Generator().manual_seed(seed)
    g = fixed_indegree(n, k, generator=gen, dtype=F64)
    w = (torch.rand(g.n_synapses, generator=gen, dtype=F64) - 0.3) * 8.0
    g = g.with_weights(w).with_delays(torch.randint(1, max_delay + 1, (g.n_synapses,), generator=gen))
    cur = 0.6 + 0.8 * torch.rand(2, n, generator=gen, dtype=F64)  # [B=2, N]: some neurons above rheobase 1
    v0 = torch.rand(2, n, generator=gen, dtype=F64)
    return g, cur, v0, EventNetwork(g, dt=1e-4, **kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(integrator="euler", reset="value", v_reset=0.1, t_ref=2e-3),
    dict(integrator="exp", reset="subtract", tau_mem=5e-3),
    dict(integrator="euler", reset="value", r=torch.linspace(0.8, 1.2, 40, dtype=F64), t_ref=1e-4),
])
def test_spikes_match_dense_reference(kwargs):
    g, cur, v0, net = _network(**kwargs)
    steps = 600
    events, state = net.run(cur.expand(steps, 2, 40).contiguous(), net.init_state(2, v0=v0, dtype=F64))
    ref_z, ref_v, _ = dense_run(net, g.to_dense(), cur, v0, steps)
    assert torch.equal(events.to_raster(steps, 2, 40, torch.bool), ref_z)
    assert (state.v - ref_v).abs().max() <= 1e-12
    # non-trivial: recurrent input matters (neurons below rheobase fire) and both batch entries differ
    below = (cur * net.r.to(F64) <= 1.0)
    assert ref_z.any(0)[below].any()
    assert not torch.equal(ref_z[:, 0], ref_z[:, 1])


def test_state_is_not_modified_and_runs_compose():
    g, cur, v0, net = _network(seed=1)
    s0 = net.init_state(2, v0=v0, dtype=F64)
    snap = [t.clone() for t in s0[:6]]
    ev_all, s_all = net.run(cur, s0, steps=300)
    ev_a, s_a = net.run(cur, s0, steps=120)
    ev_b, s_b = net.run(cur, s_a, steps=180)
    for before, after in zip(snap, s0[:6]):
        assert torch.equal(before, after)  # the input state is untouched
    assert torch.equal(torch.cat([ev_a.t, ev_b.t + 120]), ev_all.t)
    assert torch.equal(torch.cat([ev_a.i, ev_b.i]), ev_all.i)
    assert torch.equal(s_b.v, s_all.v) and s_b.t == 300
    z, s1 = event_step(cur, s0, net.graph, net.sim_params(F64))  # pure step
    assert s1.t == 1 and torch.equal(s0.buf, snap[2])


def test_synapses_of_silent_neurons_are_never_read():
    """Event-driven: weights of neurons that do not spike are not touched (a dense product would
    turn their NaN into NaN inputs everywhere)."""
    g, cur, v0, net = _network(seed=2)
    steps = 300
    events, _ = net.run(cur, net.init_state(2, v0=v0, dtype=F64), steps=steps)
    silent = torch.ones(40, dtype=torch.bool)
    silent[events.i] = False
    assert silent.any() and not silent.all()
    pre = g.pre_index()
    state = net.init_state(2, v0=v0, dtype=F64)
    state = state._replace(w=torch.where(silent[pre], torch.nan, state.w))
    events2, state2 = net.run(cur, state, steps=steps)
    assert torch.equal(events2.t, events.t) and torch.equal(events2.i, events.i)
    assert bool(torch.isfinite(state2.v).all())


STDP_CASES = [
    dict(rule=dict(weight_dependence="additive", eta_plus=0.05, eta_minus=0.06), bounds=(-2.45, 5.65)),
    dict(rule=dict(weight_dependence="soft", eta_plus=0.05, eta_minus=0.05, w_min=-2.0, w_max=4.0), bounds=None),
    dict(rule=dict(traces="nearest", trace_integrator="euler", eta_plus=0.04, eta_minus=0.05, reduce="mean",
                   tau_pre=5e-3, tau_post=8e-3), bounds=None),
]


@pytest.mark.parametrize("case", STDP_CASES)
def test_sparse_stdp_equals_dense_masked_stdp(case):
    g0, cur, v0, _ = _network(seed=3)
    rule = STDP(dt=1e-4, **case["rule"])
    net = EventNetwork(g0, dt=1e-4, v_reset=0.1, t_ref=1e-3, stdp=rule, w_bounds=case["bounds"])
    steps = 600
    events, state = net.run(cur, net.init_state(2, v0=v0, dtype=F64), steps=steps)
    ref_z, ref_v, ref_W = dense_run(net, g0.to_dense(), cur, v0, steps, rule=rule, bounds=case["bounds"])
    assert torch.equal(events.to_raster(steps, 2, 40, torch.bool), ref_z)
    got_W = g0.to_dense(state.w)
    assert (got_W - ref_W).abs().max() <= 1e-12  # (torch.testing would import torch.distributed: 5 s)
    change = (got_W - g0.to_dense()).abs()
    assert change.max() > 0.05  # learning did happen
    assert change[g0.mask() == 0].max() == 0  # and only on synapses
    if case["bounds"] is not None:
        assert bool(((state.w == case["bounds"][0]) | (state.w == case["bounds"][1])).any())  # clipping acted
    assert (ref_z[:, :, :, None] & ref_z[:, :, None, :]).any()  # same-step pre+post pairs were exercised


def test_same_step_pair_gives_plus_a_plus_minus_a_minus():
    """Two neurons 0 -> 1 spiking in the same step: dw = eta+ a_pre - eta- a_post (SpikingJelly's convention)."""
    from spikeforge.sim import from_edges
    g = from_edges(torch.tensor([0]), torch.tensor([1]), 2, w=torch.tensor([0.0], dtype=F64))
    rule = STDP(dt=1e-4, eta_plus=0.3, eta_minus=0.1, a_pre=1.0, a_post=2.0)
    net = EventNetwork(g, dt=1e-4, stdp=rule)
    _, state = net.run(torch.tensor([1e3, 1e3], dtype=F64), net.init_state(1, dtype=F64), steps=1)
    assert state.w.item() == pytest.approx(0.3 * 1.0 - 0.1 * 2.0, abs=1e-15)


def test_init_state_shapes():
    g, *_ = _network()
    s = init_state(g, batch=3, v0=0.5)
    assert s.v.shape == (3, 40) and s.buf.shape == (3, 3, 40) and s.w.shape == (g.n_synapses,)
    assert bool((s.v == 0.5).all())
    with pytest.raises(ValueError, match=r"v0 must broadcast to \[B, N\] = \[3, 40\]"):
        init_state(g, batch=3, v0=torch.zeros(7))
