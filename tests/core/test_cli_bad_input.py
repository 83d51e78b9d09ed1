"""A new user's mistakes on the command line: each fails with exit code 2 and an error on stderr
that names the argument and the problem, before any work is done, and destroys no file."""

from __future__ import annotations

from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from _cli_errors import fails

from spikeforge.cli.__main__ import main
from spikeforge.data.events import make_events
from spikeforge.data.formats import read_events_h5, write_events_h5


def _checkpoint(tmp_path: Path) -> Path:
    from spikeforge.config import TrainConfig
    from spikeforge.learning.snapshot import save_checkpoint
    from spikeforge.models import build_model

    cfg = TrainConfig.from_dict({"hidden": (8,), "steps": 2})
    return save_checkpoint(tmp_path / "model.ckpt", model=build_model(cfg), epoch=0, config=cfg.to_dict())


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("a plain file\n")
    return path


def test_train_out_dir_that_is_a_file_or_under_one(tmp_path: Path, a_file: Path, capsys) -> None:
    err = fails(capsys, "train", "--out", str(a_file), "--set", "epochs=1")
    assert f"'out_dir' (--out) '{a_file}' is a file, not a folder" in err
    err = fails(capsys, "train", "--out", str(a_file / "run"), "--set", "epochs=1")
    assert f"'{a_file}' is a file, not a folder" in err
    assert a_file.read_text() == "a plain file\n"


def test_config_file_that_is_a_folder(tmp_path: Path, capsys) -> None:
    err = fails(capsys, "train", "--config", str(tmp_path))
    assert f"config file '{tmp_path}' is a folder, not a YAML file" in err


def test_export_output_checked_before_it_destroys_anything(tmp_path: Path, a_file: Path, capsys) -> None:
    ckpt = _checkpoint(tmp_path)
    before = ckpt.read_bytes()
    err = fails(capsys, "export", str(ckpt), "-o", str(ckpt))  # the checkpoint itself
    assert "is the input file" in err and "--output" in err
    assert ckpt.read_bytes() == before  # the old command overwrote the checkpoint with the NIR graph
    err = fails(capsys, "export", str(ckpt), "-o", str(tmp_path))
    assert f"--output '{tmp_path}' is a folder" in err
    err = fails(capsys, "export", str(ckpt), "-o", str(a_file / "m.nir"))
    assert f"'{a_file}' is a file, not a folder" in err
    err = fails(capsys, "export", str(tmp_path), "-o", str(tmp_path / "m.nir"))
    assert f"checkpoint '{tmp_path}' is a folder, not a file" in err


def test_import_folder_and_unknown_node_type(tmp_path: Path, capsys) -> None:
    err = fails(capsys, "import", str(tmp_path))
    assert "is a folder, not a file" in err
    graph = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([3])),
            "a": nir.Affine(weight=np.ones((2, 3)), bias=np.zeros(2)),
            "output": nir.Output(output_type=np.array([2])),
        },
        edges=[("input", "a"), ("a", "output")],
    )
    path = tmp_path / "g.nir"
    nir.write(path, graph)
    with h5py.File(path, "r+") as f:  # a node type NIR does not define (a typo, or a newer NIR)
        del f["node/nodes/a/type"]
        f["node/nodes/a/type"] = b"Afine"
    err = fails(capsys, "import", str(path))
    assert "unknown node type(s) {'node/nodes/a': 'Afine'}" in err and "Affine" in err


def _steps_file(tmp_path: Path) -> Path:
    """Events that count abstract time steps (no time unit), as NeuroMorse's."""
    path = tmp_path / "steps.h5"
    write_events_h5(path, make_events([0, 6, 17], [1, 1, 0], sensor_size=(2,), time_unit=None))
    return path


def test_convert_never_overwrites_its_input(tmp_path: Path, capsys) -> None:
    src = _steps_file(tmp_path)
    before = src.read_bytes()
    err = fails(capsys, "data", "convert", str(src), str(src))
    assert f"output '{src}' is the input file" in err
    assert src.read_bytes() == before  # the old command replaced the input by its own copy
    err = fails(capsys, "data", "convert", str(src), str(tmp_path / "." / src.name))
    assert src.read_bytes() == before


