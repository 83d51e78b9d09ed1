"""Two gloo processes on this machine (``spikeforge train --nproc 2``) train the same weights as one
process with the same global batch, and a 2-process run killed with SIGKILL after a checkpoint
resumes to the same weights as an uninterrupted one — also when killed inside an epoch after a
``checkpoint_every_steps`` checkpoint (and a single-process ``spikeforge train`` likewise).

The reference is an ordinary single-process ``run_training`` (torch's ``RandomSampler``, no
process group, no gradient exchange), so the sharded sampler, the weighted gradient all-reduce,
the parameter broadcast and the rank-0-only checkpoint are all checked against code they do not
share. Tolerance: float32 summation order (2 partial sums vs 1) — observed max |Δw| ≈ 1e-7.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from spikeforge.config import TrainConfig
from spikeforge.experiment import run_training
from spikeforge.learning import seed_everything
from spikeforge.models import build_model

# 1348 digits training samples, batch 64 -> 21 full batches + one of 4 (split 2 + 2): 22 steps per epoch
SETTINGS = {"hidden": [32], "steps": 4, "epochs": 2, "batch_size": 64, "lr": 0.02, "progress": False}
ATOL = 2e-6


def _args(out: Path, epochs: int, nproc: int = 2, **extra: Any) -> list[str]:
    sets = [f"{k}={v}".replace(" ", "") for k, v in {**SETTINGS, "epochs": epochs, **extra}.items()]
    return ["train", "--nproc", str(nproc), "--backend", "gloo", "--no-plots", "--out", str(out),
            *[a for s in sets for a in ("--set", s)]]


# one torch thread per worker; the torch reference neurons (no wait for a fused-kernel build, which
# another process may be compiling): the data-parallel math does not depend on the backend
ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "SPIKEFORGE_BACKEND": "torch"}


def _env() -> dict[str, str]:
    return {**os.environ, **ENV}


def _run(cmd: list[str], what: str, killed_stderr: Path | None = None) -> None:
    """Run ``cmd`` to the end; on failure show its stderr (and the killed run's, for a resumed one)."""
    res = subprocess.run(cmd, env=_env(), timeout=300, capture_output=True, text=True)
    if res.returncode != 0:
        killed = "" if killed_stderr is None else f"\nthe killed run's stderr:\n{killed_stderr.read_text()[-2000:]}"
        pytest.fail(f"{what} failed (exit {res.returncode}):\n{res.stderr[-4000:]}{killed}")


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ddp")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    patch = pytest.MonkeyPatch()
    patch.setenv("SPIKEFORGE_BACKEND", "torch")
    try:
        cfg = TrainConfig.from_dict({**SETTINGS, "out_dir": str(root / "one")})
        run_training(cfg, resume=False, plots=False)
    finally:
        torch.set_num_threads(threads)
        patch.undo()
    _run([sys.executable, "-m", "spikeforge", *_args(root / "two", 2)], "the uninterrupted 2-process run")
    seed_everything(cfg.seed)  # run_training's first step: the initial weights
    init = build_model(cfg).state_dict()
    return {"root": root, "init": init, "one": _weights(root / "one"),
            "two": _weights(root / "two")}


def test_two_processes_train_the_single_process_weights(runs: dict[str, Any]) -> None:
    one, two, init = runs["one"], runs["two"], runs["init"]
    assert one.keys() == two.keys()
    moved = max(float((one[k] - init[k]).abs().max()) for k in one)
    assert moved > 1000 * ATOL, "training barely moved the weights; the comparison would be vacuous"
    for k in one:
        torch.testing.assert_close(two[k], one[k], atol=ATOL, rtol=0, msg=f"{k}: 2 processes != 1 process")
    ckpt = torch.load(runs["root"] / "two" / "checkpoint.pt", weights_only=True)
    assert ckpt["sampler"] == {"seed": 1, "position": 22, "batch_size": 64, "n": 1348}  # epoch 2 = seed 0·100003+1
    assert not list((runs["root"] / "two").glob("*.tmp"))


def test_killed_two_process_run_resumes_to_the_same_weights(runs: dict[str, Any]) -> None:
    out = runs["root"] / "killed"
    cmd = [sys.executable, "-m", "spikeforge", *_args(out, 2)]
    killed = _kill_after_first_checkpoint(cmd, out / "checkpoint.pt", out.with_name("killed.stderr"))
    assert int(killed["epoch"]) == 1 and not (out / "report.json").exists(), "the run finished before it was killed"
    _run(cmd, "the resumed run", out.with_name("killed.stderr"))
    resumed = torch.load(out / "checkpoint.pt", weights_only=True)
    assert int(resumed["epoch"]) == 2
    for k, w in runs["two"].items():  # same processes, same order of sums: bit-identical
        assert torch.equal(resumed["model"][k], w), f"{k}: resumed run != uninterrupted run"


def _group_alive(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that still run (not zombies); Linux ``/proc``, else ``[]``."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            alive.append(int(stat.parent.name))
    return alive


def _kill_after_first_checkpoint(cmd: list[str], ckpt: Path, stderr: Path | None = None) -> dict[str, Any]:
    """Start ``cmd``, SIGKILL it (launcher and ranks) once ``ckpt`` exists; the checkpoint it left.

    Returns only when every process of the killed run has exited (a SIGKILLed process in the
    middle of a system call, e.g. ``fsync``, still holds its files and sockets until it returns),
    so the resumed run never overlaps with the killed one."""
    with open(stderr if stderr is not None else os.devnull, "wb") as err:
        proc = subprocess.Popen(cmd, env=_env(), start_new_session=True,  # own process group: launcher + ranks
                                stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 240
    try:
        while not ckpt.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both ranks, at once
        proc.wait()
        gone = time.monotonic() + 60
        while _group_alive(proc.pid) and time.monotonic() < gone:
            time.sleep(0.01)
    assert not _group_alive(proc.pid), f"processes {_group_alive(proc.pid)} of the killed run outlived SIGKILL"
    assert ckpt.is_file(), "no checkpoint was written before the deadline"
    return torch.load(ckpt, weights_only=True)


@pytest.mark.parametrize("nproc", [1, 2])
def test_run_killed_mid_epoch_resumes_to_the_same_weights(runs: dict[str, Any], nproc: int) -> None:
    # a checkpoint every 2 of the 22 steps per epoch: the kill lands inside epoch 1
    out = runs["root"] / f"mid{nproc}"
    cmd = [sys.executable, "-m", "spikeforge", *_args(out, 2, nproc, checkpoint_every_steps=2)]
    killed = _kill_after_first_checkpoint(cmd, out / "checkpoint.pt", out.with_name(f"mid{nproc}.killed.stderr"))
    step = int(killed.get("step", 0))
    assert int(killed["epoch"]) == 0 and 2 <= step < 22, "the run was not killed inside its first epoch"
    assert killed["sampler"]["position"] == step and killed["partial"]["n"] == 64 * step
    _run(cmd, f"the resumed {nproc}-process run", out.with_name(f"mid{nproc}.killed.stderr"))
    resumed = torch.load(out / "checkpoint.pt", weights_only=True)
    assert int(resumed["epoch"]) == 2 and "step" not in resumed
    report = json.loads((out / "report.json").read_text())
    assert (report["resumed_from_epoch"], report["resumed_from_step"]) == (0, step)
    reference = runs["two" if nproc == 2 else "one"]  # same process count, same sums: bit-identical
    for k, w in reference.items():
        assert torch.equal(resumed["model"][k], w), f"{k}: resumed mid-epoch != uninterrupted ({nproc} processes)"
