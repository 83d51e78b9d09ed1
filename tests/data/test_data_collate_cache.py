"""Batching to [T, B, ...], bucketing, on-disk cache and multi-worker loading."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.utils.data import DataLoader

from spikeforge.data import (
    BucketBatchSampler, CachedDataset, lengths_to_mask, load_dataset, make_events, pad_collate, transform_key,
)
from spikeforge.data.representations import ToFrames


def test_pad_collate_shapes_and_padding() -> None:
    batch = [(torch.ones(2, 3), 1), (torch.full((4, 3), 2.0), 0), (torch.ones(1, 3), 2)]
    xs, ys, lengths = pad_collate(batch)
    assert xs.shape == (4, 3, 3) and ys.tolist() == [1, 0, 2] and lengths.tolist() == [2, 4, 1]
    assert xs[2:, 0].abs().sum() == 0 and xs[:, 1].sum() == 24 and xs[1:, 2].sum() == 0
    mask = lengths_to_mask(lengths)
    assert mask.shape == (4, 3) and mask.sum(0).tolist() == [2, 4, 1]
    assert torch.equal((xs.abs().sum(-1) > 0), mask)


def test_pad_collate_errors() -> None:
    with pytest.raises(ValueError, match="empty batch"):
        pad_collate([])
    with pytest.raises(ValueError, match=r"sample 1 has feature shape \(4,\), sample 0 has \(3,\)"):
        pad_collate([(torch.ones(2, 3), 0), (torch.ones(2, 4), 1)])
    with pytest.raises(ValueError, match="no time axis"):
        pad_collate([(torch.tensor(1.0), 0)])


def test_bucket_sampler_groups_lengths() -> None:
    lengths = [5, 50, 6, 49, 7, 48, 8, 47]
    s = BucketBatchSampler(lengths, 2, seed=0)
    batches = list(s)
    assert sorted(i for b in batches for i in b) == list(range(8)) and len(s) == 4
    for b in batches:
        ls = [lengths[i] for i in b]
        assert max(ls) - min(ls) <= 2
    s.set_epoch(1)
    assert sorted(map(sorted, s)) == sorted(map(sorted, batches))
    assert len(list(BucketBatchSampler(lengths[:7], 2, drop_last=True))) == 3
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        BucketBatchSampler(lengths, 0)


class _EventsSource(torch.utils.data.Dataset):
    def __init__(self) -> None:
        self.calls = 0

    def __len__(self) -> int:
        return 3

    def __getitem__(self, i: int):
        self.calls += 1
        ev = make_events([0, 10 * (i + 1)], [0, 1], sensor_size=(2, 1, 1), time_unit=None)
        return ev, i


def test_cache_is_keyed_by_transform_parameters(tmp_path) -> None:
    src = _EventsSource()
    a = CachedDataset(src, ToFrames(time_window=5), tmp_path, dataset_key="toy")
    x0, y0 = a[2]
    assert x0.shape[0] == 7 and int(y0) == 2 and src.calls == 1
    a[2]
    assert src.calls == 1  # served from disk
    b = CachedDataset(src, ToFrames(time_window=10), tmp_path, dataset_key="toy")
    assert b.directory != a.directory
    assert b[2][0].shape[0] == 4 and src.calls == 2  # a changed parameter never reads stale data
    c = CachedDataset(src, dataclasses.replace(ToFrames(time_window=5)), tmp_path, dataset_key="toy")
    assert c.directory == a.directory
    assert CachedDataset(src, ToFrames(time_window=5), tmp_path, dataset_key="other").directory != a.directory
    assert "time_window" in transform_key(ToFrames(time_window=5))


def test_cache_refuses_opaque_callables(tmp_path) -> None:
    with pytest.raises(TypeError, match="not a dataclass; pass transform_key"):
        CachedDataset(_EventsSource(), lambda e: e, tmp_path, dataset_key="toy")
    ok = CachedDataset(_EventsSource(), lambda e: torch.as_tensor(e.t), tmp_path, dataset_key="toy",
                       transform_key="times-v1")
    assert ok[0][0].tolist() == [0, 10]


def test_multiworker_loader_with_padding_and_cache(tmp_path) -> None:
    ds = load_dataset("neuromorse", "train", poisson="low")
    cached = CachedDataset(ds, None, tmp_path, dataset_key="neuromorse-poisson-low")
    loader = DataLoader(cached, batch_size=16, num_workers=2, collate_fn=pad_collate,
                        multiprocessing_context="spawn", persistent_workers=False)
    seen = 0
    for xs, ys, lengths in loader:
        assert xs.ndim == 3 and xs.shape[1] == len(ys) == len(lengths) and xs.shape[2] == 2
        assert xs.shape[0] == int(lengths.max())
        seen += len(ys)
    assert seen == 50
    assert len(list(cached.directory.glob("*.pt"))) == 50
