"""A spike-audio-like generator shaped like Spiking Heidelberg Digits (700 channels).

Each class owns a fixed template of ``n_ridges`` "formant" ridges: a ridge sweeps linearly from one
channel to another between an onset and an offset time and fires Poisson spikes around its centre
(Gaussian spread across channels). A sample warps the template in time, shifts it in channel, adds
time jitter and background spikes — so classes differ by spatio-temporal pattern, not by rate alone.
Times are microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..events import Events, make_events

__all__ = ["AudioTemplate", "make_audio_templates", "audio_like_events"]


@dataclass(frozen=True)
class AudioTemplate:
    """Ridges of one class: arrays ``[R]`` of start/end channel and onset/offset (seconds)."""

    ch_start: tuple[float, ...]
    ch_end: tuple[float, ...]
    onset: tuple[float, ...]
    offset: tuple[float, ...]


def make_audio_templates(num_classes: int, *, num_channels: int = 700, duration: float = 1.0,
                         n_ridges: int = 3, seed: int = 0) -> list[AudioTemplate]:
    """Random but fixed (per ``seed``) class templates."""
    if num_classes < 1 or n_ridges < 1:
        raise ValueError(f"num_classes and n_ridges must be >= 1, got {num_classes}, {n_ridges}")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num_classes):
        on = rng.uniform(0.05, 0.5, n_ridges) * duration
        off = np.minimum(on + rng.uniform(0.2, 0.45, n_ridges) * duration, 0.95 * duration)
        a = rng.uniform(0.05, 0.95, n_ridges) * num_channels
        b = np.clip(a + rng.normal(0, 0.15, n_ridges) * num_channels, 0, num_channels - 1)
        out.append(AudioTemplate(tuple(a), tuple(b), tuple(on), tuple(off)))
    return out


def audio_like_events(template: AudioTemplate, *, num_channels: int = 700, duration: float = 1.0,
                      rate: float = 2000.0, spread: float = 4.0, time_warp: float = 0.1,
                      channel_shift: float = 10.0, jitter: float = 2e-3, noise_rate: float = 5.0,
                      rng: np.random.Generator) -> Events:
    """One sample of a class.

    Args:
        rate: Spikes per second per ridge.
        spread: Channel standard deviation around a ridge centre.
        time_warp: Maximum relative stretch of the template (uniform in ``±time_warp``).
        channel_shift: Maximum channel shift (uniform in ``±channel_shift``).
        jitter: Gaussian spike-time jitter in seconds.
        noise_rate: Background spikes per channel per second.

    Returns:
        Events with ``sensor_size = (num_channels, 1, 1)``, times in microseconds within ``duration``.
    """
    warp = 1.0 + rng.uniform(-time_warp, time_warp)
    shift = rng.uniform(-channel_shift, channel_shift)
    ts, cs = [], []
    for a, b, on, off in zip(template.ch_start, template.ch_end, template.onset, template.offset):
        n = rng.poisson(rate * (off - on))
        u = rng.uniform(0, 1, n)  # position along the ridge
        ts.append((on + u * (off - on)) * warp + rng.normal(0, jitter, n))
        cs.append(a + u * (b - a) + shift + rng.normal(0, spread, n))
    n_noise = rng.poisson(noise_rate * num_channels * duration)
    ts.append(rng.uniform(0, duration, n_noise))
    cs.append(rng.uniform(0, num_channels, n_noise))
    t, c = np.concatenate(ts), np.rint(np.concatenate(cs))
    ok = (t >= 0) & (t < duration) & (c >= 0) & (c < num_channels)
    return make_events(np.floor(t[ok] * 1e6).astype(np.int64), c[ok].astype(np.int64),
                       sensor_size=(num_channels, 1, 1), time_unit=1e-6, sort=True)