def test_convert_output_folder(tmp_path: Path, a_file: Path, capsys) -> None:
    src = _steps_file(tmp_path)
    err = fails(capsys, "data", "convert", str(src), str(a_file / "out.h5"))
    assert f"'{a_file}' is a file, not a folder" in err
    assert main(["data", "convert", str(src), str(tmp_path / "new" / "out.h5")]) == 0  # created, as export does
    assert read_events_h5(tmp_path / "new" / "out.h5")[0].t.tolist() == [0, 6, 17]
    err = fails(capsys, "data", "convert", str(tmp_path), str(tmp_path / "o.h5"))
    assert f"input '{tmp_path}' is a folder, not a file" in err
    err = fails(capsys, "data", "inspect", str(tmp_path))
    assert f"{tmp_path} is a folder, not an event file" in err


@pytest.mark.parametrize("tick", ["0", "-1", "nan", "inf"])
def test_convert_tick_must_be_positive_and_finite(tmp_path: Path, capsys, tick: str) -> None:
    """The old command wrote every event at t = 0 for --tick 0 (exit 0), a file it could not read back
    for --tick -1 (shd_h5) and an error about events.t for nan / inf."""
    src = _steps_file(tmp_path)
    for out in ("s.aedat", "s.bin", "s_shd.h5"):
        extra = ["--to", "shd_h5"] if out.endswith(".h5") else []
        err = fails(capsys, "data", "convert", str(src), str(tmp_path / out), "--tick", tick, *extra)
        assert "tick (--tick, seconds per time step) must be a finite number > 0" in err
        assert not (tmp_path / out).exists()


def test_convert_refuses_a_tick_it_would_ignore(tmp_path: Path, capsys) -> None:
    src = tmp_path / "us.h5"  # microsecond time stamps: a tick has no meaning
    write_events_h5(src, make_events([0, 6, 17], [1, 1, 0], sensor_size=(2,), time_unit=1e-6))
    err = fails(capsys, "data", "convert", str(src), str(tmp_path / "o.aedat"), "--tick", "1e-3")
    assert "applies only to events that count abstract time steps" in err
    assert main(["data", "convert", str(src), str(tmp_path / "o.aedat")]) == 0


