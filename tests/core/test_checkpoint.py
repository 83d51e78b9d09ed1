"""Checkpoints: exact resume, safe loading, clear errors for broken files."""

from __future__ import annotations

import pytest
import torch

from spikeforge.config import TrainConfig
from spikeforge.experiment import make_loaders
from spikeforge.learning import CheckpointError, LOSSES, fit, load_checkpoint, load_model, seed_everything
from spikeforge.models import build_model


class _Killed(RuntimeError):
    pass


def _train(cfg: TrainConfig, ckpt, *, kill_at: int | None = None, resume: bool = False):
    seed_everything(cfg.seed)
    train, _, sampler = make_loaders(cfg)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)

    def set_epoch(e: int) -> None:
        if kill_at is not None and e == kill_at:
            raise _Killed(f"killed before epoch {e + 1}")
        sampler.generator.manual_seed(1000 + e)

    fit(model, train, loss_fn=LOSSES.get(cfg.loss), optimizer=opt, epochs=cfg.epochs, scheduler=sched,
        checkpoint=ckpt, resume=resume, config=cfg.to_dict(), progress=False, set_epoch=set_epoch)
    return model, opt


def test_resume_after_kill_equals_uninterrupted(tmp_path):
    # stochastic (Poisson) encoder + shuffling + scheduler: all must be restored exactly
    cfg = TrainConfig(data="digits", encoder="poisson", steps=6, hidden=(24,), epochs=4, batch_size=128, lr=3e-3)
    full, full_opt = _train(cfg, tmp_path / "full.pt")
    with pytest.raises(_Killed):
        _train(cfg, tmp_path / "run.pt", kill_at=2)  # dies after 2 epochs are checkpointed
    assert load_checkpoint(tmp_path / "run.pt")["epoch"] == 2
    resumed, resumed_opt = _train(cfg, tmp_path / "run.pt", resume=True)
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    assert resumed_opt.state_dict()["state"][0]["step"] == full_opt.state_dict()["state"][0]["step"]
    # and the kill really mattered: 2 epochs differ from 4
    two = load_model(tmp_path / "run.pt")  # now at epoch 4
    assert all(torch.equal(a, b) for a, b in zip(two.state_dict().values(), full.state_dict().values()))


def test_checkpoint_loads_with_weights_only(tmp_path):
    cfg = TrainConfig(hidden=(8,), epochs=1, steps=3, batch_size=256)
    _train(cfg, tmp_path / "c.pt")
    payload = torch.load(tmp_path / "c.pt", weights_only=True)
    assert payload["epoch"] == 1 and payload["config"]["hidden"] == [8]
    model = load_model(tmp_path / "c.pt")
    assert not model.training


def test_corrupt_and_foreign_checkpoints(tmp_path):
    cfg = TrainConfig(hidden=(8,), epochs=1, steps=3, batch_size=256)
    _train(cfg, tmp_path / "c.pt")
    raw = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "torn.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="corrupt or not loadable"):
        load_checkpoint(tmp_path / "torn.pt")
    torch.save({"weights": torch.ones(2)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a spikeforge checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_unsafe_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"format": "spikeforge-checkpoint", "evil": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not loadable safely"):
        load_checkpoint(tmp_path / "evil.pt")
