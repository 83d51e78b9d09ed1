"""The DCLS benchmark scenario checks spikeforge's DelayLinear model against dcls's Dcls1d before timing."""

from __future__ import annotations

import pytest
import torch

from spikeforge.bench.harness import check_spikes
from spikeforge.bench.scenarios import SCENARIOS, dcls_net

pytest.importorskip("DCLS.construct.modules")

CFG = {"T": 12, "B": 4, "K": 25, "sig": 4.0}


def test_dcls_scenario_outputs_equal_before_timing() -> None:
    checks = check_spikes("dcls_step", CFG, ("spikeforge", "dcls"))
    assert checks["dcls"]["equal"] and checks["dcls"]["identical"], checks
    assert 0.01 < checks["dcls"]["rate"] < 0.5  # the hidden layers do spike
    net = dcls_net("spikeforge", CFG)
    assert sum(p.numel() for p in net.parameters()) == 214_016


def test_dcls_scenario_detects_a_different_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    real = dcls_net

    def shifted(lib: str, cfg: dict, seed: int = 0):  # type: ignore[no-untyped-def]
        net = real(lib, cfg, seed)
        if lib == "dcls":
            with torch.no_grad():
                net.readout.conv.P.add_(1.0)  # every readout delay one step shorter
        return net

    monkeypatch.setattr("spikeforge.bench.scenarios.dcls_net", shifted)
    checks = check_spikes("dcls_step", CFG, ("spikeforge", "dcls"))
    assert not checks["dcls"]["equal"] and "AssertionError" in checks["dcls"]["error"]
    SCENARIOS.get("dcls_step").build("spikeforge", CFG).step()  # a training step runs
