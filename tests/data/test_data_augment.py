"""Augmentations: hand-computed cases, statistics and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.data import AUGMENTATIONS, make_events
from spikeforge.data.augment import (
    Denoise, DropEvents, RandomFlip, RefractoryFilter, TimeJitter, denoise, drop_events, flip_lr, flip_polarity,
    flip_ud, refractory_filter, spatial_jitter, time_jitter,
)


def _grid_events(n: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    return make_events(np.sort(rng.integers(0, 100_000, n)), rng.integers(0, 16, n), rng.integers(0, 12, n),
                       rng.integers(0, 2, n), sensor_size=(16, 12, 2))


def test_drop_events_fraction_and_bounds() -> None:
    ev = _grid_events(20_000)
    kept = drop_events(ev, 0.3, np.random.default_rng(0))
    assert len(kept) / len(ev) == pytest.approx(0.7, abs=0.015)
    assert len(drop_events(ev, 0.0, np.random.default_rng(0))) == len(ev)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        drop_events(ev, 1.5, np.random.default_rng(0))


def test_refractory_filter_hand() -> None:
    # pixel (0,0): t=0 kept, 3 dropped (< 5 after 0), 5 kept, 9 dropped; pixel (1,0): t=4 kept
    ev = make_events([0, 3, 4, 5, 9], [0, 0, 1, 0, 0], p=[1, 0, 1, 1, 1], sensor_size=(2, 1, 2))
    out = refractory_filter(ev, 5)
    assert out.t.tolist() == [0, 4, 5] and out.x.tolist() == [0, 1, 0]
    assert len(RefractoryFilter(0)(ev)) == 5


def test_denoise_hand() -> None:
    # (2,2)@0 isolated -> dropped; (3,3)@5 has neighbour (2,2)@0 within 10 -> kept;
    # (2,2)@6 has neighbour (3,3)@5 -> kept; (0,0)@30 isolated -> dropped; (0,0)@31 same pixel only -> dropped
    ev = make_events([0, 5, 6, 30, 31], [2, 3, 2, 0, 0], [2, 3, 2, 0, 0], sensor_size=(5, 5, 1))
    assert denoise(ev, 10).t.tolist() == [5, 6]
    assert denoise(ev, 4).t.tolist() == [6]
    assert Denoise(10)(ev).t.tolist() == [5, 6]


def test_flips_hand() -> None:
    ev = make_events([0, 1], [0, 3], [1, 0], [0, 1], sensor_size=(4, 2, 2))
    assert flip_lr(ev).x.tolist() == [3, 0]
    assert flip_ud(ev).y.tolist() == [0, 1]
    assert flip_polarity(ev).p.tolist() == [1, 0]
    assert RandomFlip(p_lr=1.0, p_ud=0.0, seed=0)(ev).x.tolist() == [3, 0]


def test_jitters_statistics_and_validity() -> None:
    ev = _grid_events(20_000)
    tj = time_jitter(ev, 50.0, np.random.default_rng(1))
    assert len(tj) == len(ev) and np.all(np.diff(tj.t) >= 0) and tj.t.dtype.kind == "i"
    assert np.std(np.sort(tj.t) - ev.t) < 60  # sorted jitter never increases displacement much
    sj = spatial_jitter(ev, 1.0, np.random.default_rng(2))
    assert 0.6 < len(sj) / len(ev) < 1.0 and sj.x.max() < 16 and sj.y.min() >= 0
    with pytest.raises(ValueError, match="std must be >= 0"):
        time_jitter(ev, -1.0, np.random.default_rng(0))


def test_transforms_follow_torch_seed() -> None:
    ev = _grid_events()
    torch.manual_seed(5)
    a = DropEvents(0.5)(ev)
    torch.manual_seed(5)
    b = DropEvents(0.5)(ev)
    assert np.array_equal(a.t, b.t)
    assert np.array_equal(TimeJitter(3.0, seed=1)(ev).t, TimeJitter(3.0, seed=1)(ev).t)
    assert "drop_events" in AUGMENTATIONS and "denoise" in AUGMENTATIONS
    with pytest.raises(ValueError, match=r"p_lr must be in \[0, 1\]"):
        RandomFlip(p_lr=2.0)
