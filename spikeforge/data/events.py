"""Event streams: one validated container for address-event data.

An event is ``(t, x, y, p)``: a time stamp, a column (or channel) address, a row address and a
polarity. One-dimensional sensors (cochlea channels, Morse channels) use ``y = 0`` and height 1.

Units:
    ``t`` counts ticks of ``time_unit`` seconds: ``1e-6`` (microseconds) for cameras and the
    real-format loaders, ``1.0``-step ticks (``time_unit=None`` means "dimensionless time steps")
    for generated data such as NeuroMorse. ``x``/``y`` are pixel or channel indices; ``p`` is
    ``0`` (OFF) or ``1`` (ON) — or ``0`` only, for sensors without polarity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = ["Events", "EventError", "make_events", "EVENT_DTYPE"]

#: Structured dtype used by :meth:`Events.to_structured` (field names match the common convention).
EVENT_DTYPE = np.dtype([("t", "<f8"), ("x", "<i8"), ("y", "<i8"), ("p", "<i8")])


class EventError(ValueError):
    """Raised for an event stream that breaks the container's invariants."""


def _as_array(name: str, a: Any, *, integer: bool) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except Exception as e:  # ragged lists and the like
            raise TypeError(f"events.{name} must be array-like, got {type(a).__name__}") from e
    if a.ndim != 1:
        raise ValueError(f"events.{name} must be 1-D, got shape {tuple(a.shape)}")
    if a.size == 0:  # an empty list has no meaningful dtype
        return a.astype(np.int64 if integer else np.float64)
    if a.dtype == np.bool_ or a.dtype.kind not in ("i", "u", "f"):
        raise TypeError(f"events.{name} must have an integer or float dtype, got {a.dtype}")
    if integer:
        if a.dtype.kind == "f":
            raise TypeError(f"events.{name} must have an integer dtype, got {a.dtype}")
        return a.astype(np.int64, copy=False)
    return a


@dataclass(frozen=True, eq=False)
class Events:
    """A validated, time-sorted event stream.

    Args:
        t: Time stamps ``[N]`` (int or float), non-negative and non-decreasing.
        x: Column / channel addresses ``[N]`` (int), ``0 <= x < sensor_size[0]``.
        y: Row addresses ``[N]`` (int), ``0 <= y < sensor_size[1]``.
        p: Polarities ``[N]`` (int), ``0 <= p < sensor_size[2]``.
        sensor_size: ``(width, height, polarities)``.
        time_unit: Seconds per tick of ``t`` (``1e-6`` for microseconds); ``None`` for abstract
            time steps.

    Raises:
        EventError: unsorted or negative times, addresses outside the sensor, mismatched lengths.
        TypeError: a non-numeric or float address array.

    Use :func:`make_events` to build one from loose arrays (with ``sort=True`` to sort).
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    sensor_size: tuple[int, int, int]
    time_unit: float | None = field(default=1e-6)

    def __post_init__(self) -> None:
        size = tuple(int(s) for s in self.sensor_size)
        if len(size) != 3 or min(size) < 1:
            raise ValueError(f"sensor_size must be (width, height, polarities) >= 1, got {self.sensor_size!r}")
        object.__setattr__(self, "sensor_size", size)
        if self.time_unit is not None and not float(self.time_unit) > 0:
            raise ValueError(f"time_unit must be > 0 seconds or None, got {self.time_unit!r}")
        t = _as_array("t", self.t, integer=False)
        arrays = {k: _as_array(k, getattr(self, k), integer=True) for k in ("x", "y", "p")}
        n = len(t)
        for k, a in arrays.items():
            if len(a) != n:
                raise EventError(f"events.{k} has {len(a)} entries but events.t has {n}")
        if n:
            if not np.all(np.isfinite(t)):
                raise EventError("events.t contains NaN or infinite values")
            if t.min() < 0:
                raise EventError(f"events.t must be >= 0, got minimum {t.min()}")
            if np.any(np.diff(t) < 0):
                raise EventError("events.t is not sorted; pass sort=True to make_events to sort it")
            for k, limit in zip(("x", "y", "p"), size):
                a = arrays[k]
                if a.min() < 0 or a.max() >= limit:
                    raise EventError(
                        f"events.{k} must lie in [0, {limit}) for sensor_size {size}, "
                        f"got range [{a.min()}, {a.max()}]"
                    )
        object.__setattr__(self, "t", t)
        for k, a in arrays.items():
            object.__setattr__(self, k, a)

    def __len__(self) -> int:
        return len(self.t)

    def __getitem__(self, index: Any) -> Events:
        """Select events by slice, boolean mask or sorted index array."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 or None)
        return Events(self.t[index], self.x[index], self.y[index], self.p[index], self.sensor_size, self.time_unit)

    def replace(self, **changes: Any) -> Events:
        """A copy with some fields replaced (validated again)."""
        kw = {k: getattr(self, k) for k in ("t", "x", "y", "p", "sensor_size", "time_unit")}
        kw.update(changes)
        return Events(**kw)

    @property
    def duration(self) -> float:
        """``t[-1] - t[0]`` in ticks (0 for fewer than two events)."""
        return float(self.t[-1] - self.t[0]) if len(self) > 1 else 0.0

    def to_structured(self) -> np.ndarray:
        """Structured array ``[N]`` with fields ``t, x, y, p`` (dtype :data:`EVENT_DTYPE`)."""
        out = np.empty(len(self), dtype=EVENT_DTYPE)
        for k in ("t", "x", "y", "p"):
            out[k] = getattr(self, k)
        return out

    def to_tensor(self) -> torch.Tensor:
        """Float64 tensor ``[N, 4]`` with columns ``(t, x, y, p)``."""
        cols = [np.asarray(getattr(self, k), dtype=np.float64) for k in ("t", "x", "y", "p")]
        return torch.from_numpy(np.stack(cols, axis=1) if len(self) else np.zeros((0, 4)))

    @classmethod
    def from_structured(cls, arr: np.ndarray, sensor_size: tuple[int, int, int], *,
                        time_unit: float | None = 1e-6, sort: bool = False) -> Events:
        """Build from a structured array with fields ``t``, ``x`` and optionally ``y``, ``p``."""
        if not isinstance(arr, np.ndarray) or arr.dtype.names is None:
            raise TypeError("from_structured expects a structured numpy array with fields t, x[, y, p]")
        names = arr.dtype.names
        for k in ("t", "x"):
            if k not in names:
                raise ValueError(f"structured events need a field {k!r}; got fields {names}")
        y = arr["y"] if "y" in names else None
        p = arr["p"] if "p" in names else None
        x = arr["x"]
        if x.dtype.kind == "f":  # some tools store addresses as floats; accept exact integers only
            if not np.all(np.equal(np.mod(x, 1), 0)):
                raise EventError("field 'x' holds non-integer addresses")
            x = x.astype(np.int64)
        return make_events(arr["t"], x, y, p, sensor_size=sensor_size, time_unit=time_unit, sort=sort)


