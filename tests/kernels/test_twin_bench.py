"""The ReLU-twin benchmark's pieces (issue 17): interleaved timing, paired ratios, the twin itself.

No timing assertions beyond "a step that burns clearly more CPU gets the larger times" (which
checks that every measurement is attributed to the step that ran).
"""

from __future__ import annotations

import os
import time

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.bench.twin_bench import _event_env, interleaved, ratio_stats, relu_twin
from spikeforge.layers.sparse_linear import EventLinear
from spikeforge.neurons import LIF


def test_interleaved_rotates_the_order_and_pairs_the_reps():
    calls: list[str] = []
    steps = {n: (lambda n=n: calls.append(n)) for n in "abc"}
    out = interleaved(steps, reps=4, warmup=2)
    # warm-up rounds in the given order, then rep i starts at the i-th step (mod 3)
    assert calls == list("abc" "abc" "abc" "bca" "cab" "abc")
    assert {n: len(t) for n, t in out.items()} == {"a": 4, "b": 4, "c": 4}


def _burn(seconds: float) -> None:
    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        pass


def test_interleaved_attributes_each_time_to_its_step():
    out = interleaved({"slow": lambda: _burn(0.03), "fast": lambda: None}, reps=3, warmup=0)
    assert min(out["slow"]) >= 0.03 > max(out["fast"])


def test_interleaved_rejects_bad_counts():
    with pytest.raises(ValueError, match="reps"):
        interleaved({"a": lambda: None}, reps=0, warmup=0)


def test_ratio_stats_pairs_per_rep():
    # ratios 2, 2, 3 (hand count); unpaired medians would give 4 / 2 = 2 and miss the spread
    assert ratio_stats([2.0, 4.0, 9.0], [1.0, 2.0, 3.0]) == (2.0, 2.0, 3.0)
    # pairing matters: same values, other pairing -> ratios 9, 2, 2/3
    med, lo, hi = ratio_stats([9.0, 4.0, 2.0], [1.0, 2.0, 3.0])
    assert (med, lo, hi) == (2.0, pytest.approx(2 / 3), 9.0)
    with pytest.raises(ValueError, match="equally long"):
        ratio_stats([1.0], [1.0, 2.0])


def test_relu_twin_swaps_neurons_and_keeps_weights():
    torch.manual_seed(0)
    snn = nn.Sequential(nn.Identity(), EventLinear(12, 64), LIF.from_decay(0.9), nn.Linear(64, 3))
    twin = relu_twin(snn)
    assert isinstance(twin[1], nn.Linear) and not isinstance(twin[1], EventLinear)
    assert isinstance(twin[2], nn.ReLU) and twin[3] is snn[3]
    x = (torch.rand(5, 2, 12) < 0.3).to(torch.uint8)  # byte spikes: the twin converts them to float
    w1, b1 = snn[1].weight.detach(), snn[1].bias.detach()
    ref = F.linear(F.relu(F.linear(x.double(), w1.double(), b1.double())),
                   snn[3].weight.detach().double(), snn[3].bias.detach().double())  # float64 reference
    torch.testing.assert_close(twin(x).double(), ref, rtol=1e-5, atol=1e-5)
    assert twin[1].weight.data_ptr() != snn[1].weight.data_ptr()  # a copy: training one leaves the other


def test_event_env_sets_and_restores(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SPIKEFORGE_EVENT_DRIVEN", raising=False)
    with _event_env("0"):
        assert os.environ["SPIKEFORGE_EVENT_DRIVEN"] == "0"
    assert "SPIKEFORGE_EVENT_DRIVEN" not in os.environ
    monkeypatch.setenv("SPIKEFORGE_EVENT_DRIVEN", "1")
    with _event_env("0"):
        pass
    assert os.environ["SPIKEFORGE_EVENT_DRIVEN"] == "1"
