"""Checkpoints: exact resume, safe loading, clear errors for broken files."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.config import TrainConfig
from spikeforge.experiment import make_loaders
from spikeforge.learning import CheckpointError, LOSSES, fit, load_checkpoint, load_model, seed_everything
from spikeforge.learning.snapshot import save_checkpoint, set_rng_state
from spikeforge.models import build_model


class _Killed(RuntimeError):
    pass


def _train(cfg: TrainConfig, ckpt, *, kill_at: int | None = None, resume: bool = False,
           ran: list[int] | None = None):
    seed_everything(cfg.seed)
    train, _, sampler = make_loaders(cfg)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)

    def set_epoch(e: int) -> None:
        if kill_at is not None and e == kill_at:
            raise _Killed(f"killed before epoch {e + 1}")
        if ran is not None:
            ran.append(e)
        sampler.generator.manual_seed(1000 + e)

    result = fit(model, train, loss_fn=LOSSES.get(cfg.loss), optimizer=opt, epochs=cfg.epochs, scheduler=sched,
                 checkpoint=ckpt, resume=resume, config=cfg.to_dict(), progress=False, set_epoch=set_epoch)
    return model, opt, result


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_resume_after_kill_equals_uninterrupted(tmp_path):
    # stochastic (Poisson) encoder + shuffling + scheduler: all must be restored exactly
    cfg = TrainConfig(data="iris", encoder="poisson", steps=6, hidden=(24,), epochs=4, batch_size=16, lr=3e-2)
    full, full_opt, _ = _train(cfg, tmp_path / "full.pt")
    with pytest.raises(_Killed):
        _train(cfg, tmp_path / "run.pt", kill_at=2)  # dies after 2 epochs are checkpointed
    assert load_checkpoint(tmp_path / "run.pt")["epoch"] == 2
    two = _params(load_model(tmp_path / "run.pt"))  # the state the kill left behind
    ran: list[int] = []
    resumed, resumed_opt, result = _train(cfg, tmp_path / "run.pt", resume=True, ran=ran)
    # a resume, not a fresh deterministic rerun of all four epochs
    assert result.resumed_from_epoch == 2 and ran == [2, 3]
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    assert resumed_opt.state_dict()["state"][0]["step"] == full_opt.state_dict()["state"][0]["step"]
    # and the kill really mattered: the 2-epoch weights differ from the 4-epoch ones
    assert not all(torch.equal(a, b) for a, b in zip(two, full.parameters()))


def test_resume_restores_weights_and_every_rng(tmp_path):
    cfg = TrainConfig(hidden=(8,), epochs=1, steps=3, batch_size=256)
    trained, _, _ = _train(cfg, tmp_path / "c.pt")
    # the RNG states were saved at the end of the epoch and nothing has drawn since
    expected = (torch.rand(4), np.random.random(4), [random.random() for _ in range(4)])
    seed_everything(cfg.seed)
    model = build_model(cfg)  # freshly initialised, as in a new process
    assert not all(torch.equal(a, b) for a, b in zip(_params(model), trained.parameters()))
    torch.manual_seed(7), np.random.seed(7), random.seed(7)  # RNGs somewhere else
    train, _, _ = make_loaders(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    result = fit(model, train, loss_fn=LOSSES.get(cfg.loss), optimizer=opt, epochs=1, checkpoint=tmp_path / "c.pt",
                 resume=True, progress=False)  # nothing left to train: only the restore happens
    assert result.resumed_from_epoch == 1 and len(result.history) == 1
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), trained.parameters()))
    got = (torch.rand(4), np.random.random(4), [random.random() for _ in range(4)])
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1])
    assert got[2] == expected[2]


def test_rng_states_round_trip_through_a_file_with_cached_gaussians(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    np.random.normal()  # numpy's legacy generator now holds a cached second Gaussian (has_gauss = 1)
    random.seed(3)
    random.gauss(0.0, 1.0)  # so does Python's (gauss_next)
    save_checkpoint(tmp_path / "r.pt", model=nn.Linear(2, 2), epoch=0)

    def draw():
        return (torch.rand(3), np.random.normal(size=3), np.random.random(3), random.gauss(0.0, 1.0),
                [random.random() for _ in range(3)])

    expected = draw()
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    set_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    got = draw()
    assert torch.equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1]) and np.array_equal(got[2], expected[2])
    assert got[3] == expected[3] and got[4] == expected[4]


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


def _same(a, b) -> bool:
    """Deep equality of loaded checkpoint contents (tensors bit for bit)."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.dtype == b.dtype
                and a.shape == b.shape and torch.equal(a.view(-1).view(torch.uint8), b.view(-1).view(torch.uint8)))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _flip(raw: bytes, at: int, n: int = 64) -> bytes:
    return raw[:at] + bytes(b ^ 0xFF for b in raw[at:at + n]) + raw[at + n:]


