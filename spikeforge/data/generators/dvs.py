"""A DVS-like moving-shape generator for motion-detection and object-separation demos.

Shapes (filled squares or discs) move in straight lines across a ``W × H`` sensor. The scene is
rendered every ``dt`` and a pixel emits an ON event when it becomes covered and an OFF event when
it is uncovered — an ideal DVS at a contrast threshold below the shape's contrast — at a uniformly
random time inside that step. Background noise adds uniform random events. Times are
microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..events import Events, make_events

__all__ = ["ShapeMotion", "moving_shape_events"]


@dataclass(frozen=True)
class ShapeMotion:
    """One moving object.

    Attributes:
        direction: Heading in radians (0 = +x, π/2 = +y).
        speed: Pixels per second.
        size: Side (square) or diameter (disc) in pixels.
        shape: "square" or "disc".
        offset: Signed distance (pixels) of the path from the sensor centre, perpendicular to it.
    """

    direction: float
    speed: float
    size: float = 6.0
    shape: str = "square"
    offset: float = 0.0

    def __post_init__(self) -> None:
        if self.shape not in ("square", "disc"):
            raise ValueError(f"shape must be 'square' or 'disc', got {self.shape!r}")
        if not self.size > 0 or self.speed < 0:
            raise ValueError(f"size must be > 0 and speed >= 0, got size={self.size}, speed={self.speed}")


def _mask(obj: ShapeMotion, cx: float, cy: float, xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    if obj.shape == "square":
        h = obj.size / 2
        return (np.abs(xx - cx) <= h) & (np.abs(yy - cy) <= h)
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= (obj.size / 2) ** 2


def moving_shape_events(objects: list[ShapeMotion], *, sensor_size: tuple[int, int] = (32, 32),
                        duration: float = 0.2, dt: float = 1e-3, noise_rate: float = 0.0,
                        rng: np.random.Generator) -> Events:
    """Events of shapes crossing the sensor; each path is centred on the sensor at ``duration / 2``.

    Args:
        objects: The moving shapes (their masks are OR-ed).
        sensor_size: ``(W, H)``.
        duration: Seconds.
        dt: Rendering step in seconds.
        noise_rate: Background events per pixel per second (uniform in space, time and polarity).
        rng: Randomness for event times inside a step and for noise.

    Returns:
        Events with ``sensor_size = (W, H, 2)``, time in microseconds.
    """
    if not objects:
        raise ValueError("need at least one ShapeMotion")
    if not duration > 0 or not dt > 0 or dt > duration:
        raise ValueError(f"need 0 < dt <= duration, got dt={dt}, duration={duration}")
    if noise_rate < 0:
        raise ValueError(f"noise_rate must be >= 0, got {noise_rate}")
    W, H = (int(s) for s in sensor_size)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)  # [H, W] pixel centres
    n_steps = int(round(duration / dt))
    dt_us = dt * 1e6
    ts, xs, ys, ps = [], [], [], []
    prev = np.zeros((H, W), bool)
    for k in range(n_steps + 1):
        tau = k * dt - duration / 2  # seconds relative to the crossing time
        cur = np.zeros((H, W), bool)
        for o in objects:
            ux, uy = math.cos(o.direction), math.sin(o.direction)
            cx = (W - 1) / 2 + o.speed * tau * ux - o.offset * uy
            cy = (H - 1) / 2 + o.speed * tau * uy + o.offset * ux
            cur |= _mask(o, cx, cy, xx, yy)
        if k > 0:
            for pol, changed in ((1, cur & ~prev), (0, prev & ~cur)):
                y, x = np.nonzero(changed)
                ts.append((k - 1) * dt_us + rng.uniform(0, dt_us, len(x)))
                xs.append(x)
                ys.append(y)
                ps.append(np.full(len(x), pol))
        prev = cur
    n_noise = rng.poisson(noise_rate * W * H * duration)
    ts.append(rng.uniform(0, duration * 1e6, n_noise))
    xs.append(rng.integers(0, W, n_noise))
    ys.append(rng.integers(0, H, n_noise))
    ps.append(rng.integers(0, 2, n_noise))
    t = np.floor(np.concatenate(ts)).astype(np.int64)
    return make_events(t, np.concatenate(xs).astype(np.int64), np.concatenate(ys).astype(np.int64),
                       np.concatenate(ps).astype(np.int64), sensor_size=(W, H, 2), time_unit=1e-6, sort=True)
