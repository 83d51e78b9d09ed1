"""``spikeforge export`` / ``spikeforge import`` through the real CLI entry point."""

from __future__ import annotations

from pathlib import Path

import nir
import pytest
import torch

from spikeforge.interop.nir import from_nir


def _checkpoint(tmp_path: Path, **overrides: object) -> Path:
    from spikeforge.config import TrainConfig
    from spikeforge.learning.snapshot import save_checkpoint
    from spikeforge.models import build_model

    cfg = TrainConfig.from_dict({"hidden": (16,), "dt": 1e-3, **overrides})
    return save_checkpoint(tmp_path / "model.ckpt", model=build_model(cfg), epoch=0, config=cfg.to_dict())


def test_export_then_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spikeforge.cli.__main__ import main
    from spikeforge.learning.snapshot import load_model

    ckpt = _checkpoint(tmp_path, reset="value")
    out = tmp_path / "model.nir"
    assert main(["export", str(ckpt), "-o", str(out), "--dt", "1e-3"]) == 0
    text = capsys.readouterr()
    assert "wrote" in text.out and "encoder" in text.err
    graph = nir.read(out)  # nir's type check accepts the file
    assert graph.metadata["dt"] == pytest.approx(1e-3)
    # the exported body behaves exactly like the checkpoint's body
    body = load_model(ckpt).body
    xs = 3 * torch.rand(16, 2, 64)
    assert torch.equal(from_nir(out, dt=1e-3)(xs), body(xs).detach())

    assert main(["import", str(out), "--dt", "1e-3"]) == 0
    summary = capsys.readouterr().out
    assert "LIF" in summary and "LI " in summary and "Affine" in summary and "ModuleGraph" in summary


def test_export_warns_about_subtract_reset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spikeforge.cli.__main__ import main

    ckpt = _checkpoint(tmp_path)  # default reset="subtract"
    assert main(["export", str(ckpt), "-o", str(tmp_path / "m.nir")]) == 0
    assert "subtract" in capsys.readouterr().err


def test_import_of_corrupt_file_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spikeforge.cli.__main__ import main

    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 10)
    assert main(["import", str(bad)]) == 2
    assert "not a readable NIR file" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.ckpt"), "-o", str(tmp_path / "x.nir")]) == 2


def test_import_uses_the_recorded_dt_or_refuses_another(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spikeforge.cli.__main__ import main

    ckpt = _checkpoint(tmp_path, reset="value")
    out = tmp_path / "model.nir"
    assert main(["export", str(ckpt), "-o", str(out), "--dt", "1e-3"]) == 0
    capsys.readouterr()
    assert main(["import", str(out)]) == 0  # no --dt: the file's 1e-3 s, nothing to warn about
    text = capsys.readouterr()
    assert "written for dt=0.001 s" in text.out and "modules, dt=0.001 s" in text.out and "warning" not in text.err
    assert main(["import", str(out), "--dt", "5e-4"]) == 0
    assert "warning: the graph was written for dt=0.001 s but is imported with dt=0.0005 s" in capsys.readouterr().err
    assert main(["import", str(out), "--dt", "5e-4", "--strict-dt"]) == 2
    assert "written for dt=0.001 s" in capsys.readouterr().err
