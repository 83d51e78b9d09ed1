"""The sweep report labels an unset axis value (YAML ``null``) "unset", and keeps its numbers apart."""

from __future__ import annotations

from pathlib import Path

from spikeforge.sweep.report import write_report


def _row(neuron: str, reset: str | None, seed: int, acc: float) -> dict:
    return {"cell": f"{neuron}-{seed}", "status": "ok", "neuron": neuron, "reset": reset, "seed": seed,
            "test_accuracy": acc, "val_accuracy": acc, "mean_rate": 0.1, "synops": 10.0, "params": 5,
            "wall_seconds": 1.0}


def test_unset_axis_value_reads_unset(tmp_path: Path) -> None:
    rows = [_row("lif", "subtract", 0, 0.90), _row("lif", "subtract", 1, 0.80), _row("psn", None, 0, 0.50)]
    axes = {"neuron": ["lif", "psn"], "reset": ["subtract", None], "seed": [0, 1]}
    write_report("t", axes, rows, tmp_path, plots=False)
    md = (tmp_path / "report.md").read_text()
    assert "None" not in md
    assert "| unset | 1 | 50.00 ± 0.00 |" in md  # the "By reset" row of the unset cells (hand mean)
    assert "| subtract | 2 | 85.00 ± 7.07 |" in md  # mean 85, sample std 7.07 of (90, 80)
    assert "| reset \\ neuron | subtract" not in md
    assert "| neuron \\ reset | subtract | unset |" in md
