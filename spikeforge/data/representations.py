"""Event representations: events → dense tensors, each a pure function plus a frozen transform.

Every transform is a frozen dataclass (so its parameters are its identity — the on-disk cache keys
on them) registered in :data:`REPRESENTATIONS` with metadata ``input`` ("events" or "points") and
``example`` (constructor arguments of a small instance, used by the docs and the contract tests).
Every dense output is checked against :func:`~spikeforge.data.set_max_dense_elements` before it is
allocated. Layouts are time-major: a sequence of frames is
``[T, P, H, W]`` (batched by :func:`~spikeforge.data.collate.pad_collate` to ``[T, B, P, H, W]``).
All times are in the events' own ticks (``Events.t`` units).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .._registry import Registry
from ._limits import check_dense_size
from .events import Events

__all__ = [
    "REPRESENTATIONS", "bin_events", "to_frames", "voxel_grid", "time_surface", "time_surfaces",
    "to_point_cloud", "spike_voxel_code", "BinEvents", "ToFrames", "ToVoxelGrid", "ToTimeSurfaces",
    "ToPointCloud", "ToSpikeVoxels",
]

REPRESENTATIONS: Registry[type] = Registry("representation")


def _require_events(events: object) -> Events:
    if not isinstance(events, Events):
        raise TypeError(f"expected spikeforge.data.Events, got {type(events).__name__}")
    return events


def _accumulate(events: Events, frame_index: np.ndarray, n_frames: int) -> Tensor:
    """Count events per ``(frame, p, y, x)``; events with an index outside ``[0, n_frames)`` are dropped."""
    W, H, P = events.sensor_size
    keep = (frame_index >= 0) & (frame_index < n_frames)
    flat = ((frame_index[keep] * P + events.p[keep]) * H + events.y[keep]) * W + events.x[keep]
    counts = np.bincount(flat, minlength=n_frames * P * H * W).astype(np.float32)
    return torch.from_numpy(counts.reshape(n_frames, P, H, W))  # [T, P, H, W]


def bin_events(events: Events, dt: float = 1.0, n_steps: int | None = None) -> Tensor:
    """Spike counts on a fixed time grid anchored at ``t = 0``: bin ``k`` is ``[k·dt, (k+1)·dt)``.

    Args:
        events: Any events.
        dt: Bin width in ticks (> 0).
        n_steps: Number of bins; default just enough to hold the last event. Later events are dropped.

    Returns:
        Counts ``[T, P, H, W]`` (float32). For 1-D sensors use ``.flatten(1)`` → ``[T, W]``.

    Example:
        >>> from spikeforge.data import make_events
        >>> bin_events(make_events([0, 2, 3], [0, 1, 1], sensor_size=(2,), time_unit=None), 2.0).flatten(1)
        tensor([[1., 0.],
                [0., 2.]])
    """
    _require_events(events)
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt!r}")
    t = np.asarray(events.t, np.float64)
    W, H, P = events.sensor_size
    if n_steps is None:
        if len(events):
            last = float(np.floor(t[-1] / dt)) + 1
            check_dense_size((last, P, H, W), "bin_events", f"last event at t={t[-1]:.6g} ticks, dt={dt:g}")
            n_steps = int(last)
        else:
            n_steps = 1
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    check_dense_size((n_steps, P, H, W), "bin_events", "n_steps")
    # events past n_steps are dropped; clip first so a huge t cannot overflow the int64 cast
    idx = np.floor(np.minimum(t / dt, float(n_steps))).astype(np.int64)
    return _accumulate(events, idx, int(n_steps))


def to_frames(events: Events, *, time_window: float | None = None, event_count: int | None = None,
              n_time_bins: int | None = None, n_event_bins: int | None = None,
              drop_incomplete: bool = False) -> Tensor:
    """Accumulate events into frames; give exactly one slicing rule.

    - ``time_window``: frame ``k`` holds ``t0 + k·w <= t < t0 + (k+1)·w`` (``t0`` = first event),
      ``floor((t_last − t0)/w) + 1`` frames, so every event lands in a frame; with
      ``drop_incomplete`` only windows that end by ``t_last`` are kept (at least one).
    - ``event_count``: consecutive chunks of ``N`` events; the last partial chunk is kept unless
      ``drop_incomplete``.
    - ``n_time_bins``: ``n`` equal time bins spanning ``[t0, t_last]``; the last event goes to the
      last bin.
    - ``n_event_bins``: ``n`` chunks of (nearly) equal event counts.

    Returns:
        Counts ``[T, P, H, W]`` (float32).

    Raises:
        ValueError: zero or several rules given, non-positive parameters, or no events.
    """
    _require_events(events)
    rules = {"time_window": time_window, "event_count": event_count,
             "n_time_bins": n_time_bins, "n_event_bins": n_event_bins}
    given = [k for k, v in rules.items() if v is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {list(rules)}, got {given or 'none'}")
    key = given[0]
    value = rules[key]
    if not value > 0:  # type: ignore[operator]
        raise ValueError(f"{key} must be > 0, got {value!r}")
    if key in ("event_count", "n_time_bins", "n_event_bins") and int(value) != value:  # type: ignore[arg-type]
        raise ValueError(f"{key} must be an integer, got {value!r}")
    n = len(events)
    if n == 0:
        raise ValueError("cannot build frames from an empty event stream")
    t = np.asarray(events.t, np.float64)
    t0 = t[0]
    W, H, P = events.sensor_size
    if key == "time_window":
        w = float(value)  # type: ignore[arg-type]
        check_dense_size((np.floor((t[-1] - t0) / w) + 1, P, H, W), "to_frames",
                         f"events span {t[-1] - t0:.6g} ticks, time_window={w:g}")
        idx = np.floor((t - t0) / w).astype(np.int64)
        n_frames = int(idx[-1]) + 1
        if drop_incomplete:  # keep windows that end by the last event: [s, s + w) with s + w <= t_last
            n_frames = max(int(np.floor((t[-1] - t0) / w)), 1)
    elif key == "event_count":
        c = int(value)  # type: ignore[arg-type]
        idx = np.arange(n) // c
        n_frames = n // c if drop_incomplete else -(-n // c)
        if n_frames == 0:
            raise ValueError(f"fewer than event_count={c} events and drop_incomplete=True")
    elif key == "n_time_bins":
        n_frames = int(value)  # type: ignore[arg-type]
        span = t[-1] - t0
        idx = np.zeros(n, np.int64) if span == 0 else np.floor((t - t0) / span * n_frames).astype(np.int64)
        idx = np.minimum(idx, n_frames - 1)
    else:
        n_frames = int(value)  # type: ignore[arg-type]
        idx = (np.arange(n) * n_frames) // n
    check_dense_size((n_frames, P, H, W), "to_frames")
    return _accumulate(events, idx, n_frames)


def voxel_grid(events: Events, n_bins: int) -> Tensor:
    r"""Event volume with bilinear interpolation in time (Zhu et al., CVPR 2019).

    .. math::
        t^*_i = (B-1)\frac{t_i - t_0}{t_N - t_0},\qquad
        V[b, y, x] = \sum_{i: x_i = x, y_i = y} \pi_i \max(0, 1 - |b - t^*_i|)

    with polarity :math:`\pi_i = +1` for ``p = 1`` and :math:`-1` for ``p = 0``.

    Returns:
        ``[B, H, W]`` (float32); all polarities share one grid.
    """
    _require_events(events)
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    W, H, _ = events.sensor_size
    check_dense_size((n_bins, H, W), "voxel_grid", "n_bins")
    grid = np.zeros((n_bins, H, W), np.float64)
    if len(events):
        t = np.asarray(events.t, np.float64)
        span = t[-1] - t[0]
        ts = np.zeros_like(t) if span == 0 else (n_bins - 1) * (t - t[0]) / span
        pol = np.where(events.p > 0, 1.0, -1.0)
        lo = np.floor(ts).astype(np.int64)
        frac = ts - lo
        for b, wgt in ((lo, 1.0 - frac), (lo + 1, frac)):
            ok = b < n_bins
            np.add.at(grid, (b[ok], events.y[ok], events.x[ok]), pol[ok] * wgt[ok])
    return torch.from_numpy(grid.astype(np.float32))


def _surface(last: np.ndarray, t_ref: float, tau: float) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        s = np.exp(-(t_ref - last) / tau)
    return np.where(np.isfinite(last), s, 0.0).astype(np.float32)


def time_surface(events: Events, tau: float, t_ref: float | None = None) -> Tensor:
    r"""Exponentially decaying time surface (Lagorce et al., 2016) over the whole sensor.

    :math:`S[p, y, x] = \exp(-(t_{ref} - t_{last}[p, y, x]) / \tau)` where :math:`t_{last}` is the
    time of the pixel's latest event at or before ``t_ref``; 0 where there is none.

    Args:
        tau: Decay constant in ticks (> 0).
        t_ref: Reference time; default the last event's time.

    Returns:
        ``[P, H, W]`` (float32, values in (0, 1]).
    """
    _require_events(events)
    if not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau!r}")
    W, H, P = events.sensor_size
    check_dense_size((P, H, W), "time_surface", "sensor_size")
    if t_ref is None:
        t_ref = float(events.t[-1]) if len(events) else 0.0
    last = np.full((P, H, W), -np.inf)
    sel = np.asarray(events.t) <= t_ref
    # assignments happen in time order, so the latest event per pixel wins
    last[events.p[sel], events.y[sel], events.x[sel]] = events.t[sel]
    return torch.from_numpy(_surface(last, float(t_ref), tau))


def time_surfaces(events: Events, tau: float, dt: float) -> Tensor:
    """A sequence of time surfaces sampled every ``dt`` ticks.

    Surface ``k`` is :func:`time_surface` at ``t_ref = t0 + (k+1)·dt`` using events with
    ``t < t_ref``; there are ``floor((t_last − t0)/dt) + 1`` surfaces (``t0`` = first event).

    Returns:
        ``[K, P, H, W]`` (float32).
    """
    _require_events(events)
    if not tau > 0 or not dt > 0:
        raise ValueError(f"tau and dt must be > 0, got tau={tau!r}, dt={dt!r}")
    if not len(events):
        raise ValueError("cannot build time surfaces from an empty event stream")
    W, H, P = events.sensor_size
    t = np.asarray(events.t, np.float64)
    t0 = t[0]
    check_dense_size((np.floor((t[-1] - t0) / dt) + 1, P, H, W), "time_surfaces",
                     f"events span {t[-1] - t0:.6g} ticks, dt={dt:g}")
    k_of = np.floor((t - t0) / dt).astype(np.int64)
    n = int(k_of[-1]) + 1
    last = np.full((P, H, W), -np.inf)
    out = np.empty((n, P, H, W), np.float32)
    bounds = np.searchsorted(k_of, np.arange(n + 1), side="left")
    for k in range(n):
        sl = slice(bounds[k], bounds[k + 1])
        last[events.p[sl], events.y[sl], events.x[sl]] = t[sl]
        out[k] = _surface(last, t0 + (k + 1) * dt, tau)
    return torch.from_numpy(out)


def to_point_cloud(events: Events, n_points: int, *, generator: torch.Generator | None = None,
                   normalize: bool = True) -> Tensor:
    """Sample an event stream to a fixed-size point cloud ``(x, y, t, p)`` (as in SpikePoint).

    With at least ``n_points`` events, ``n_points`` distinct events are drawn uniformly; with fewer,
    all events are kept and the rest drawn with replacement. Points stay in time order.
    ``normalize`` maps ``x/W``, ``y/H`` and ``t`` to ``[0, 1]`` (over the stream's span).

    Returns:
        ``[n_points, 4]`` (float32).
    """
    _require_events(events)
    if int(n_points) != n_points or n_points < 1:
        raise ValueError(f"n_points must be a positive integer, got {n_points!r}")
    n = len(events)
    if n == 0:
        raise ValueError("cannot sample points from an empty event stream")
    check_dense_size((n_points, 4), "to_point_cloud", "n_points")
    if n >= n_points:
        idx = torch.randperm(n, generator=generator)[:n_points]
    else:
        extra = torch.randint(0, n, (n_points - n,), generator=generator)
        idx = torch.cat([torch.arange(n), extra])
    order = idx.sort().values.numpy()
    pts = events.to_tensor()[order].float()  # [N, 4] columns (t, x, y, p)
    pts = pts[:, [1, 2, 0, 3]]  # -> (x, y, t, p)
    if normalize:
        W, H, _ = events.sensor_size
        span = max(events.duration, 1e-12)
        pts[:, 0] /= W
        pts[:, 1] /= H
        pts[:, 2] = (pts[:, 2] - float(events.t[0])) / span
    return pts


def spike_voxel_code(points: Tensor, grid_size: tuple[int, int, int],
                     bounds: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]) -> Tensor:
    """Spike voxel coding of a 3-D point cloud (as in E-3DSNN): occupied voxels spike.

    Args:
        points: ``[N, 3 + C]``: coordinates ``(x, y, z)`` then ``C`` optional point features.
        grid_size: Voxels per axis ``(X, Y, Z)``.
        bounds: ``((x_min, x_max), (y_min, y_max), (z_min, z_max))``; points outside are dropped.

    Returns:
        ``[1 + C, X, Y, Z]`` (float32): channel 0 is the binary spike (1 in occupied voxels);
        channels ``1..C`` are the mean feature of the points in each voxel (0 where empty).
    """
    if not isinstance(points, Tensor) or points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f"points must be a tensor [N, 3 + C], got {getattr(points, 'shape', type(points))}")
    if len(grid_size) != 3 or any(int(g) != g or g < 1 for g in grid_size):
        raise ValueError(f"grid_size must be three positive integers, got {grid_size!r}")
    lo = torch.tensor([b[0] for b in bounds], dtype=torch.float64)
    hi = torch.tensor([b[1] for b in bounds], dtype=torch.float64)
    if lo.shape != (3,) or not bool(torch.all(hi > lo)):
        raise ValueError(f"bounds must be three (min, max) pairs with max > min, got {bounds!r}")
    g = torch.tensor(grid_size, dtype=torch.float64)
    xyz = points[:, :3].double()
    inside = torch.all((xyz >= lo) & (xyz <= hi), dim=1)
    cell = ((xyz[inside] - lo) / (hi - lo) * g).floor().long()
    cell = torch.minimum(cell, g.long() - 1)  # x == x_max goes to the last voxel
    X, Y, Z = (int(v) for v in grid_size)
    C = points.shape[1] - 3
    check_dense_size((1 + C, X, Y, Z), "spike_voxel_code", "grid_size")
    flat = (cell[:, 0] * Y + cell[:, 1]) * Z + cell[:, 2]  # [M]
    count = torch.zeros(X * Y * Z, dtype=torch.float64).index_add_(0, flat, torch.ones(len(flat), dtype=torch.float64))
    out = torch.zeros(1 + C, X * Y * Z, dtype=torch.float64)
    out[0] = (count > 0).double()
    if C:
        feats = points[inside, 3:].double()  # [M, C]
        sums = torch.zeros(X * Y * Z, C, dtype=torch.float64).index_add_(0, flat, feats)
        out[1:] = (sums / count.clamp_min(1).unsqueeze(1)).T
    return out.reshape(1 + C, X, Y, Z).float()


@REPRESENTATIONS.register("bins", input="events", example={"dt": 2.0})
@dataclass(frozen=True)
class BinEvents:
    """Counts on a fixed grid from t = 0 (:func:`bin_events`); ``flatten=True`` gives ``[T, P·H·W]``."""

    dt: float = 1.0
    n_steps: int | None = None
    flatten: bool = False

    def __call__(self, events: Events) -> Tensor:
        x = bin_events(events, self.dt, self.n_steps)
        return x.flatten(1) if self.flatten else x  # [T, P*H*W] or [T, P, H, W]


@REPRESENTATIONS.register("frames", input="events", example={"time_window": 4.0})
@dataclass(frozen=True)
class ToFrames:
    """Frames ``[T, P, H, W]`` (:func:`to_frames`); set exactly one slicing rule."""

    time_window: float | None = None
    event_count: int | None = None
    n_time_bins: int | None = None
    n_event_bins: int | None = None
    drop_incomplete: bool = False

    def __post_init__(self) -> None:
        rules = (self.time_window, self.event_count, self.n_time_bins, self.n_event_bins)
        if sum(r is not None for r in rules) != 1:
            raise ValueError("ToFrames needs exactly one of time_window, event_count, n_time_bins, n_event_bins")

    def __call__(self, events: Events) -> Tensor:
        return to_frames(events, time_window=self.time_window, event_count=self.event_count,
                         n_time_bins=self.n_time_bins, n_event_bins=self.n_event_bins,
                         drop_incomplete=self.drop_incomplete)


@REPRESENTATIONS.register("voxel_grid", input="events", example={"n_bins": 3})
@dataclass(frozen=True)
class ToVoxelGrid:
    """Voxel grid ``[B, 1, H, W]`` (:func:`voxel_grid`, with a channel axis for conv layers)."""

    n_bins: int = 10

    def __call__(self, events: Events) -> Tensor:
        return voxel_grid(events, self.n_bins).unsqueeze(1)  # [B, H, W] -> [B, 1, H, W]


@REPRESENTATIONS.register("time_surfaces", input="events", example={"tau": 5.0, "dt": 4.0})
@dataclass(frozen=True)
class ToTimeSurfaces:
    """Time surfaces every ``dt`` ticks, ``[K, P, H, W]`` (:func:`time_surfaces`)."""

    tau: float
    dt: float

    def __call__(self, events: Events) -> Tensor:
        return time_surfaces(events, self.tau, self.dt)


@REPRESENTATIONS.register("point_cloud", input="events", example={"n_points": 8})
@dataclass(frozen=True)
class ToPointCloud:
    """``[N, 4]`` point cloud (:func:`to_point_cloud`); sampling is seeded per call from ``seed``.

    The same events always give the same points, so results are reproducible and cacheable.
    """

    n_points: int = 1024
    seed: int = 0
    normalize: bool = True

    def __call__(self, events: Events) -> Tensor:
        g = torch.Generator().manual_seed(self.seed)
        return to_point_cloud(events, self.n_points, generator=g, normalize=self.normalize)


@REPRESENTATIONS.register("spike_voxels", input="points",
                           example={"grid_size": (2, 2, 2), "bounds": ((0, 1), (0, 1), (0, 1))})
@dataclass(frozen=True)
class ToSpikeVoxels:
    """Spike voxel coding of a point cloud ``[N, 3 + C]`` → ``[1 + C, X, Y, Z]`` (:func:`spike_voxel_code`)."""

    grid_size: tuple[int, int, int]
    bounds: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]

    def __call__(self, points: Tensor) -> Tensor:
        return spike_voxel_code(points, self.grid_size, self.bounds)
