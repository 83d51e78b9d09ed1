"""Sweeps: cell enumeration and validation, the merged report against the cells' own reports,
resume (finished cells kept, a killed run's cells resumed), and the Ray executor."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from spikeforge.config import TrainConfig
from spikeforge.sweep import SweepError, load_sweep, run_sweep
from spikeforge.sweep.report import mean_std, pivot
from spikeforge.sweep.shipped import shipped_sweeps

TINY = {"data": "digits", "model": "mlp", "hidden": [16], "steps": 4, "epochs": 1, "batch_size": 128,
        "lr": 0.01}


def _spec(tmp_path: Path, **extra: object) -> dict:
    return {"name": "t", "out_dir": str(tmp_path / "sw"), "fixed": dict(TINY),
            "axes": {"neuron": ["lif", "plif"], "seed": [0, 1]}, **extra}


def test_cells_are_the_cross_product_in_order(tmp_path: Path) -> None:
    fixed = {k: v for k, v in TINY.items() if k != "hidden"}
    spec = load_sweep({**_spec(tmp_path), "fixed": fixed,
                       "axes": {"neuron": ["lif", "plif"], "hidden": [[8], [8, 4]], "seed": [0, 1, 2]}})
    cells = spec.cells()
    assert len(cells) == 12
    assert cells[0].id == "neuron=lif__hidden=8__seed=0" and cells[1].id == "neuron=lif__hidden=8__seed=1"
    assert cells[3].id == "neuron=lif__hidden=8-4__seed=0" and cells[-1].values == {
        "neuron": "plif", "hidden": [8, 4], "seed": 2}
    assert cells[-1].config.hidden == (8, 4) and cells[-1].config.epochs == 1
    assert Path(cells[5].config.out_dir) == tmp_path / "sw" / "cells" / cells[5].id
    sub = load_sweep({**_spec(tmp_path), "cells": [{"neuron": "plif", "seed": 1}]}).cells()
    assert [c.id for c in sub] == ["neuron=plif__seed=1"]


@pytest.mark.parametrize("change,match", [
    ({"axes": {"neuronz": ["lif"]}}, "unknown axes key"),
    ({"axes": {"neuron": ["lif", "nope"]}}, "cell neuron=nope.*neuron"),
    ({"axes": {"neuron": []}}, "non-empty list"),
    ({"axes": {"neuron": ["lif", "lif"]}}, "repeats"),
    ({"axes": {"seed": [0]}, "fixed": {**TINY, "seed": 1}}, "both fixed and an axis"),
    ({"cells": [{"neuron": "lif"}]}, "must name exactly the axes"),
    ({"cells": [{"neuron": "alif", "seed": 0}]}, "not on its axis"),
    ({"report": {"pivots": [["neuron", "tau"]]}}, "not an axis"),
    ({"fixed": {**TINY, "epochs": 0}}, "epochs"),
    ({"colour": 1}, "unknown sweep key"),
])
def test_bad_sweeps_fail_before_training(tmp_path: Path, change: dict, match: str) -> None:
    with pytest.raises(SweepError, match=match):
        load_sweep({**_spec(tmp_path), **change}).cells()
    assert not (tmp_path / "sw").exists()


def test_pivot_is_mean_and_sample_std_by_hand() -> None:
    rows = [{"status": "ok", "a": "x", "b": 1, "m": 0.5}, {"status": "ok", "a": "x", "b": 1, "m": 0.7},
            {"status": "ok", "a": "x", "b": 2, "m": 0.9}, {"status": "failed", "a": "y", "b": 1, "m": 0.1}]
    table = pivot(rows, "a", "b", "m")
    assert table[("x", 1)][0] == pytest.approx(0.6) and table[("x", 1)][1] == pytest.approx(0.1414213562)
    assert table[("x", 2)] == (0.9, 0.0, 1) and ("y", 1) not in table
    assert pivot(rows, "a", None, "m")[("x", None)][0] == pytest.approx(0.7)
    m, s = mean_std([1.0, float("nan"), None, 3.0])
    assert (m, s) == (2.0, pytest.approx(2 ** 0.5))


def test_serial_sweep_report_matches_the_cells_and_reruns_skip(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    spec = load_sweep(_spec(tmp_path))
    result = run_sweep(spec, executor="serial", log=None)
    assert not result.failed and result.skipped == 0
    out = tmp_path / "sw"
    cells = {c.id: json.loads((out / "cells" / c.id / "report.json").read_text()) for c in spec.cells()}
    assert all("params" in r for r in cells.values())
    # the params column is a hand count of the MLP: 64 -> 16 -> 10 with biases
    assert {r["params"] for r in cells.values()} >= {64 * 16 + 16 + 16 * 10 + 10}
    csv_rows = (out / "results.csv").read_text().splitlines()
    assert len(csv_rows) == 5 and csv_rows[0].startswith("cell,neuron,seed,status,test_accuracy")
    # the report's per-neuron row = mean ± std of the cells' own test accuracies (independent read)
    md = (out / "report.md").read_text()
    for neuron in ("lif", "plif"):
        accs = [cells[f"neuron={neuron}__seed={s}"]["test_accuracy"] for s in (0, 1)]
        want = f"| {neuron} | 2 | {statistics.fmean(accs) * 100:.2f} ± {statistics.stdev(accs) * 100:.2f} |"
        assert want in md, (want, md)
    assert (out / "test_accuracy_by_neuron.png").is_file()
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("cells/*/report.json")}
    again = run_sweep(spec, executor="serial", log=None)
    assert again.skipped == 4 and {p: p.stat().st_mtime_ns for p in out.glob("cells/*/report.json")} == mtimes
    # a changed experiment is not mistaken for a finished cell
    longer = load_sweep({**_spec(tmp_path), "fixed": {**TINY, "lr": 0.02}})
    assert run_sweep(longer, executor="serial", log=None, plots=False).skipped == 0


def test_a_failing_cell_is_reported_not_raised(tmp_path: Path) -> None:
    shd = {k: v for k, v in TINY.items() if k != "steps"}  # temporal data brings its own T (a set steps is refused)
    spec = load_sweep({**_spec(tmp_path), "fixed": {**shd, "data": "shd", "root": str(tmp_path / "none")},
                       "axes": {"seed": [0]}})
    result = run_sweep(spec, executor="serial", log=None, plots=False)
    assert len(result.failed) == 1 and "FileNotFoundError" in result.failed[0]["error"]
    assert "failed: FileNotFoundError" in result.report.read_text()


def test_killed_sweep_resumes_finished_cells_kept(tmp_path: Path) -> None:
    """Kill the CLI (local worker processes) while cell 2 trains; the rerun keeps cell 1 and
    resumes cell 2 from its checkpoint to the same weights as an uninterrupted run."""
    import yaml

    fixed = {**TINY, "epochs": 3, "hidden": [32], "steps": 4, "batch_size": 32}
    sweep = {"name": "k", "out_dir": str(tmp_path / "sw"), "fixed": fixed, "axes": {"seed": [0, 1]}}
    path = tmp_path / "k.yaml"
    path.write_text(yaml.safe_dump(sweep))
    cmd = [sys.executable, "-m", "spikeforge", "sweep", str(path), "--workers", "1", "--no-plots"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    second = tmp_path / "sw" / "cells" / "seed=1"
    deadline = time.time() + 300
    while not (second / "checkpoint.pt").is_file():
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        assert time.time() < deadline, "cell 2 never wrote a checkpoint"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / "sw" / "cells" / "seed=0" / "report.json").is_file()
    assert not (second / "report.json").is_file(), "cell 2 finished before the kill; the test saw no interruption"
    first_mtime = (tmp_path / "sw" / "cells" / "seed=0" / "report.json").stat().st_mtime_ns
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 already finished" in done.stdout
    assert (tmp_path / "sw" / "cells" / "seed=0" / "report.json").stat().st_mtime_ns == first_mtime
    resumed = json.loads((second / "report.json").read_text())
    assert resumed["resumed_from_epoch"] >= 1
    # uninterrupted reference run of the same cell, in another directory
    from spikeforge.experiment import run_training
    torch.set_num_threads(os.cpu_count() or 1)  # what the one local worker used
    ref_cfg = TrainConfig.from_dict({**fixed, "seed": 1, "out_dir": str(tmp_path / "ref"), "progress": False})
    run_training(ref_cfg, plots=False)
    a = torch.load(second / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "ref" / "checkpoint.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    diff = {k: float((a[k].double() - b[k].double()).abs().max()) for k in a if not torch.equal(a[k], b[k])}
    assert not diff, diff


def test_ray_executor_on_a_local_instance(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    torch.set_num_threads(1)
    spec = load_sweep({**_spec(tmp_path), "axes": {"seed": [0, 1]}})
    result = run_sweep(spec, executor="ray", workers=2, log=None, plots=False)
    assert not result.failed and len(result.rows) == 2
    serial = load_sweep({**_spec(tmp_path), "out_dir": str(tmp_path / "serial"), "axes": {"seed": [0, 1]}})
    ref = run_sweep(serial, executor="serial", log=None, plots=False)
    assert [r["test_accuracy"] for r in result.rows] == [r["test_accuracy"] for r in ref.rows]


def test_shipped_sweeps_validate() -> None:
    shipped = shipped_sweeps()
    assert {"neuron_ablation", "encoding_ablation", "attention_ablation", "transformer_models",
            "spikformer_cifar10_full", "sdt_cifar100_full"} <= set(shipped)
    for path in shipped.values():
        cells = load_sweep(path).cells()
        assert len(cells) >= 2
    attn = load_sweep(shipped["attention_ablation"]).cells()
    assert sorted({c.config.attention for c in attn}) == ["random_qk", "sdsa", "softmax", "ssa"]
    assert len(attn) == 8 and {c.config.model for c in attn} == {"spikformer_tiny"}
    models = load_sweep(shipped["transformer_models"]).cells()
    # qsd_tiny is left out on purpose (the neuron axis would replace its MultiSpike neurons; cost)
    assert {c.config.model for c in models} == {"spikformer_tiny", "sdt_tiny", "meta_spikeformer_tiny",
                                                "maxformer_tiny"}
    assert {c.config.neuron for c in models} == {"lif", "plif"} and len(models) == 8
