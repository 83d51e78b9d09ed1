"""The Maass liquid (Tsodyks–Markram synapses, delays, refractoriness, exact integration) fires the
same spikes as Brian2 simulating the same equations on the same drawn network and input.

Slow: Brian2 derives its ``exact`` integrator for the coupled (v, three currents) system with sympy
(15–35 s here) before it runs."""

from __future__ import annotations

import pytest
import torch

from spikeforge.reservoir.maass import LSM, MaassConfig
from spikeforge.sim.brian2_peer import import_brian2

try:
    import_brian2()  # (pytest.importorskip would fail on brian2 2.9.0 + numpy 2.4; see import_brian2)
except ImportError as e:
    pytest.skip(f"brian2 not installed ({e})", allow_module_level=True)
pytestmark = [pytest.mark.peers, pytest.mark.slow]

F64 = torch.float64


def test_lsm_spike_trains_equal_brian2() -> None:
    from spikeforge.reservoir.maass_brian2 import maass_brian2_run
    torch.set_num_threads(1)
    lsm = LSM(2, seed=0)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(2000, 1, 2, generator=g, dtype=F64) < 40e-4).to(F64)  # 40 Hz per channel, 200 ms
    z, _ = lsm(x)
    ours = sorted(zip(*(a.tolist() for a in z[:, 0].nonzero(as_tuple=True))))
    ref = maass_brian2_run(lsm.net, x[:, 0])
    theirs = sorted(zip(ref.t.tolist(), ref.i.tolist()))
    assert len(ours) > 500
    assert ours == theirs
    # the check can see the synapse model: static synapses on the same network fire differently
    z_static, _ = LSM(2, MaassConfig(stp=False), seed=0)(x)
    assert not torch.equal(z_static, z)