def make_events(t: Any, x: Any, y: Any = None, p: Any = None, *, sensor_size: tuple[int, ...],
                time_unit: float | None = 1e-6, sort: bool = False) -> Events:
    """Build a validated :class:`Events` from arrays, lists or tensors.

    Args:
        t, x, y, p: Event fields ``[N]``; ``y`` and ``p`` default to zeros.
        sensor_size: ``(width,)``, ``(width, height)`` or ``(width, height, polarities)``;
            missing entries default to 1.
        time_unit: Seconds per tick of ``t``; ``None`` for abstract time steps.
        sort: Stably sort by ``t`` instead of raising on unsorted input.

    Example:
        >>> ev = make_events([3, 1], [0, 1], sensor_size=(2,), time_unit=None, sort=True)
        >>> ev.t.tolist(), ev.x.tolist()
        ([1, 3], [1, 0])
    """
    size = tuple(int(s) for s in sensor_size)
    if not 1 <= len(size) <= 3:
        raise ValueError(f"sensor_size must have 1 to 3 entries, got {sensor_size!r}")
    size = size + (1,) * (3 - len(size))
    t_arr = _as_array("t", t, integer=False)
    n = len(t_arr)
    x_arr = _as_array("x", x, integer=True)
    y_arr = np.zeros(n, np.int64) if y is None else _as_array("y", y, integer=True)
    p_arr = np.zeros(n, np.int64) if p is None else _as_array("p", p, integer=True)
    if sort and n and any(len(a) != n for a in (x_arr, y_arr, p_arr)):
        raise EventError("event fields t, x, y, p must have equal lengths")
    if sort:
        order = np.argsort(t_arr, kind="stable")
        t_arr, x_arr, y_arr, p_arr = t_arr[order], x_arr[order], y_arr[order], p_arr[order]
    return Events(t_arr, x_arr, y_arr, p_arr, size, time_unit)  # type: ignore[arg-type]
