"""The ``spikeforge`` command line, end to end on tiny configs."""

from __future__ import annotations

import json

import pytest

from spikeforge.cli.__main__ import main
from spikeforge.config import TrainConfig
from spikeforge.experiment import make_loaders, run_training
from spikeforge.learning import evaluate, load_model


def _tiny(tmp_path, *extra):
    return ["train", "--out", str(tmp_path / "run"), "--set", "epochs=2", "--set", "hidden=16",
            "--set", "steps=4", "--set", "lr=0.02", "--set", "progress=false", "--no-plots", *extra]


def test_train_prints_report_and_writes_files(tmp_path, capsys):
    assert main(_tiny(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "body.1" in out and "synops" in out and "energy" in out
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    # digits has 10 classes (chance 0.10); two epochs of this tiny net reach ~0.57
    assert report["test_accuracy"] >= 0.3
    # the reported accuracy is the saved model's: recompute it from the checkpoint alone
    model = load_model(tmp_path / "run" / "checkpoint.pt")
    _, test_loader, _ = make_loaders(TrainConfig.from_dict(report["config"]))
    assert evaluate(model, test_loader)["accuracy"] == report["test_accuracy"]
    assert f"{report['test_accuracy'] * 100:6.2f} %" in out


def test_train_resumes_and_refuses_other_config(tmp_path, capsys):
    assert main(_tiny(tmp_path)) == 0
    assert main(_tiny(tmp_path, "--set", "epochs=3")) == 0  # extends the run by one epoch
    assert "resumed after epoch 2" in capsys.readouterr().out
    assert main(_tiny(tmp_path, "--set", "hidden=8")) == 2
    assert "different configuration" in capsys.readouterr().err


def test_unknown_key_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--set", "hiden=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key(s) ['hiden']" in err and "hidden" in err


def test_list_prints_registries(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("neurons:", "lif", "surrogates:", "atan", "encoders:", "poisson", "datasets:", "digits"):
        assert word in out
    assert main(["list", "nothing"]) == 2


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "train" in out and "list" in out


@pytest.mark.slow
def test_default_main_job_reaches_95_percent_on_digits(tmp_path):
    """The embedded default of ``make run`` (timing is measured by ``make bench``, not here)."""
    report = run_training(TrainConfig(out_dir=str(tmp_path), progress=False), plots=True)
    assert report.test_accuracy >= 0.95
    assert {p.name for p in report.plots} == {"training.png", "rates.png", "raster.png"}
    assert 0.0 < report.layer_rates["body.1"] < 1.0
