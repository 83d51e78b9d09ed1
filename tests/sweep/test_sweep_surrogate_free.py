"""Neurons without a surrogate (I-LIF, NI-LIF, UltraLIF): an explicit surrogate is refused, builders do
not pass one, and a sweep's neuron × surrogate cells for them are "not applicable" (run once), not run
with the surrogate silently ignored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikeforge.config import TrainConfig
from spikeforge.models import build_model
from spikeforge.neurons import ILIF, NEURONS, NILIF
from spikeforge.sweep import load_sweep, run_sweep

TINY = {"data": "iris", "model": "mlp", "hidden": [8], "steps": 2, "epochs": 1, "batch_size": 256, "lr": 0.01}
FREE = [n for n in NEURONS.names() if getattr(NEURONS.get(n), "surrogate_free", False)]


def test_the_clip_neurons_declare_no_surrogate():
    assert {"ilif", "nilif", "ultralif", "ultradlif"} <= set(FREE)


@pytest.mark.parametrize("cls", [ILIF, NILIF])
@pytest.mark.parametrize("surrogate", ["atan", "sigmoid"])
def test_an_explicit_surrogate_is_refused(cls, surrogate):
    with pytest.raises(ValueError, match=f"{cls.__name__} has no surrogate.*do not pass surrogate="):
        cls(surrogate=surrogate)
    assert "surrogate" not in cls().step_kwargs()  # built without one, it still runs
    assert cls()(torch.rand(3, 2, 4)).shape == (3, 2, 4)


@pytest.mark.parametrize("model", ["mlp", "rsnn"])
@pytest.mark.parametrize("neuron", FREE)
def test_builders_do_not_pass_a_surrogate_to_a_surrogate_free_neuron(neuron, model):
    cfg = TrainConfig(data="digits", model=model, neuron=neuron, surrogate="sigmoid", steps=2, hidden=(8,))
    out = build_model(cfg)(torch.rand(2, 64))
    assert out.shape == (2, 2, 10) and torch.isfinite(out).all()


def test_sweep_collapses_surrogate_cells_of_a_surrogate_free_neuron(tmp_path: Path, monkeypatch):
    torch.set_num_threads(1)
    monkeypatch.setenv("SPIKEFORGE_BACKEND", "torch")  # the reference loop: no wait for a kernel build
    spec = load_sweep({"name": "t", "out_dir": str(tmp_path / "sw"), "fixed": dict(TINY),
                       "axes": {"neuron": ["lif", "ilif"], "surrogate": ["atan", "sigmoid"]}})
    cells = {c.id: c for c in spec.cells()}
    assert len(cells) == 4
    assert cells["neuron=ilif__surrogate=atan"].runs_as is None
    assert cells["neuron=ilif__surrogate=atan"].values == {"neuron": "ilif", "surrogate": "none"}
    assert cells["neuron=ilif__surrogate=sigmoid"].runs_as == "neuron=ilif__surrogate=atan"
    assert all(cells[f"neuron=lif__surrogate={s}"].runs_as is None for s in ("atan", "sigmoid"))

    result = run_sweep(spec, executor="serial", log=None, plots=False)
    assert not result.failed
    status = {r["cell"]: r["status"] for r in result.rows}
    assert status == {"neuron=lif__surrogate=atan": "ok", "neuron=lif__surrogate=sigmoid": "ok",
                      "neuron=ilif__surrogate=atan": "ok", "neuron=ilif__surrogate=sigmoid": "n/a"}
    out = tmp_path / "sw" / "cells"
    assert not (out / "neuron=ilif__surrogate=sigmoid").exists()  # never trained
    ran = json.loads((out / "neuron=ilif__surrogate=atan" / "report.json").read_text())
    assert ran["config"]["neuron"] == "ilif"
    md = result.report.read_text()
    assert "3 of 4 cells finished, 1 not applicable" in md
    assert "not applicable: neuron 'ilif' has no surrogate; it runs once, as cell neuron=ilif__surrogate=atan" in md
    assert "| none |" in md  # the collapsed cell is reported under surrogate `none`