def test_profile_outputs_checked_before_profiling(tmp_path: Path, a_file: Path, capsys, monkeypatch) -> None:
    from spikeforge.cli import cmd_profile

    ckpt = _checkpoint(tmp_path)
    before = ckpt.read_bytes()
    err = fails(capsys, "profile", str(tmp_path))
    assert f"profile target '{tmp_path}' is a folder, not a file" in err

    def no_profiling(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the output paths were checked")

    monkeypatch.setattr(cmd_profile, "load_target", no_profiling)
    err = fails(capsys, "profile", str(ckpt), "--json", str(ckpt))
    assert "--json" in err and "is the input file" in err
    assert ckpt.read_bytes() == before
    err = fails(capsys, "profile", str(ckpt), "--json", str(a_file / "p.json"))
    assert f"'{a_file}' is a file, not a folder" in err
    err = fails(capsys, "profile", str(ckpt), "--json", str(tmp_path))
    assert f"--json '{tmp_path}' is a folder" in err
    # the old command saved 'energy' as energy.png and printed 'plot energy'; and refused '.txt' after profiling
    for name in ("energy", "energy.txt"):
        err = fails(capsys, "profile", str(ckpt), "--plot", str(tmp_path / name))
        assert "the extension names the image format" in err and ".png" in err


def test_sweep_out_that_is_a_file(tmp_path: Path, a_file: Path, capsys) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: s\nfixed: {epochs: 1}\naxes: {seed: [0]}\n")
    for extra in ([], ["--dry-run"]):
        err = fails(capsys, "sweep", str(sweep), "--out", str(a_file), "--executor", "serial", *extra)
        assert f"sweep out_dir (--out) '{a_file}' is a file, not a folder" in err


def test_file_system_errors_are_reported_without_a_traceback(capsys, monkeypatch) -> None:
    """Anything the checks above do not foresee (permissions, a full disk) is still one line."""
    from spikeforge.cli import cmd_data

    def refuse(args: object) -> int:
        raise PermissionError(13, "Permission denied", "/data/x.h5")

    monkeypatch.setattr(cmd_data, "list_command", refuse)
    err = fails(capsys, "data", "list")
    assert "Permission denied: '/data/x.h5'" in err


def test_readout_time_constant_below_dt_names_tau_out(capsys) -> None:
    """The old error came from building the model and named the readout's ``tau_mem``, a key the
    user had not set, and suggested ``integrator='exp'``, which the config does not offer."""
    err = fails(capsys, "train", "--set", "tau_out=1e-9", "--set", "epochs=1")
    assert "config key 'tau_out'" in err and "tau_out=1e-09 s with dt=0.001 s" in err
    err = fails(capsys, "train", "--set", "dt=0.02", "--set", "epochs=1")  # dt above the default tau_out 0.01
    assert "config key 'tau_out'" in err and "dt=0.02 s" in err


def test_sweep_report_metric_typo(tmp_path: Path, capsys) -> None:
    """The old sweep trained every cell and wrote pivot tables of '–' for a metric no cell has."""
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: s\nfixed: {epochs: 1}\naxes: {seed: [0, 1]}\nreport: {metric: tset_accuracy}\n")
    err = fails(capsys, "sweep", str(sweep), "--dry-run")
    assert "report metric 'tset_accuracy' is not a result column" in err and "test_accuracy" in err


def test_bench_arguments_checked_before_the_benchmark(tmp_path: Path, a_file: Path, capsys, monkeypatch) -> None:
    """The old command benchmarked for minutes before it wrote --out (a bad path: a traceback,
    results lost), and started the benchmark with --reps 0 or --warmup -1 (only reps < 5 warned)."""
    from spikeforge.bench import __main__ as bench

    def no_benchmark(args: object) -> int:
        raise AssertionError("the benchmark ran before its arguments were checked")

    monkeypatch.setattr(bench, "run", no_benchmark)
    out = str(tmp_path / "B.md")
    assert "--reps must be >= 1" in fails(capsys, "bench", "--reps", "0", "--out", out)
    assert "--warmup must be >= 0" in fails(capsys, "bench", "--warmup", "-1", "--out", out)
    assert f"--out '{tmp_path}' is a folder" in fails(capsys, "bench", "--out", str(tmp_path))
    err = fails(capsys, "bench", "--out", str(a_file / "B.md"))
    assert f"'{a_file}' is a file, not a folder" in err
    err = fails(capsys, "bench", "--out", out, "--json", str(a_file / "b.json"))
    assert "--json" in err and f"'{a_file}' is a file, not a folder" in err


@pytest.mark.parametrize(
    ("text", "match"),
    [("axes: {seed: [0, 1]\n", "not valid YAML"), ("name: s\n\tfixed: {}\n", "not valid YAML"), ("", "is empty")],
)
def test_sweep_file_that_is_not_yaml_or_empty(tmp_path: Path, capsys, text: str, match: str) -> None:
    """The old sweep printed a yaml traceback for a broken file and ran one default cell (a full
    40-epoch training) for an empty one."""
    sweep = tmp_path / "s.yaml"
    sweep.write_text(text)
    err = fails(capsys, "sweep", str(sweep), "--dry-run")
    assert f"{sweep}: " in err and match in err


def test_convert_says_when_a_label_is_not_stored(tmp_path: Path, capsys) -> None:
    """The old command printed 'wrote 3 events (label 7) to x.aedat' though AEDAT and ATIS files
    hold no label: the label was dropped without a word."""
    src = tmp_path / "labelled.h5"
    write_events_h5(src, make_events([0, 6, 17], [1, 1, 0], sensor_size=(2,), time_unit=1e-6), 7)
    assert main(["data", "convert", str(src), str(tmp_path / "x.aedat")]) == 0
    out, err = capsys.readouterr()
    assert "(label 7)" not in out and "note: label 7 is not stored: aedat files hold events only" in err
    assert main(["data", "convert", str(src), str(tmp_path / "y.h5")]) == 0
    out, err = capsys.readouterr()
    assert "(label 7)" in out and not err
    assert read_events_h5(tmp_path / "y.h5")[1] == 7
