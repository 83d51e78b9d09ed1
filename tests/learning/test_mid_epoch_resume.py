"""``fit(checkpoint_every_steps=k)``: a run killed inside an epoch resumes from the last step
checkpoint to the weights and history of the uninterrupted run, bit for bit (one process).

The reference is the same training run without interruption; the killed run stops when it asks
for a batch after its step-``k`` checkpoint was written, and a fresh model, optimizer and sampler
resume from that file. The Poisson encoder and SLTT-K's random steps draw from the global RNG, and
the ``DataLoader`` draws its base seed from it when an epoch's iteration starts, so an RNG state or a
sampler position restored at the wrong moment changes the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader

from spikeforge.config import TrainConfig
from spikeforge.experiment import make_loaders, training_mode
from spikeforge.learning import LOSSES, fit, load_checkpoint, seed_everything
from spikeforge.learning.distributed import ShardedBatchSampler
from spikeforge.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")

EVERY = 3


class _Killed(RuntimeError):
    pass


class _KillAt:
    """A loader that raises when its ``at``-th batch (counted over the whole run, from 0) is asked for."""

    def __init__(self, loader: DataLoader[Any], at: int | None) -> None:
        self.loader, self.at, self.count = loader, at, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        return self._batches(iter(self.loader))  # iter() now, as fit expects: its RNG draw happens here

    def _batches(self, loader: Iterator[Any]) -> Iterator[Any]:
        for batch in loader:
            if self.count == self.at:
                raise _Killed
            self.count += 1
            yield batch


def _train(cfg: TrainConfig, ckpt: Path, *, kill_at: int | None = None, resume: bool = False,
           every: int = EVERY) -> tuple[torch.nn.Module, Any]:
    seed_everything(cfg.seed)
    train, _, _ = make_loaders(cfg)
    sampler = ShardedBatchSampler(len(train.dataset), cfg.batch_size)  # type: ignore[arg-type]
    loader = _KillAt(DataLoader(train.dataset, batch_sampler=sampler), kill_at)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    result = fit(model, loader, loss_fn=LOSSES.get(cfg.loss), optimizer=opt, epochs=cfg.epochs, checkpoint=ckpt,
                 resume=resume, config=cfg.to_dict(), progress=False, set_epoch=lambda e: sampler.set_epoch(7 + e),
                 mode=training_mode(cfg), sampler=sampler, checkpoint_every_steps=every)
    return model, result


@pytest.mark.parametrize("mode", ["bptt", "sltt-k"])
def test_run_killed_mid_epoch_resumes_to_the_uninterrupted_weights(tmp_path: Path, mode: str) -> None:
    cfg = TrainConfig(data="iris", encoder="poisson", steps=5, hidden=(16,), epochs=2, batch_size=16, lr=3e-2,
                      train_mode=mode, online_k=2)
    seed_everything(cfg.seed)
    init = build_model(cfg).state_dict()
    full, full_result = _train(cfg, tmp_path / "full.pt", every=0)  # no step checkpoints in the reference
    steps = -(-len(make_loaders(cfg)[0].dataset) // 16)  # type: ignore[arg-type]  # iris: 112 samples -> 7
    kill_at = steps + 5  # in epoch 2, after its step-3 checkpoint, before step 6's
    with pytest.raises(_Killed):
        _train(cfg, tmp_path / "run.pt", kill_at=kill_at)
    saved = load_checkpoint(tmp_path / "run.pt")
    assert (saved["epoch"], saved["step"], saved["sampler"]["position"]) == (1, 3, 3)
    assert saved["partial"]["n"] == 3 * 16 and len(saved["history"]) == 1
    resumed, result = _train(cfg, tmp_path / "run.pt", resume=True)
    assert (result.resumed_from_epoch, result.resumed_from_step) == (1, 3)
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), f"{k}: resumed mid-epoch != uninterrupted"
    moved = max(float((w - init[k]).abs().max()) for k, w in full.state_dict().items())
    assert moved > 1e-3, "training barely moved the weights; the comparison would be vacuous"
    for a, b in zip(full_result.history, result.history):  # the interrupted epoch's row too
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def test_mid_epoch_checkpoints_need_a_sampler_and_a_path(tmp_path: Path) -> None:
    cfg = TrainConfig(data="iris", steps=3, hidden=(8,), epochs=1, batch_size=16)
    model = build_model(cfg)
    train, _, _ = make_loaders(cfg)
    n = len(train.dataset)  # type: ignore[arg-type]
    opt = torch.optim.Adam(model.parameters())
    kw: dict[str, Any] = {"loss_fn": LOSSES.get(cfg.loss), "optimizer": opt, "epochs": 1, "progress": False}
    with pytest.raises(ValueError, match="needs a resumable batch sampler"):
        fit(model, train, checkpoint=tmp_path / "c.pt", checkpoint_every_steps=2, **kw)
    with pytest.raises(ValueError, match="needs a checkpoint path"):
        fit(model, train, checkpoint_every_steps=2, sampler=ShardedBatchSampler(n, 16), **kw)
    with pytest.raises(ValueError, match="must be an int >= 0"):
        fit(model, train, checkpoint=tmp_path / "c.pt", checkpoint_every_steps=-1, **kw)
    # a mid-epoch checkpoint cannot be resumed without the sampler that knows where the epoch stopped
    sampler = ShardedBatchSampler(n, 16)
    with pytest.raises(_Killed):
        fit(model, _KillAt(DataLoader(train.dataset, batch_sampler=sampler), 3), checkpoint=tmp_path / "c.pt",
            checkpoint_every_steps=2, sampler=sampler, **kw)
    with pytest.raises(ValueError, match="written inside epoch 1 .after step 2.; resuming it needs"):
        fit(model, train, checkpoint=tmp_path / "c.pt", resume=True, **kw)
