"""One event stream in HDF5: spikeforge's lossless interchange layout.

Layout: a group ``events`` with four 1-D datasets of equal length — ``t`` (int64 or float64,
ticks), ``x``, ``y``, ``p`` (int64) — and attributes ``sensor_size`` (three ints: width, height,
polarities) and ``time_unit`` (seconds per tick; absent for abstract time steps). An optional
integer attribute ``label`` holds the sample's class. Field names follow the ``t, x, y, p``
convention of other event tools (Tonic, Prophesee's HDF5 ``CD/events``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..events import EventError, Events, make_events
from ._errors import FormatError
from .hdf5_spikes import _dataset, _h5py, _open

__all__ = ["read_events_h5", "write_events_h5"]


def write_events_h5(path: str | os.PathLike, events: Events, label: int | None = None) -> None:
    """Write one event stream (and optionally its label) in the layout above."""
    h5py = _h5py()
    with h5py.File(path, "w") as f:
        g = f.create_group("events")
        g.create_dataset("t", data=np.asarray(events.t))
        for k in ("x", "y", "p"):
            g.create_dataset(k, data=np.asarray(getattr(events, k), np.int64))
        g.attrs["sensor_size"] = np.asarray(events.sensor_size, np.int64)
        if events.time_unit is not None:
            g.attrs["time_unit"] = float(events.time_unit)
        if label is not None:
            g.attrs["label"] = int(label)


def read_events_h5(path: str | os.PathLike) -> tuple[Events, int | None]:
    """Read ``(events, label or None)`` from the layout above.

    Raises:
        FormatError: missing datasets or attributes, fields of different lengths or non-integer
            addresses, events outside ``sensor_size``.
    """
    src = str(path)
    f = _open(path)
    try:
        cols = {k: _dataset(f, f"events/{k}", src) for k in ("t", "x", "y", "p")}
        attrs: Any = f["events"].attrs
        if "sensor_size" not in attrs:
            raise FormatError(f"{src}: events group has no 'sensor_size' attribute")
        size = tuple(int(s) for s in np.asarray(attrs["sensor_size"]).ravel())
        unit = float(attrs["time_unit"]) if "time_unit" in attrs else None
        label = int(attrs["label"]) if "label" in attrs else None
        arrays = {k: np.asarray(d[:]) for k, d in cols.items()}
    except (OSError, RuntimeError, TypeError, ValueError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{src}: unreadable events file ({e})") from None
    finally:
        f.close()
    if len(size) != 3:
        raise FormatError(f"{src}: sensor_size must have three entries, got {size}")
    try:
        ev = make_events(arrays["t"], arrays["x"], arrays["y"], arrays["p"], sensor_size=size, time_unit=unit)
    except (EventError, TypeError, ValueError) as e:
        raise FormatError(f"{src}: invalid events: {e}") from None
    return ev, label
