"""Registered synthetic datasets: moving shapes (DVS-like), SHD-like audio and a delayed cue.

Samples are generated lazily from ``(seed, split, index)`` and kept in memory after first use, so
datasets are cheap to build, deterministic, and pickle (without the memo) for multi-worker
DataLoaders.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..generators.audio import audio_like_events, make_audio_templates
from ..generators.dvs import ShapeMotion, moving_shape_events
from ..generators.memory import delayed_cue as _delayed_cue
from ..representations import BinEvents
from . import DATASETS
from ._base import ArrayDataset

__all__ = ["MovingShapes", "SpikeAudioLike", "moving_shape", "synthetic_shd", "delayed_cue"]

_SPLIT_SALT = {"train": 0, "test": 1}


class _Generated(Dataset[tuple[Tensor, Tensor]]):
    """Base of the generated datasets: sample ``i`` is made on first access by ``_generate(i)``
    (deterministic in ``(seed, split, i)``) and memoized."""

    n_samples: int
    _memo: dict[int, tuple[Tensor, Tensor]]

    def __len__(self) -> int:
        return self.n_samples

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without generated samples (each DataLoader worker regenerates its own)."""
        state = dict(self.__dict__)
        state["_memo"] = {}
        return state

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        if not 0 <= i < self.n_samples:
            raise IndexError(f"index {i} out of range for {self.n_samples} samples")
        if i not in self._memo:
            self._memo[i] = self._generate(i)
        return self._memo[i]

    def _generate(self, i: int) -> tuple[Tensor, Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must define _generate(i)")


def _check_split(name: str, split: str) -> int:
    if split not in _SPLIT_SALT:
        raise ValueError(f"{name} split must be 'train' or 'test', got {split!r}")
    return _SPLIT_SALT[split]


class MovingShapes(_Generated):
    """A shape crosses the sensor; the label is its direction or its speed class.

    Args:
        n_samples: Samples in this split.
        label: "direction" (``num_classes`` headings ``2πk/num_classes``) or "speed"
            (``num_classes`` speeds evenly spaced in ``speed_range``).
        num_classes: Number of classes.
        sensor_size: ``(W, H)``.
        speed_range: Pixels per second (speed is random in this range when labelling direction).
        size_range: Shape size in pixels.
        n_distractors: Extra shapes with random heading and speed (object-separation demos).
        noise_rate: Background events per pixel per second.
        duration, dt: Seconds; ``dt`` is also the frame width of the output.

    Shapes:
        x: ``[T, 2, H, W]`` event counts with ``T = duration / dt``.
    """

    def __init__(self, split: str = "train", *, n_samples: int = 512, label: str = "direction",
                 num_classes: int = 4, sensor_size: tuple[int, int] = (32, 32),
                 speed_range: tuple[float, float] = (60.0, 160.0), size_range: tuple[float, float] = (4.0, 8.0),
                 n_distractors: int = 0, noise_rate: float = 1.0, duration: float = 0.2,
                 dt: float = 10e-3, seed: int = 0) -> None:
        self.salt = _check_split("moving_shape", split)
        if label not in ("direction", "speed"):
            raise ValueError(f"label must be 'direction' or 'speed', got {label!r}")
        if num_classes < 2 or n_samples < 1:
            raise ValueError(f"need num_classes >= 2 and n_samples >= 1, got {num_classes}, {n_samples}")
        self.n_samples, self.label, self.num_classes = n_samples, label, num_classes
        self.sensor_size, self.speed_range, self.size_range = tuple(sensor_size), speed_range, size_range
        self.n_distractors, self.noise_rate, self.duration, self.seed = n_distractors, noise_rate, duration, seed
        self.to_x = BinEvents(dt=dt * 1e6, n_steps=int(round(duration / dt)))
        self._memo: dict[int, tuple[Tensor, Tensor]] = {}

    def _generate(self, i: int) -> tuple[Tensor, Tensor]:
        rng = np.random.default_rng([self.seed, self.salt, i])
        y = int(rng.integers(self.num_classes))
        lo, hi = self.speed_range
        if self.label == "direction":
            direction = 2 * math.pi * y / self.num_classes
            speed = rng.uniform(lo, hi)
        else:
            direction = rng.uniform(0, 2 * math.pi)
            speed = lo + (hi - lo) * y / (self.num_classes - 1)
        shape = "square" if rng.random() < 0.5 else "disc"
        objs = [ShapeMotion(direction, speed, rng.uniform(*self.size_range), shape, rng.uniform(-3, 3))]
        for _ in range(self.n_distractors):
            objs.append(ShapeMotion(rng.uniform(0, 2 * math.pi), rng.uniform(lo, hi),
                                    rng.uniform(*self.size_range), "disc", rng.uniform(-8, 8)))
        ev = moving_shape_events(objs, sensor_size=self.sensor_size, duration=self.duration,  # type: ignore[arg-type]
                                 noise_rate=self.noise_rate, rng=rng)
        return self.to_x(ev), torch.tensor(y, dtype=torch.long)


class SpikeAudioLike(_Generated):
    """SHD-shaped synthetic audio: ``num_classes`` spatio-temporal templates on 700 channels.

    Args:
        n_samples: Samples in this split.
        num_classes: Number of classes (20 like SHD).
        duration, dt: Seconds; output steps ``T = duration / dt``.
        template_seed: Seed of the class templates (shared by both splits).
        seed: Seed of the per-sample variation.
        **kwargs: Passed to :func:`~spikeforge.data.generators.audio_like_events`.

    Shapes:
        x: ``[T, 700]`` spike counts.
    """

    def __init__(self, split: str = "train", *, n_samples: int = 400, num_classes: int = 20,
                 num_channels: int = 700, duration: float = 1.0, dt: float = 10e-3,
                 template_seed: int = 0, seed: int = 0, **kwargs: Any) -> None:
        self.salt = _check_split("synthetic_shd", split)
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        self.n_samples, self.num_channels, self.duration, self.seed = n_samples, num_channels, duration, seed
        self.templates = make_audio_templates(num_classes, num_channels=num_channels, duration=duration,
                                              seed=template_seed)
        self.kwargs = kwargs
        self.to_x = BinEvents(dt=dt * 1e6, n_steps=int(round(duration / dt)), flatten=True)
        self._memo: dict[int, tuple[Tensor, Tensor]] = {}

    def _generate(self, i: int) -> tuple[Tensor, Tensor]:
        rng = np.random.default_rng([self.seed, self.salt, i])
        y = i % len(self.templates)
        ev = audio_like_events(self.templates[y], num_channels=self.num_channels, duration=self.duration,
                               rng=rng, **self.kwargs)
        return self.to_x(ev), torch.tensor(y, dtype=torch.long)


@DATASETS.register("moving_shape", kind="temporal", num_classes=4, input_shape=(2, 32, 32), offline=True,
                   source="generated offline by spikeforge", license="Apache-2.0 (spikeforge)", files=(),
                   example={"n_samples": 6})
def moving_shape(split: str = "train", root: Any = None, **kwargs: Any) -> MovingShapes:
    """DVS-like moving shapes; 4 direction classes by default (``label="speed"`` for speeds)."""
    return MovingShapes(split, **kwargs)


@DATASETS.register("synthetic_shd", kind="temporal", num_classes=20, input_shape=(700,), offline=True,
                   source="generated offline by spikeforge", license="Apache-2.0 (spikeforge)", files=(),
                   example={"n_samples": 6})
def synthetic_shd(split: str = "train", root: Any = None, **kwargs: Any) -> SpikeAudioLike:
    """SHD-shaped synthetic spike audio (700 channels, 20 classes)."""
    return SpikeAudioLike(split, **kwargs)


@DATASETS.register("delayed_cue", kind="temporal", num_classes=4, input_shape=(17,), offline=True,
                   source="generated offline by spikeforge", license="Apache-2.0 (spikeforge)", files=(),
                   example={"n_samples": 6, "delay": 5})
def delayed_cue(split: str = "train", root: Any = None, *, n_samples: int = 512, delay: int = 50,
                seed: int = 0, **kwargs: Any) -> ArrayDataset:
    """Long-delay memory task (:func:`~spikeforge.data.generators.delayed_cue`); x ``[T, 17]`` by default."""
    salt = _check_split("delayed_cue", split)
    g = torch.Generator().manual_seed(seed * 2 + salt)
    x, y = _delayed_cue(n_samples, delay=delay, generator=g, **kwargs)
    return ArrayDataset(x, y)