def test_flipped_bytes_never_load_silently(tmp_path):
    cfg = TrainConfig(hidden=(8,), epochs=1, steps=3, batch_size=256)
    _, opt, _ = _train(cfg, tmp_path / "c.pt")
    raw = (tmp_path / "c.pt").read_bytes()
    original = load_checkpoint(tmp_path / "c.pt")
    # 64 bytes inside the first Adam moment: torch.load alone returns changed optimizer values
    at = raw.find(opt.state_dict()["state"][0]["exp_avg"].numpy().tobytes()[:64])
    assert at > 0
    (tmp_path / "bad.pt").write_bytes(_flip(raw, at))
    changed = torch.load(tmp_path / "bad.pt", weights_only=True)
    assert not _same(changed["optimizer"], original["optimizer"])
    with pytest.raises(CheckpointError, match="failed its integrity check"):
        load_checkpoint(tmp_path / "bad.pt")
    # anywhere in the file: either a clear error or exactly the saved content (zip padding)
    for at in range(0, len(raw) - 64, max(64, len(raw) // 48)):
        (tmp_path / "bad.pt").write_bytes(_flip(raw, at))
        try:
            loaded = load_checkpoint(tmp_path / "bad.pt")
        except CheckpointError:
            continue
        assert _same(loaded, original), f"flipping 64 bytes at offset {at} loaded changed content"


def test_kill_while_saving_keeps_the_old_checkpoint_and_the_next_fit_removes_the_partial_file(tmp_path, monkeypatch):
    cfg = TrainConfig(hidden=(8,), epochs=1, steps=3, batch_size=256)
    model, _, _ = _train(cfg, tmp_path / "c.pt")
    before = (tmp_path / "c.pt").read_bytes()

    def killed(src, dst):
        raise _Killed("killed between writing the temp file and renaming it")

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(_Killed):
        save_checkpoint(tmp_path / "c.pt", model=model, epoch=2)
    monkeypatch.undo()
    assert (tmp_path / "c.pt.tmp").is_file() and (tmp_path / "c.pt").read_bytes() == before
    with pytest.warns(UserWarning, match="partial checkpoint"):
        _, _, result = _train(cfg, tmp_path / "c.pt", resume=True)
    assert not (tmp_path / "c.pt.tmp").exists() and result.resumed_from_epoch == 1


def test_save_syncs_the_file_to_disk_before_renaming_it(tmp_path, monkeypatch):
    events: list[tuple[str, bool]] = []
    tmp = tmp_path / "c.pt.tmp"
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", tmp.exists() and os.path.samestat(os.fstat(fd), os.stat(tmp))))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.fspath(src) == os.fspath(tmp)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    save_checkpoint(tmp_path / "c.pt", model=nn.Linear(2, 2), epoch=0)
    assert ("fsync", True) in events and ("replace", True) in events
    assert events.index(("fsync", True)) < events.index(("replace", True))
