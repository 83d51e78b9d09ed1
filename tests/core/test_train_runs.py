"""Training runs as a user drives them: config mistakes fail before training, data folders and
downloads, extended and moved runs, and the per-epoch logs (report.json, CSV, TensorBoard)."""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys

import numpy as np
import pytest

from spikeforge import experiment
from spikeforge.cli.__main__ import main
from spikeforge.config import TrainConfig
from spikeforge.data.formats.hdf5_spikes import write_shd_h5
from spikeforge.experiment import run_training

_IRIS = {"data": "iris", "hidden": "8", "steps": "3", "batch_size": "32", "epochs": "2", "progress": "false"}


def _args(out, **overrides) -> list[str]:
    """``spikeforge train`` on iris (112 training samples) with ``overrides``."""
    values = {**_IRIS, **{k: str(v) for k, v in overrides.items()}}
    return ["train", "--out", str(out), "--no-plots", *[a for k, v in values.items() for a in ("--set", f"{k}={v}")]]


def _cfg(out, **overrides) -> TrainConfig:
    return TrainConfig.from_dict({**_IRIS, "out_dir": str(out), **overrides})


@pytest.fixture
def no_training(monkeypatch):
    def fit(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(experiment, "fit", fit)


@pytest.mark.parametrize("override, key", [
    ("hidden=[]", "hidden"),  # used to train an epoch, then crash in plotting
    ("epochs=0", "epochs"),  # used to report a checkpoint that was never written
    ("neuron=li", "neuron"),  # a non-spiking readout as hidden neuron
    ("loss=nope", "loss"),
    ("lr=nan", "lr"),
    ("log=wandb", "log"),
    ("download=true", "download"),  # iris has no download source
])
def test_config_mistakes_fail_before_training_naming_the_key(tmp_path, capsys, no_training, override, key):
    assert main([*_args(tmp_path / "run"), "--set", override]) == 2
    assert f"config key '{key}'" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def _write_shd(path, n: int, seed: int) -> None:
    """``n`` samples of 30 spikes in the first 50 ms (5 steps at SHD's default 10 ms binning)."""
    rng = np.random.default_rng(seed)
    times = [np.sort(rng.uniform(0.0, 0.05, 30)) for _ in range(n)]
    units = [rng.integers(0, 700, 30) for _ in range(n)]
    write_shd_h5(path, times, units, [i % 20 for i in range(n)])


def _shd_args(out, root, *extra: str) -> list[str]:
    return ["train", "--data", "shd", "--out", str(out), "--no-plots", "--root", str(root), "--set", "epochs=1",
            "--set", "hidden=4", "--set", "batch_size=4", "--set", "progress=false", *extra]


def test_root_points_training_at_the_dataset_files(tmp_path, capsys):
    root = tmp_path / "shd_files"
    assert main(_shd_args(tmp_path / "run", root)) == 2
    err = capsys.readouterr().err
    assert str(root) in err and "--set root=" in err  # says where it looked and how to point elsewhere
    root.mkdir()
    _write_shd(root / "shd_train.h5", 8, seed=0)
    _write_shd(root / "shd_test.h5", 4, seed=1)
    assert main(_shd_args(tmp_path / "run", root)) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["config"]["root"] == str(root) and len(report["history"]) == 1


def test_download_fetches_the_files_from_the_dataset_source(tmp_path, monkeypatch):
    from spikeforge.data.datasets import shd as shd_module

    calls = []

    def fake_download(url, dest, md5, *, gunzip=False):  # stands in for the network
        calls.append((url, dest.name, gunzip))
        dest.parent.mkdir(parents=True, exist_ok=True)
        _write_shd(dest, 8 if "train" in dest.name else 4, seed=len(calls))
        return dest

    monkeypatch.setattr(shd_module, "download_verified", fake_download)
    root = tmp_path / "fetched"
    assert main(_shd_args(tmp_path / "run", root, "--download")) == 0
    assert calls == [("https://zenkelab.org/datasets/shd_train.h5.gz", "shd_train.h5", True),
                     ("https://zenkelab.org/datasets/shd_test.h5.gz", "shd_test.h5", True)]
    assert (root / "shd_train.h5").is_file()


def _cosine(lr: float, epoch: int, total: int) -> float:
    return lr * (1 + math.cos(math.pi * epoch / total)) / 2


def test_extending_a_finished_run_follows_the_cosine_of_the_new_total(tmp_path, capsys):
    lr = 0.01
    assert main(_args(tmp_path / "run", epochs=3, lr=lr)) == 0
    assert main(_args(tmp_path / "run", epochs=5, lr=lr)) == 0
    out = capsys.readouterr().out
    assert "resumed after epoch 3" in out
    assert "run length changed from 3 to 5 epochs; the cosine schedule continues over 5 epochs" in out
    history = json.loads((tmp_path / "run" / "report.json").read_text())["history"]
    expected = [_cosine(lr, e, 3) for e in range(3)] + [_cosine(lr, e, 5) for e in (3, 4)]
    assert [h["lr"] for h in history] == pytest.approx(expected, rel=1e-12, abs=0)


def test_a_moved_run_directory_resumes_and_epochs_cannot_shrink(tmp_path, capsys):
    run_training(_cfg(tmp_path / "run", epochs=1), plots=False)
    shutil.move(tmp_path / "run", tmp_path / "moved")
    report = run_training(_cfg(tmp_path / "moved", epochs=2), plots=False)
    assert report.resumed_from_epoch == 1 and [h["epoch"] for h in report.history] == [1.0, 2.0]
    assert main(_args(tmp_path / "moved", epochs=1)) == 2
    err = capsys.readouterr().err
    assert "config key 'epochs'" in err and "already holds 2 trained epochs" in err


def test_history_in_report_csv_and_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    report = run_training(_cfg(tmp_path / "run", log="tensorboard"), plots=False)
    run = tmp_path / "run"
    history = json.loads((run / "report.json").read_text())["history"]
    assert history == report.history and [h["epoch"] for h in history] == [1.0, 2.0]
    assert set(history[0]) >= {"loss", "train_accuracy", "lr", "seconds"}
    with open(run / "history.csv", newline="") as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    assert rows == history
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    for key in ("loss", "train_accuracy", "lr"):
        scalars = events.Scalars(f"train/{key}")
        assert [s.step for s in scalars] == [1, 2]
        assert [s.value for s in scalars] == pytest.approx([h[key] for h in history], rel=1e-6)


def test_tensorboard_missing_is_a_clear_error_before_training(tmp_path, capsys, monkeypatch, no_training):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    assert main(_args(tmp_path / "run", log="tensorboard")) == 2
    err = capsys.readouterr().err
    assert "config key 'log'" in err and "pip install tensorboard" in err
