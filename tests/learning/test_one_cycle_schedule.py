"""``scheduler: one_cycle``: OneCycleLR stepped after every optimizer step, each parameter group
(weights, delay positions) peaking at its own configured rate, exact resume from a mid-epoch
checkpoint, and clear errors for bad values.

The learning rates are checked against the one-cycle curve written out by hand in float64 (cosine
warm-up from peak/25 to the peak over 30 % of the steps, cosine annealing to peak/(25 · 1e4)); the
resume test compares against the uninterrupted run and fails when the scheduler state is not restored
(checked by skipping ``scheduler.load_state_dict`` in ``fit``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from spikeforge import experiment
from spikeforge.config import ConfigError, TrainConfig, load_config
from spikeforge.learning import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS = 4  # synthetic_shd: 400 training samples, batch 100


def _cfg(out: Path, **kw: Any) -> TrainConfig:
    return TrainConfig.from_dict({"data": "synthetic_shd", "model": "dcls", "hidden": (8,), "delay_taps": 3,
                                  "channel_pool": 5, "loss": "ce_softmax_sum", "dt": 10e-3, "epochs": 2,
                                  "batch_size": 100, "lr": 5e-3, "lr_positions": 0.2, "scheduler": "one_cycle",
                                  "progress": False, "out_dir": str(out), **kw})


def _one_cycle(i: int, total: int, peak: float) -> float:
    """The rate used by optimizer step ``i`` (0-based) of ``total``, by hand."""
    start, end = peak / 25.0, peak / 25.0 / 1e4
    warm = 0.3 * total - 1.0  # the step at which the peak is reached
    if i <= warm:
        a, b, frac = start, peak, i / warm
    else:
        a, b, frac = peak, end, (i - warm) / (total - 1.0 - warm)
    return b + (a - b) / 2.0 * (1.0 + math.cos(math.pi * frac))


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[list[float]]:
    """Record every group's rate at each optimizer step of run_training."""
    seen: list[list[float]] = []
    real = experiment.delay_optimizer

    def make(*args: Any, **kw: Any) -> torch.optim.Optimizer:
        opt = real(*args, **kw)
        opt.register_step_pre_hook(lambda o, *_: seen.append([float(g["lr"]) for g in o.param_groups]))
        return opt

    monkeypatch.setattr(experiment, "delay_optimizer", make)
    return seen


def test_each_group_follows_its_own_one_cycle_every_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _recording(monkeypatch)
    report = experiment.run_training(_cfg(tmp_path), plots=False, resume=False)
    total = 2 * STEPS
    assert len(seen) == total
    for i, (w, p) in enumerate(seen):
        assert w == pytest.approx(_one_cycle(i, total, 5e-3), rel=1e-9, abs=0), f"weights, step {i}"
        assert p == pytest.approx(_one_cycle(i, total, 0.2), rel=1e-9, abs=0), f"positions, step {i}"
    assert len({w for w, _ in seen}) == total  # a new rate every step, not every epoch
    assert max(w for w, _ in seen) <= 5e-3 * (1 + 1e-12) and max(p for _, p in seen) <= 0.2 * (1 + 1e-12)
    assert [row["lr"] for row in report.history] == [seen[0][0], seen[STEPS][0]]


class _Killed(RuntimeError):
    pass


def test_run_killed_mid_epoch_resumes_the_cycle_bit_identically(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    kw = {"checkpoint_every_steps": 2, "encoder": "direct"}
    experiment.run_training(_cfg(tmp_path / "full", **kw), plots=False, resume=False)
    real_fit = experiment.fit

    def killing_fit(model: Any, train: Any, **fkw: Any) -> Any:  # dies asking for epoch 2's 4th batch
        class Dying:
            def __len__(self) -> int:
                return len(train)

            def __iter__(self) -> Any:
                inner, epoch = iter(train), len(seen_epochs)
                seen_epochs.append(0)

                def gen() -> Any:
                    for k, b in enumerate(inner):
                        if epoch == 1 and k == 3:
                            raise _Killed
                        yield b
                return gen()
        seen_epochs: list[int] = []
        return real_fit(model, Dying(), **fkw)

    monkeypatch.setattr(experiment, "fit", killing_fit)
    with pytest.raises(_Killed):
        experiment.run_training(_cfg(tmp_path / "run", **kw), plots=False, resume=False)
    monkeypatch.setattr(experiment, "fit", real_fit)
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert (saved["epoch"], saved["step"]) == (1, 2)
    assert saved["scheduler"]["last_epoch"] == STEPS + 2  # stepped per optimizer step, saved with them
    resumed = experiment.run_training(_cfg(tmp_path / "run", **kw), plots=False)
    assert (resumed.resumed_from_epoch, resumed.resumed_from_step) == (1, 2)
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), f"{k}: resumed != uninterrupted"
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 2 * STEPS


def test_one_cycle_run_refuses_a_new_length_and_bad_values(tmp_path: Path) -> None:
    experiment.run_training(_cfg(tmp_path, epochs=1), plots=False, resume=False)
    with pytest.raises(ConfigError, match="one-cycle schedule over 1 epochs"):
        experiment.run_training(_cfg(tmp_path, epochs=2), plots=False)
    for bad in ("onecycle", "One_Cycle", "step"):
        with pytest.raises(ConfigError, match="'scheduler'.*'cosine', 'one_cycle' or 'none'"):
            load_config(None, [f"scheduler={bad}"])
