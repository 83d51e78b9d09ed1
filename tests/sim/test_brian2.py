"""Spike trains identical to Brian2's on a deterministic recurrent network (numpy target, no compiler)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.sim import EventNetwork, fixed_indegree
from spikeforge.sim.brian2_peer import brian2_run, import_brian2

try:
    import_brian2()  # (pytest.importorskip would fail on brian2 2.9.0 + numpy 2.4; see import_brian2)
except ImportError as e:
    pytest.skip(f"brian2 not installed ({e})", allow_module_level=True)
pytestmark = pytest.mark.peers

F64 = torch.float64


@pytest.mark.parametrize("kwargs", [
    dict(integrator="euler", reset="value", v_reset=0.1, t_ref=2e-3),  # Euler in both, refractory, hard reset
    dict(integrator="exp", reset="subtract", tau_mem=5e-3),  # exact integration ('exact' in Brian2), soft reset
])
def test_spike_trains_equal_brian2(kwargs):
    gen = torch.Generator().manual_seed(0)
    n, steps = 50, 1000  # dt = 0.1 ms: 100 ms
    g = fixed_indegree(n, 10, generator=gen, dtype=F64)
    g = g.with_weights((torch.rand(g.n_synapses, generator=gen, dtype=F64) - 0.3) * 6.0)
    g = g.with_delays(torch.randint(1, 4, (g.n_synapses,), generator=gen))  # 1-3 steps
    net = EventNetwork(g, dt=1e-4, **kwargs)
    cur = 0.5 + torch.rand(n, generator=gen, dtype=F64)  # about half the neurons below rheobase (1)
    v0 = torch.rand(n, generator=gen, dtype=F64)
    events, _ = net.run(cur, net.init_state(1, v0=v0, dtype=F64), steps=steps)
    ref = brian2_run(net, cur, v0, steps)
    ours = sorted(zip(events.t.tolist(), events.i.tolist()))
    theirs = sorted(zip(ref.t.tolist(), ref.i.tolist()))
    assert len(ours) > 100
    assert ours == theirs
    # the recurrent input matters: neurons below rheobase fire only through synapses
    assert any(cur[i] < 1.0 for _, i in ours)
    # and the delays matter: the same network with all delays 1 fires differently
    moved, _ = EventNetwork(g.with_delays(1), dt=1e-4, **kwargs).run(cur, net.init_state(1, v0=v0, dtype=F64),
                                                                     steps=steps)
    assert sorted(zip(moved.t.tolist(), moved.i.tolist())) != ours
