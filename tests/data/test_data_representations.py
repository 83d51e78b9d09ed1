"""Representations against hand-computed cases and, where definitions match, against tonic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.data import REPRESENTATIONS, make_events
from spikeforge.data.representations import (
    BinEvents, ToFrames, ToPointCloud, ToSpikeVoxels, ToTimeSurfaces, ToVoxelGrid, bin_events, spike_voxel_code,
    time_surface, time_surfaces, to_frames, to_point_cloud, voxel_grid,
)


def _ev():
    # sensor 3 x 2 with 2 polarities
    return make_events([0, 5, 10, 25], [0, 1, 2, 0], [0, 1, 0, 1], [1, 0, 1, 1], sensor_size=(3, 2, 2))


def test_frames_time_window_hand() -> None:
    f = to_frames(_ev(), time_window=10)
    assert f.shape == (3, 2, 2, 3)  # [T, P, H, W]
    assert f[0, 1, 0, 0] == 1 and f[0, 0, 1, 1] == 1 and f[1, 1, 0, 2] == 1 and f[2, 1, 1, 0] == 1
    assert f.sum() == 4
    g = to_frames(_ev(), time_window=10, drop_incomplete=True)  # windows ending by t=25: [0,10), [10,20)
    assert g.shape[0] == 2 and g.sum() == 3


def test_frames_event_count_and_bins_hand() -> None:
    ev = _ev()
    assert to_frames(ev, event_count=3).sum(dim=(1, 2, 3)).tolist() == [3, 1]
    assert to_frames(ev, event_count=3, drop_incomplete=True).sum(dim=(1, 2, 3)).tolist() == [3]
    # span 25, two bins: t*2/25 = 0, 0.4, 0.8, 2 -> last event into the last bin
    assert to_frames(ev, n_time_bins=2).sum(dim=(1, 2, 3)).tolist() == [3, 1]
    assert to_frames(ev, n_event_bins=2).sum(dim=(1, 2, 3)).tolist() == [2, 2]


def test_frames_bad_input() -> None:
    with pytest.raises(ValueError, match="give exactly one of"):
        to_frames(_ev(), time_window=1, event_count=2)
    with pytest.raises(ValueError, match="time_window must be > 0"):
        to_frames(_ev(), time_window=0)
    with pytest.raises(ValueError, match="empty event stream"):
        to_frames(make_events([], [], sensor_size=(2,)), n_time_bins=3)
    with pytest.raises(TypeError, match="expected spikeforge.data.Events"):
        to_frames(np.zeros(3), time_window=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        ToFrames()


def test_bin_events_hand() -> None:
    ev = make_events([0, 2, 3, 9], [0, 1, 1, 0], sensor_size=(2,), time_unit=None)
    x = bin_events(ev, 2.0).flatten(1)
    assert x.tolist() == [[1, 0], [0, 2], [0, 0], [0, 0], [1, 0]]
    assert bin_events(ev, 2.0, n_steps=2).flatten(1).tolist() == [[1, 0], [0, 2]]
    assert BinEvents(dt=5.0, flatten=True)(ev).tolist() == [[1, 2], [1, 0]]


def test_voxel_grid_hand() -> None:
    ev = make_events([0, 4, 10], [0, 1, 1], [0, 0, 1], [1, 1, 0], sensor_size=(2, 2, 2))
    v = voxel_grid(ev, 3)  # t* = 2 * t / 10 = 0, 0.8, 2
    expect = torch.zeros(3, 2, 2)
    expect[0, 0, 0] = 1.0
    expect[0, 0, 1] = 0.2
    expect[1, 0, 1] = 0.8
    expect[2, 1, 1] = -1.0
    torch.testing.assert_close(v, expect)
    assert ToVoxelGrid(3)(ev).shape == (3, 1, 2, 2)


def test_time_surface_hand() -> None:
    ev = make_events([0, 5, 7], [0, 1, 1], [0, 0, 0], [1, 1, 0], sensor_size=(2, 1, 2))
    s = time_surface(ev, tau=5.0, t_ref=10.0)
    assert s.shape == (2, 1, 2)
    assert s[1, 0, 0].item() == pytest.approx(math.exp(-2)) and s[1, 0, 1].item() == pytest.approx(math.exp(-1))
    assert s[0, 0, 1].item() == pytest.approx(math.exp(-0.6)) and s[0, 0, 0] == 0
    early = time_surface(ev, tau=5.0, t_ref=4.0)  # only the first event counts
    assert early[1, 0, 1] == 0 and early[1, 0, 0].item() == pytest.approx(math.exp(-0.8))
    seq = time_surfaces(ev, tau=5.0, dt=4.0)  # t_ref = 4, 8 (two windows cover t <= 7)
    assert seq.shape == (2, 2, 1, 2)
    torch.testing.assert_close(seq[0], early)
    torch.testing.assert_close(seq[1], time_surface(ev, tau=5.0, t_ref=8.0))
    with pytest.raises(ValueError, match="tau must be > 0"):
        time_surface(ev, tau=0)


def test_point_cloud() -> None:
    ev = make_events(np.arange(0, 100, 10), np.arange(10) % 4, sensor_size=(4, 2, 2))
    pts = to_point_cloud(ev, 4, generator=torch.Generator().manual_seed(0))
    assert pts.shape == (4, 4)
    assert torch.all(pts[1:, 2] >= pts[:-1, 2])  # time order kept
    assert torch.all((pts[:, :3] >= 0) & (pts[:, :3] <= 1))
    few = to_point_cloud(ev[:3], 5, normalize=False, generator=torch.Generator().manual_seed(0))
    assert few.shape == (5, 4) and set(few[:, 2].tolist()) <= {0.0, 10.0, 20.0}
    assert {0.0, 10.0, 20.0} <= set(few[:, 2].tolist())  # every event kept
    t = ToPointCloud(n_points=4, seed=3)
    assert torch.equal(t(ev), t(ev))
    with pytest.raises(ValueError, match="n_points must be a positive integer"):
        to_point_cloud(ev, 0)


def test_spike_voxel_code_hand() -> None:
    pts = torch.tensor([[0.0, 0.0, 0.0, 1.0], [0.9, 0.9, 0.9, 3.0], [1.0, 0.95, 0.6, 5.0], [2.0, 0, 0, 9.0]])
    v = spike_voxel_code(pts, (2, 2, 2), ((0, 1), (0, 1), (0, 1)))
    assert v.shape == (2, 2, 2, 2)
    assert v[0].sum() == 2 and v[0, 0, 0, 0] == 1 and v[0, 1, 1, 1] == 1  # the point at x=2 is outside
    assert v[1, 0, 0, 0] == 1.0 and v[1, 1, 1, 1] == 4.0
    assert ToSpikeVoxels((2, 2, 2), ((0, 1), (0, 1), (0, 1)))(pts[:, :3]).shape == (1, 2, 2, 2)
    with pytest.raises(ValueError, match="bounds must be three"):
        spike_voxel_code(pts, (2, 2, 2), ((0, 1), (1, 0), (0, 1)))


def test_registry_creates_by_name() -> None:
    # every registered entry is covered by test_data_hardening.py::test_representation_contract,
    # parametrised over REPRESENTATIONS.names(); no hand-written list of entries here
    assert REPRESENTATIONS.create("frames", n_time_bins=2)(_ev()).shape[0] == 2
    assert isinstance(REPRESENTATIONS.create("bins"), BinEvents)


# ---------------------------------------------------------------- against tonic (test-only, GPL)


def _random_events(seed: int, n: int = 300):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 10_000, n))
    t[-1] = 9_999  # duration 9_999 is not a multiple of the windows used below
    t[0] = 0
    return make_events(t, rng.integers(0, 8, n), rng.integers(0, 6, n), rng.integers(0, 2, n),
                       sensor_size=(8, 6, 2))


@pytest.mark.parametrize("seed", [0, 1])
def test_frames_match_tonic(seed: int) -> None:
    tonic_f = pytest.importorskip("tonic.functional")
    ev = _random_events(seed)
    arr = ev.to_structured()
    ours = to_frames(ev, time_window=1000).numpy()
    theirs = tonic_f.to_frame_numpy(arr, (8, 6, 2), time_window=1000, include_incomplete=True)
    np.testing.assert_array_equal(ours, theirs)
    ours = to_frames(ev, time_window=1000, drop_incomplete=True).numpy()
    theirs = tonic_f.to_frame_numpy(arr, (8, 6, 2), time_window=1000, include_incomplete=False)
    np.testing.assert_array_equal(ours, theirs)
    ours = to_frames(ev, event_count=70).numpy()
    theirs = tonic_f.to_frame_numpy(arr, (8, 6, 2), event_count=70, include_incomplete=True)
    np.testing.assert_array_equal(ours, theirs)


def test_time_surfaces_match_tonic() -> None:
    tonic_f = pytest.importorskip("tonic.functional")
    ev = _random_events(3)
    ours = time_surfaces(ev, tau=500.0, dt=1000.0).numpy()
    theirs = tonic_f.to_timesurface_numpy(ev.to_structured(), (8, 6, 2), dt=1000.0, tau=500.0,
                                          include_incomplete=True)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)
    assert ToTimeSurfaces(tau=500.0, dt=1000.0)(ev).shape == ours.shape
