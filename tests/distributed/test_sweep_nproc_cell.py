"""A 1-cell sweep with 2 processes per cell trains the cell through ``spikeforge train --nproc 2``
and gets the weights of the same cell trained in one process in this test (independent path:
no launcher, no process group)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from spikeforge.config import TrainConfig
from spikeforge.experiment import run_training
from spikeforge.sweep import load_sweep, run_sweep

CELL = {"data": "digits", "hidden": [16], "steps": 4, "epochs": 1, "batch_size": 128, "lr": 0.02}


def test_one_cell_sweep_at_two_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKEFORGE_BACKEND", "torch")  # no wait for a kernel build; math is backend-free
    spec = load_sweep({"name": "t", "out_dir": str(tmp_path / "sw"), "fixed": CELL, "axes": {"seed": [3]},
                       "nproc": 2})
    result = run_sweep(spec, executor="serial", plots=False, log=None)
    assert not result.failed, result.rows
    cell_dir = Path(spec.cells()[0].config.out_dir)
    report = json.loads((cell_dir / "report.json").read_text())
    assert report["params"] > 0 and 0 <= report["test_accuracy"] <= 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = run_training(TrainConfig.from_dict({**CELL, "seed": 3, "progress": False,
                                                  "out_dir": str(tmp_path / "ref")}), resume=False, plots=False)
    finally:
        torch.set_num_threads(threads)
    two = torch.load(cell_dir / "checkpoint.pt", weights_only=True)["model"]
    one = torch.load(ref.checkpoint, weights_only=True)["model"]
    for k in one:
        torch.testing.assert_close(two[k], one[k], atol=2e-6, rtol=0, msg=k)
    assert report["test_accuracy"] == pytest.approx(ref.test_accuracy, abs=2 / 360)
