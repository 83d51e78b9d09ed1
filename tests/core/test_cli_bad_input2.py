"""Follow-ups of the command-line bad-input audit (tests/core/test_cli_bad_input.py): each mistake
fails with exit code 2 and one line ``spikeforge CMD: error: ...`` that names the file or argument
and what the user can do in that command, with no advice that only the Python API can follow."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from _cli_errors import fails

from spikeforge.cli.__main__ import main
from spikeforge.data.events import make_events
from spikeforge.data.formats import write_events_h5


def _one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.endswith("\n"), err  # one line: no torch advice, no warnings
    return err


def _checkpoint(tmp_path: Path) -> Path:
    from spikeforge.config import TrainConfig
    from spikeforge.learning.snapshot import save_checkpoint
    from spikeforge.models import build_model

    cfg = TrainConfig.from_dict({"hidden": (8,), "steps": 2})
    return save_checkpoint(tmp_path / "model.ckpt", model=build_model(cfg), epoch=0, config=cfg.to_dict())


class _Evil:
    def __reduce__(self) -> tuple[object, ...]:
        return (print, ("pwned",))


def _not_checkpoints(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Files that are no spikeforge checkpoint, with what the error must say about each."""
    files: dict[str, tuple[Path, str]] = {}

    def add(name: str, what: str) -> Path:
        files[name] = (tmp_path / name, what)
        return tmp_path / name

    add("notes.txt", "it is a text file (it starts 'a plain file'), not a torch archive").write_text("a plain file\n")
    add("hello.txt", "it is a text file (it starts 'hello'), not a torch archive").write_text("hello")
    add("empty.ckpt", "the file is empty").write_bytes(b"")
    write_events_h5(
        add("events.h5", "it is an HDF5 file"), make_events([0, 1], [0, 1], sensor_size=(2,), time_unit=None)
    )
    np.savez(add("arrays.npz", "a zip archive without torch's data.pkl"), x=np.ones(3))
    add("plain.pkl", "it is a Python pickle, not a torch archive").write_bytes(pickle.dumps({"a": 1}, protocol=4))
    torch.save({"format": "spikeforge-checkpoint", "evil": _Evil()}, add("evil.pt", "is not loadable safely"))
    raw = _checkpoint(tmp_path).read_bytes()
    add("torn.ckpt", "is corrupt or not loadable: the torch archive is truncated").write_bytes(raw[: len(raw) // 2])
    return files


def test_a_file_that_is_no_checkpoint_is_one_line_without_unsafe_advice(tmp_path: Path, capsys) -> None:
    """The old error carried torch's ~10-line ``weights_only`` message (advising ``weights_only=False``,
    unsafe for a file from anywhere) for a pickle, a warning for a protocol-4 pickle, and for a text file
    a bare 'pop from empty list' or '101' after the name."""
    for path, what in _not_checkpoints(tmp_path).values():
        for argv in (["export", str(path), "-o", str(tmp_path / "m.nir")], ["profile", str(path)]):
            err = _one_line(fails(capsys, *argv))
            assert f"'{path}'" in err and what in err, err
            assert "weights_only=False" not in err and "weights_only` set to `False" not in err, err
            assert "add_safe_globals" not in err and "pwned" not in err, err
        assert not (tmp_path / "m.nir").exists()


def test_the_reason_is_named_for_the_python_api_too(tmp_path: Path) -> None:
    from spikeforge.learning import CheckpointError, load_checkpoint

    files = _not_checkpoints(tmp_path)
    for name in ("notes.txt", "events.h5", "plain.pkl"):
        with pytest.raises(CheckpointError, match="is not a spikeforge checkpoint: "):
            load_checkpoint(files[name][0])
    with pytest.raises(CheckpointError, match=r"refuses its content \(Unsupported global: GLOBAL print\)"):
        load_checkpoint(files["evil.pt"][0])


def test_resume_from_a_file_that_is_no_checkpoint(tmp_path: Path, capsys) -> None:
    """``spikeforge train`` resumes from ``out_dir/checkpoint.pt``: a text file there is named as such."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_text("not a checkpoint\n")
    err = _one_line(fails(capsys, "train", "--out", str(out), "--set", "epochs=1", "--no-plots"))
    assert f"'{out / 'checkpoint.pt'}' is not a spikeforge checkpoint: it is a text file" in err


@pytest.mark.parametrize("flag", ["--nproc-per-cell", "--workers"])
@pytest.mark.parametrize("value", ["0", "-2"])
def test_sweep_process_counts_below_one(tmp_path: Path, capsys, monkeypatch, flag: str, value: str) -> None:
    """The old command listed the cells for --dry-run with --nproc-per-cell 0 or --workers 0 (exit 0)."""
    from spikeforge import sweep

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sweep file was read before the arguments were checked")

    monkeypatch.setattr(sweep, "load_sweep", no_work)
    spec = tmp_path / "s.yaml"
    spec.write_text("name: s\nfixed: {epochs: 1}\naxes: {seed: [0]}\n")
    for extra in (["--dry-run"], []):
        err = fails(capsys, "sweep", str(spec), "--out", str(tmp_path / "o"), flag, value, *extra)
        assert f"{flag} must be >= 1" in err and f"got {value}" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("sets", "key", "fix"),
    [
        (["tau_mem=1e-4"], "config key 'tau_mem'", "raise tau_mem to >= 0.001 s or lower dt to <= 0.0001 s"),
        (["dt=0.05", "tau_out=0.1"], "config key 'tau_mem'", "raise tau_mem to >= 0.05 s or lower dt to <= 0.005 s"),
        (["neuron=cuba_lif", "dt=0.008"], "config key 'dt'", "lower dt to <= 0.005 s"),
    ],
)
def test_train_time_constant_below_dt_names_config_keys(
    tmp_path: Path, capsys, sets: list[str], key: str, fix: str
) -> None:
    """The old error advised ``integrator='exp'``, which is no config key."""
    argv = ["train", "--out", str(tmp_path), "--set", "epochs=1", "--no-plots"]
    for s in sets:
        argv += ["--set", s]
    err = _one_line(fails(capsys, *argv))
    assert key in err and fix in err and "integrator" not in err, err


def test_the_python_api_still_offers_the_exp_integrator() -> None:
    from spikeforge.neurons.lif import LIF

    with pytest.raises(ValueError, match=r"use integrator='exp' \(exact for any tau_mem > 0\) or a smaller dt") as e:
        LIF(tau_mem=1e-4, dt=1e-3)
    again = pickle.loads(pickle.dumps(e.value))  # a sweep's worker process sends it back
    assert str(again) == str(e.value) and (again.name, again.tau, again.dt) == ("tau_mem", e.value.tau, 1e-3)


def test_import_dt_above_a_time_constant_names_dt(tmp_path: Path, capsys) -> None:
    """``spikeforge import --dt`` has no --integrator: the old advice (integrator='exp') could not be followed."""
    path = tmp_path / "m.nir"
    assert main(["export", str(_checkpoint(tmp_path)), "-o", str(path), "--dt", "1e-4"]) == 0
    capsys.readouterr()
    err = _one_line(fails(capsys, "import", str(path), "--dt", "0.05"))
    assert "node '1' (LIF): LIF steps by forward Euler, stable only for tau_mem >= dt" in err, err
    assert "dt=0.05 s (--dt): lower --dt to <= 0.0005 s or leave --dt out (the file was written for dt=0.0001 s)" in err
    assert "integrator" not in err
    err = _one_line(fails(capsys, "import", str(path), "--dt", "5e-4"))  # tau_mem is float32(5e-4) < 5e-4
    assert "its tau_mem is 0.00049999997 s and dt=0.0005 s (--dt): lower --dt to <= 0.00049999997 s" in err, err
    assert main(["import", str(path)]) == 0


def _events_h5(tmp_path: Path, name: str = "e.h5") -> Path:
    path = tmp_path / name
    write_events_h5(path, make_events([0, 6, 17], [1, 1, 0], sensor_size=(2,), time_unit=1e-6))
    return path


@pytest.mark.parametrize("n_events", [3, 3000])
def test_inspect_an_hdf5_file_as_atis_or_aedat(tmp_path: Path, capsys, n_events: int) -> None:
    """The old command read the HDF5 bytes as ATIS events: 'not a whole number of 5-byte ATIS events', or
    (for a size that is a multiple of 5) advice to call ``make_events(sort=True)``, a Python API call."""
    path = tmp_path / "e.h5"
    t = np.arange(n_events)
    write_events_h5(path, make_events(t, t % 2, sensor_size=(2,), time_unit=1e-6))
    with open(path, "ab") as f:  # a size that is a whole number of 5-byte ATIS events
        f.write(b"\0" * (-path.stat().st_size % 5))
    assert path.stat().st_size % 5 == 0 and main(["data", "inspect", str(path)]) == 0
    capsys.readouterr()
    for fmt in ("atis", "aedat"):
        err = _one_line(fails(capsys, "data", "inspect", str(path), "--format", fmt))
        assert (
            f"{path}: the file is HDF5 (its first bytes say so), not {fmt} events: use --format events_h5 "
            "or leave --format out" in err
        ), err
        assert "sort=True" not in err and "make_events" not in err
        err = _one_line(fails(capsys, "data", "convert", str(path), str(tmp_path / "o.h5"), "--from", fmt))
        assert "the file is HDF5" in err and "--format events_h5" in err


def test_hdf5_layout_and_extension_mismatches(tmp_path: Path, capsys) -> None:
    path = _events_h5(tmp_path)
    err = _one_line(fails(capsys, "data", "inspect", str(path), "--format", "shd_h5"))
    assert "the file has the events_h5 layout (a group 'events'), not shd_h5 (a group 'spikes')" in err
    renamed = tmp_path / "e.bin"  # detected as atis from the extension: leaving --format out does not help
    renamed.write_bytes(path.read_bytes())
    err = _one_line(fails(capsys, "data", "inspect", str(renamed)))
    assert err.rstrip().endswith("not atis events: use --format events_h5"), err
    aedat = tmp_path / "a.h5"
    aedat.write_bytes(b"#!AER-DAT3.1\r\n#End Of ASCII Header\r\n")
    err = _one_line(fails(capsys, "data", "inspect", str(aedat), "--format", "events_h5"))
    assert "the file is AEDAT (it starts with '#!AER-DAT'), not events_h5: use --format aedat" in err


def test_atis_time_stamps_that_go_back(tmp_path: Path, capsys) -> None:
    """Random bytes read as ATIS: the old error advised ``pass sort=True to make_events``."""
    path = tmp_path / "r.bin"
    path.write_bytes(bytes([1, 1, 0, 0, 9, 1, 1, 0, 0, 4]))  # t = 9 µs, then 4 µs
    err = _one_line(fails(capsys, "data", "inspect", str(path)))
    assert "time stamps are not sorted (event 1 at 4 µs follows one at 9 µs): not ATIS events" in err
    assert "sort=True" not in err
