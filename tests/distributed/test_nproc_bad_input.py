"""``spikeforge train --nproc`` refuses impossible requests before any process starts."""

from __future__ import annotations

import pytest
import torch

from spikeforge.cli.__main__ import main
from spikeforge.sweep import SweepError, load_sweep


@pytest.mark.parametrize(("argv", "message"), [
    (["--nproc", "0"], "--nproc must be >= 1, got 0"),
    (["--nproc", "3", "--set", "batch_size=2"], "batch_size 2 (the global batch) is smaller than the 3 processes"),
    (["--nproc", "2", "--set", "iir_steps=[2,1]"], "run in one process only"),
])
def test_bad_nproc_requests_fail_clearly(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                         tmp_path: object) -> None:
    assert main(["train", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_nccl_without_cuda_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    assert main(["train", "--nproc", "2", "--backend", "nccl", "--out", str(tmp_path)]) == 2
    assert "backend 'nccl' needs CUDA" in capsys.readouterr().err


def test_nproc_inside_torchrun_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: object,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--nproc", "2", "--out", str(tmp_path)]) == 2
    assert "let torchrun start the processes" in capsys.readouterr().err


@pytest.mark.parametrize("nproc", [0, "two", True])
def test_sweep_nproc_must_be_a_positive_integer(nproc: object) -> None:
    with pytest.raises(SweepError, match="nproc must be an integer >= 1"):
        load_sweep({"name": "t", "fixed": {"epochs": 1}, "axes": {"seed": [0]}, "nproc": nproc})
