"""Event augmentations: pure functions over :class:`Events` plus thin frozen transforms.

Random functions take an explicit ``numpy.random.Generator``. The transforms draw a fresh generator
per call from torch's global RNG, so ``torch.manual_seed`` makes a run reproducible and every
DataLoader worker (which torch seeds differently) sees different noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._registry import Registry
from .events import Events, make_events

__all__ = [
    "AUGMENTATIONS", "drop_events", "spatial_jitter", "time_jitter", "refractory_filter", "denoise",
    "flip_lr", "flip_ud", "flip_polarity", "DropEvents", "SpatialJitter", "TimeJitter",
    "RefractoryFilter", "Denoise", "RandomFlip",
]

AUGMENTATIONS: Registry[type] = Registry("augmentation")


def _check_prob(name: str, p: float) -> float:
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {p}")
    return p


def drop_events(events: Events, p: float, rng: np.random.Generator) -> Events:
    """Drop each event independently with probability ``p``."""
    p = _check_prob("p", p)
    return events[rng.random(len(events)) >= p]


def spatial_jitter(events: Events, sigma: float, rng: np.random.Generator) -> Events:
    """Add rounded Gaussian noise (σ in pixels) to ``x`` and ``y``; events leaving the sensor are dropped."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    W, H, _ = events.sensor_size
    x = events.x + np.rint(rng.normal(0.0, sigma, len(events))).astype(np.int64)
    y = events.y + np.rint(rng.normal(0.0, sigma, len(events))).astype(np.int64)
    ok = (x >= 0) & (x < W) & (y >= 0) & (y < H)
    return events.replace(t=events.t[ok], x=x[ok], y=y[ok], p=events.p[ok])


def time_jitter(events: Events, std: float, rng: np.random.Generator) -> Events:
    """Add Gaussian noise (``std`` ticks) to every time stamp; negative times clamp to 0; re-sorted.

    Integer time stamps stay integers (the noise is rounded).
    """
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    noise = rng.normal(0.0, std, len(events))
    t = events.t + (np.rint(noise).astype(np.int64) if events.t.dtype.kind in "iu" else noise)
    t = np.maximum(t, 0)
    return make_events(t, events.x, events.y, events.p, sensor_size=events.sensor_size,
                       time_unit=events.time_unit, sort=True)


def refractory_filter(events: Events, period: float) -> Events:
    """Drop an event if the same pixel (any polarity) kept an event less than ``period`` ticks before."""
    if period < 0:
        raise ValueError(f"period must be >= 0, got {period}")
    W, H, _ = events.sensor_size
    last = np.full(W * H, -np.inf)
    keep = np.zeros(len(events), bool)
    pix = events.y * W + events.x
    for i, (t, k) in enumerate(zip(events.t.tolist(), pix.tolist())):
        if t - last[k] >= period:
            keep[i] = True
            last[k] = t
    return events[keep]


def denoise(events: Events, filter_time: float) -> Events:
    """Background-activity filter: keep an event only if one of its 8 neighbouring pixels had an event
    at most ``filter_time`` ticks earlier (same time counts; the pixel itself does not)."""
    if filter_time < 0:
        raise ValueError(f"filter_time must be >= 0, got {filter_time}")
    W, H, _ = events.sensor_size
    last = np.full((H + 2, W + 2), -np.inf)  # padded, so border pixels need no special case
    keep = np.zeros(len(events), bool)
    for i, (t, x, y) in enumerate(zip(events.t.tolist(), events.x.tolist(), events.y.tolist())):
        patch = last[y:y + 3, x:x + 3]
        own = patch[1, 1]
        patch[1, 1] = -np.inf
        keep[i] = t - patch.max() <= filter_time
        patch[1, 1] = max(own, t)
    return events[keep]


def flip_lr(events: Events) -> Events:
    """Mirror ``x`` (left-right)."""
    return events.replace(x=events.sensor_size[0] - 1 - events.x)


def flip_ud(events: Events) -> Events:
    """Mirror ``y`` (up-down)."""
    return events.replace(y=events.sensor_size[1] - 1 - events.y)


def flip_polarity(events: Events) -> Events:
    """Swap ON and OFF (``p → P − 1 − p``)."""
    return events.replace(p=events.sensor_size[2] - 1 - events.p)


def _rng(seed: int | None) -> np.random.Generator:
    if seed is None:
        seed = int(torch.randint(0, 2**62, ()).item())
    return np.random.default_rng(seed)


@AUGMENTATIONS.register("drop_events")
@dataclass(frozen=True)
class DropEvents:
    """Drop each event with probability ``p`` (:func:`drop_events`)."""

    p: float = 0.1
    seed: int | None = None

    def __post_init__(self) -> None:
        _check_prob("p", self.p)

    def __call__(self, events: Events) -> Events:
        return drop_events(events, self.p, _rng(self.seed))


@AUGMENTATIONS.register("spatial_jitter")
@dataclass(frozen=True)
class SpatialJitter:
    """Gaussian pixel jitter (:func:`spatial_jitter`)."""

    sigma: float = 1.0
    seed: int | None = None

    def __call__(self, events: Events) -> Events:
        return spatial_jitter(events, self.sigma, _rng(self.seed))


@AUGMENTATIONS.register("time_jitter")
@dataclass(frozen=True)
class TimeJitter:
    """Gaussian time jitter (:func:`time_jitter`)."""

    std: float = 1.0
    seed: int | None = None

    def __call__(self, events: Events) -> Events:
        return time_jitter(events, self.std, _rng(self.seed))


@AUGMENTATIONS.register("refractory")
@dataclass(frozen=True)
class RefractoryFilter:
    """Per-pixel refractory period (:func:`refractory_filter`)."""

    period: float

    def __call__(self, events: Events) -> Events:
        return refractory_filter(events, self.period)


@AUGMENTATIONS.register("denoise")
@dataclass(frozen=True)
class Denoise:
    """Background-activity filter (:func:`denoise`)."""

    filter_time: float

    def __call__(self, events: Events) -> Events:
        return denoise(events, self.filter_time)


@AUGMENTATIONS.register("random_flip")
@dataclass(frozen=True)
class RandomFlip:
    """Flip left-right, up-down and polarity, each with its own probability."""

    p_lr: float = 0.5
    p_ud: float = 0.0
    p_polarity: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("p_lr", "p_ud", "p_polarity"):
            _check_prob(name, getattr(self, name))

    def __call__(self, events: Events) -> Events:
        u = _rng(self.seed).random(3)
        if u[0] < self.p_lr:
            events = flip_lr(events)
        if u[1] < self.p_ud:
            events = flip_ud(events)
        if u[2] < self.p_polarity:
            events = flip_polarity(events)
        return events
