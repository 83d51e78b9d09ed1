"""Cross-check (test-only peer): ReservoirPy's documented memory-capacity example, 18.78, reproduced by our ESN
driven with ReservoirPy's own weights and scored by our ``memory_capacity``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.reservoir import ESN
from spikeforge.reservoir.metrics import memory_capacity


def _dense(a: object) -> np.ndarray:
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=np.float64)  # scipy sparse -> dense


def test_memory_capacity_matches_reservoirpy_example() -> None:
    rpy_nodes = pytest.importorskip("reservoirpy.nodes")
    observables = pytest.importorskip("reservoirpy.observables")
    k_max = 50
    model = rpy_nodes.Reservoir(100, sr=1, seed=1) >> rpy_nodes.Ridge(ridge=1e-4)
    theirs = float(np.sum(observables.memory_capacity(model, k_max=k_max, as_list=True, seed=1)))
    assert abs(theirs - 18.78) < 0.01  # the documented value

    # Same weights in our ESN. ReservoirPy drives the reservoir with series[k_max:] (500 - 50 = 450 steps),
    # trains on the first 350 rows after a k_max warm-up and tests on the last 100 (test_size 0.2 of 500).
    series = np.random.default_rng(1).uniform(-0.8, 0.8, size=(10 * k_max, 1))[:, 0]
    res = rpy_nodes.Reservoir(100, sr=1, seed=1)
    res.initialize(series[:1, None])
    esn = ESN(100, 1, w=torch.from_numpy(_dense(res.W)), w_in=torch.from_numpy(_dense(res.Win)),
              bias=torch.from_numpy(np.broadcast_to(_dense(res.bias).reshape(-1), (100,)).copy()), leak=float(res.lr))
    u = torch.from_numpy(series)
    states = esn(u[k_max:, None, None])[:, 0]  # [450, 100]
    # pad in front so that our (warm-up = k_max, lag k) indexing sees the same u(t - k) as theirs
    pad = torch.zeros(k_max, 100, dtype=torch.float64)
    ours, mc_k = memory_capacity(torch.cat([pad, states]), u, k_max, ridge=1e-4, warmup=2 * k_max,
                                 test_frac=100 / 400)
    assert (mc_k >= 0).all() and (mc_k <= 1).all()
    print(f"MC ours {ours:.4f} reservoirpy {theirs:.4f}")
    assert abs(ours - theirs) < 1e-3, (ours, theirs)
