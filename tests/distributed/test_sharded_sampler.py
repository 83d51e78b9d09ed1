"""ShardedBatchSampler against torch's own RandomSampler + DataLoader batching (independent code),
and the refusals of impossible splits (in process, fast)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, RandomSampler

from spikeforge.learning.distributed import ShardedBatchSampler


def _torch_batches(n: int, batch: int, seed: int) -> list[list[int]]:
    sampler = RandomSampler(range(n), generator=torch.Generator().manual_seed(seed))
    return [b.tolist() for b in DataLoader(range(n), batch_size=batch, sampler=sampler)]


@pytest.mark.parametrize(("n", "batch", "world"), [(50, 8, 1), (50, 8, 2), (51, 8, 3), (47, 10, 4), (64, 16, 2)])
def test_shards_concatenate_to_the_single_process_batches(n: int, batch: int, world: int) -> None:
    seed = 100_003 * 3 + 2  # the per-epoch seed spikeforge.experiment uses (seed 3, epoch 2)
    samplers = [ShardedBatchSampler(n, batch, r, world) for r in range(world)]
    for s in samplers:
        s.set_epoch(seed)
    per_rank = [list(s) for s in samplers]
    assert len({len(p) for p in per_rank}) == 1  # every rank takes the same number of steps
    joined = [sum((p[k] for p in per_rank), []) for k in range(len(per_rank[0]))]
    assert joined == _torch_batches(n, batch, seed)
    for k in range(len(joined)):  # near-equal, non-empty shares
        sizes = [len(p[k]) for p in per_rank]
        assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1


def test_state_dict_resumes_at_the_position() -> None:
    a = ShardedBatchSampler(50, 8, 1, 2)
    a.set_epoch(7)
    it = iter(a)
    head = [next(it), next(it), next(it)]
    state = a.state_dict()
    assert state == {"seed": 7, "position": 3, "batch_size": 8, "n": 50}
    b = ShardedBatchSampler(50, 8, 1, 2)
    b.load_state_dict(state)
    full = ShardedBatchSampler(50, 8, 1, 2)
    full.set_epoch(7)
    assert head + list(b) == list(full)
    with pytest.raises(ValueError, match="does not match"):
        ShardedBatchSampler(60, 8, 1, 2).load_state_dict(state)


@pytest.mark.parametrize(("n", "batch", "world", "match"), [
    (3, 8, 4, "fewer than the 4 processes; use at most 3"),
    (0, 8, 1, "training split is empty"),
    (50, 2, 3, "batch_size 2 .* smaller than the 3 processes"),
    (49, 8, 2, "last batch of each epoch holds 1 samples"),
])
def test_impossible_splits_are_refused(n: int, batch: int, world: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ShardedBatchSampler(n, batch, 0, world)
