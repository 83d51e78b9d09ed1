"""One rank of ``test_ddp_online_modes.py``: trains a tiny float64 ``nn.Sequential`` with every
training mode through ``fit`` and saves the weights (``python ddp_online_worker.py OUT_DIR`` with
``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT`` set). :func:`train` without a process
group is the single-process reference: torch's ``RandomSampler`` + ``DataLoader`` batching, no
gradient exchange. :func:`stochastic` trains a model with random spike deletion in its forward
pass, uninterrupted and interrupted inside epoch 2 then resumed from the step checkpoint.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

from spikeforge.learning import LOSSES, fit
from spikeforge.learning.modes import get_training_mode
from spikeforge.learning import distributed as dist_
from spikeforge.neurons import LIF

D = torch.float64
N, T, F, C = 43, 6, 5, 3  # samples, steps, inputs, classes: global batch 8 -> 5 batches of 8 and one of 3
BATCH, EPOCHS, SEED = 8, 2, 11
MODES = {"bptt": {}, "sltt": {}, "sltt-k": {"k": 2}, "ottt": {"decay": 0.8}}


def dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(N, T, F, generator=g, dtype=D) < 0.4).to(D)  # [N, T, F] binary spikes
    y = torch.randint(0, C, (N,), generator=g)
    return TensorDataset(x, y)


def time_major(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.stack([b[0] for b in batch])  # [B, T, F]
    return x.transpose(0, 1).contiguous(), torch.stack([b[1] for b in batch])  # [T, B, F], [B]


def model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(F, 12, dtype=D), LIF.from_decay(0.8, backend="torch", dtype=D),
                         nn.Linear(12, C, dtype=D))


def train(mode: str, env: dist_.DistEnv | None = None) -> dict[str, torch.Tensor]:
    """Final weights after ``EPOCHS`` epochs of ``mode`` (global batch ``BATCH``; SLTT-K's steps from the
    global RNG, seeded alike on every rank)."""
    data = dataset()
    net = model()
    torch.manual_seed(1)  # SLTT-K's step draws
    if env is None:
        g = torch.Generator()
        loader = DataLoader(data, batch_size=BATCH, sampler=RandomSampler(data, generator=g), collate_fn=time_major)
        sampler = None

        def set_epoch(e: int) -> None:
            g.manual_seed(SEED + e)
    else:
        sampler = dist_.ShardedBatchSampler(N, BATCH, env.rank, env.world_size)
        loader = DataLoader(data, batch_sampler=sampler, collate_fn=time_major)

        def set_epoch(e: int) -> None:
            sampler.set_epoch(SEED + e)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    fit(net, loader, loss_fn=LOSSES.get("ce_membrane"), optimizer=opt, epochs=EPOCHS, progress=False,
        set_epoch=set_epoch, mode=get_training_mode(mode, **MODES[mode]), distributed=env, sampler=sampler)
    return {k: v.clone() for k, v in net.state_dict().items()}


class Delete(nn.Module):
    """Drops each input spike with probability 0.2 (global torch RNG: as many draws as samples)."""

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        return xs * (torch.rand_like(xs) >= 0.2)  # [T, B, F]


class Killed(RuntimeError):
    pass


class KillAt:
    """Batches of ``loader``; raises :class:`Killed` before batch ``at`` of the run (counted from 0)."""

    def __init__(self, loader: DataLoader[Any], at: int | None) -> None:
        self.loader, self.at, self.count = loader, at, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        return self._batches(iter(self.loader))  # iter() now, as a DataLoader's (its RNG draw)

    def _batches(self, batches: Iterator[Any]) -> Iterator[Any]:
        for batch in batches:
            if self.count == self.at:
                raise Killed
            self.count += 1
            yield batch


def stochastic(env: dist_.DistEnv, ckpt: Path, *, kill_at: int | None = None, resume: bool = False,
               every: int = 2) -> dict[str, torch.Tensor]:
    """BPTT with random spike deletion; 6 steps per epoch (the last share uneven: 2 + 1 samples)."""
    net = nn.Sequential(Delete(), *model())
    torch.manual_seed(2)  # every rank seeded alike, as spikeforge train does
    sampler = dist_.ShardedBatchSampler(N, BATCH, env.rank, env.world_size)
    loader = KillAt(DataLoader(dataset(), batch_sampler=sampler, collate_fn=time_major), kill_at)
    fit(net, loader, loss_fn=LOSSES.get("ce_membrane"), optimizer=torch.optim.Adam(net.parameters(), lr=0.05),
        epochs=EPOCHS, progress=False, set_epoch=lambda e: sampler.set_epoch(SEED + e), distributed=env,
        sampler=sampler, checkpoint=ckpt, checkpoint_every_steps=every, resume=resume)
    return {k: v.clone() for k, v in net.state_dict().items()}


def main(out: Path) -> None:
    torch.set_num_threads(1)
    env = dist_.init_from_env("gloo")
    assert env is not None, "run with WORLD_SIZE > 1"
    try:
        weights = {mode: train(mode, env) for mode in MODES}
        weights["stochastic"] = stochastic(env, out / "full.pt", every=0)
        try:
            stochastic(env, out / "killed.pt", kill_at=6 + 3)  # epoch 2 after step 3; its step-2 checkpoint
        except Killed:
            pass
        weights["stochastic_resumed"] = stochastic(env, out / "killed.pt", resume=True)
        torch.save(weights, out / f"rank{env.rank}.pt")
    finally:
        import torch.distributed as dist

        dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
