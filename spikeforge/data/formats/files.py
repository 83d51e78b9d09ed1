"""Whole event files by format name: detect, summarise, read one sample, write one sample.

This is what ``spikeforge data inspect`` and ``spikeforge data convert`` run on. Formats:

============== ========== =====================================================================
name           extension  content
============== ========== =====================================================================
``atis``       ``.bin``   N-MNIST ATIS 40-bit events (one stream, µs)
``aedat``      ``.aedat`` AEDAT 3.1 polarity events, DVS128 Gesture (one stream, µs)
``events_h5``  ``.h5``    spikeforge's HDF5 layout (:mod:`.hdf5_events`; one stream, lossless)
``shd_h5``     ``.h5``    SHD/SSC layout (many samples, 1-D sensor, seconds)
``neuromorse`` ``.h5``    NeuroMorse training words or test stream (time steps; read only)
============== ========== =====================================================================

HDF5 files are told apart by their top-level groups (``events``, ``spikes``, ``Spikes``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..events import Events, make_events
from ._errors import FormatError
from .aedat import DVS128_SENSOR_SIZE, read_aedat31, write_aedat31
from .hdf5_events import read_events_h5, write_events_h5
from .hdf5_spikes import (
    SHD_CHANNELS, SpikeH5Reader, _open, read_neuromorse_stream_h5, read_neuromorse_words_h5, write_shd_h5,
)
from .nmnist import NMNIST_SENSOR_SIZE, read_atis_bin, write_atis_bin

__all__ = ["FILE_FORMATS", "WRITABLE_FORMATS", "FileSummary", "detect_format", "summarize_file", "read_sample",
           "write_sample"]

FILE_FORMATS = ("atis", "aedat", "events_h5", "shd_h5", "neuromorse")
WRITABLE_FORMATS = ("atis", "aedat", "events_h5", "shd_h5")
_BY_EXTENSION = {".bin": "atis", ".aedat": "aedat"}
_H5_GROUPS = {"events": "events_h5", "spikes": "shd_h5", "Spikes": "neuromorse"}


def _check_format(fmt: str, allowed: tuple[str, ...]) -> str:
    if fmt not in allowed:
        raise ValueError(f"unknown event file format {fmt!r}; valid: {', '.join(allowed)}")
    return fmt


def detect_format(path: str | os.PathLike, *, for_writing: bool = False) -> str:
    """The format of ``path`` from its extension (and, for an existing HDF5 file, its groups).

    A new ``.h5`` / ``.hdf5`` file to write is ``events_h5``.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext in _BY_EXTENSION:
        return _BY_EXTENSION[ext]
    if ext not in (".h5", ".hdf5"):
        raise ValueError(f"{path}: cannot tell the format from the extension {ext!r}; use .bin, .aedat or .h5 "
                         f"or name the format ({', '.join(FILE_FORMATS)})")
    if for_writing:
        return "events_h5"
    f = _open(path)
    try:
        found = [fmt for group, fmt in _H5_GROUPS.items() if group in f]
    finally:
        f.close()
    if len(found) != 1:
        raise FormatError(f"{path}: an HDF5 file with groups {sorted(_h5_keys(path))} is none of the known "
                          f"layouts (a group 'events', 'spikes' or 'Spikes')")
    return found[0]


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_AEDAT_MAGIC = b"#!AER-DAT"
_H5_FORMATS = ("events_h5", "shd_h5", "neuromorse")
_GROUP_OF = {name: group for group, name in _H5_GROUPS.items()}


def _check_content(path: Path, fmt: str) -> None:
    """Refuse a format that the file's first bytes rule out (an HDF5 file read as ATIS events, an
    AEDAT file read as HDF5), naming what the file is and the format(s) to use instead."""
    with open(path, "rb") as f:
        head = f.read(16)  # the longest magic below fits
    if head.startswith(_HDF5_MAGIC):
        try:
            found = [name for group, name in _H5_GROUPS.items() if group in _h5_keys(path)]
        except FormatError:
            found = []
        detected = len(found) == 1 and path.suffix.lower() in (".h5", ".hdf5")  # what leaving --format out finds
        use = (found[0] if len(found) == 1 else " or ".join(_H5_FORMATS)) + (" or leave --format out" * detected)
        if fmt not in _H5_FORMATS:
            raise FormatError(f"{path}: the file is HDF5 (its first bytes say so), not {fmt} events: "
                              f"use --format {use}")
        if len(found) == 1 and found[0] != fmt:  # then fmt's top-level group is missing
            raise FormatError(f"{path}: the file has the {found[0]} layout (a group {_GROUP_OF[found[0]]!r}), not "
                              f"{fmt} (a group {_GROUP_OF[fmt]!r}): use --format {use}")
    if head.startswith(_AEDAT_MAGIC) and fmt != "aedat":
        raise FormatError(f"{path}: the file is AEDAT (it starts with '#!AER-DAT'), not {fmt}: use --format aedat")


def _h5_keys(path: Path) -> list[str]:
    f = _open(path)
    try:
        return list(f.keys())
    finally:
        f.close()


@dataclass
class FileSummary:
    """What an event file holds.

    Attributes:
        duration: Longest sample, ``t_last − t_first``, in seconds (``time_unit`` known) or steps.
        classes: Label → number of samples (words for NeuroMorse, keyword occurrences for a stream).
    """

    path: str
    format: str
    samples: int
    events: int
    duration: float
    time_unit: float | None
    sensor_size: tuple[int, int, int]
    classes: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        unit = "s" if self.time_unit is not None else "steps"
        w, h, p = self.sensor_size
        lines = [f"file: {self.path}", f"format: {self.format}", f"samples: {self.samples}",
                 f"events: {self.events}", f"duration: {self.duration:.6g} {unit} (longest sample)",
                 f"sensor: {w} x {h} x {p} (width x height x polarities)"]
        if self.classes:
            shown = ", ".join(f"{k}: {v}" for k, v in list(self.classes.items())[:20])
            more = " …" if len(self.classes) > 20 else ""
            lines.append(f"classes: {len(self.classes)} ({shown}{more})")
        else:
            lines.append("classes: none (unlabelled)")
        return lines


Label = int | str | None


def _samples(path: Path, fmt: str, sensor_size: tuple[int, int, int] | None
             ) -> tuple[int, Iterator[tuple[Events, Label]]]:
    """Number of samples and an iterator over ``(events, label)`` (one sample in memory at a time)."""
    if fmt == "atis":
        return 1, iter([(read_atis_bin(path, sensor_size or NMNIST_SENSOR_SIZE), None)])
    if fmt == "aedat":
        return 1, iter([(read_aedat31(path, sensor_size or DVS128_SENSOR_SIZE)[1], None)])
    if fmt == "events_h5":
        return 1, iter([read_events_h5(path)])
    if fmt == "shd_h5":
        reader = SpikeH5Reader(path, sensor_size[0] if sensor_size else SHD_CHANNELS)
        return len(reader), (reader[i] for i in range(len(reader)))
    f = _open(path)  # neuromorse: a stream file has keyword start times
    try:
        is_stream = "Labels" in f and "Start Times" in f["Labels"]
    finally:
        f.close()
    if is_stream:
        ev, starts, _ = read_neuromorse_stream_h5(path)
        return 1, iter([(ev, None)])
    words = read_neuromorse_words_h5(path)
    return len(words), iter(words)


def summarize_file(path: str | os.PathLike, fmt: str | None = None, *,
                   sensor_size: tuple[int, int, int] | None = None) -> FileSummary:
    """Count samples, events, the longest duration and the classes of an event file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an event file")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    fmt = _check_format(fmt or detect_format(path), FILE_FORMATS)
    _check_content(path, fmt)
    n, it = _samples(path, fmt, sensor_size)
    events, longest, unit, size = 0, 0.0, None, sensor_size or (1, 1, 1)
    counts: dict[Label, int] = {}
    for ev, label in it:
        events += len(ev)
        scale = ev.time_unit if ev.time_unit is not None else 1.0
        longest = max(longest, ev.duration * scale)
        unit, size = ev.time_unit, ev.sensor_size
        if label is not None:
            counts[label] = counts.get(label, 0) + 1
    if fmt == "neuromorse" and not counts:  # a stream: keyword occurrences
        _, starts, _ = read_neuromorse_stream_h5(path)
        counts = {w: len(s) for w, s in starts.items() if len(s)}
    # integer labels in numeric order, words in file order
    keys: list[Label] = list(counts)
    if all(isinstance(k, int) for k in keys):
        keys.sort(key=lambda k: int(k or 0))
    classes = {str(k): counts[k] for k in keys}
    return FileSummary(str(path), fmt, n, events, longest, unit, size, classes)


def read_sample(path: str | os.PathLike, fmt: str | None = None, *, index: int | None = None,
                sensor_size: tuple[int, int, int] | None = None) -> tuple[Events, int | None]:
    """One ``(events, label)`` from a file; ``index`` picks a sample of a multi-sample file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not an event file")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    fmt = _check_format(fmt or detect_format(path), FILE_FORMATS)
    _check_content(path, fmt)
    if fmt == "shd_h5":  # random access: no need to read the samples before index
        reader = SpikeH5Reader(path, sensor_size[0] if sensor_size else SHD_CHANNELS)
        n = len(reader)
    else:
        n, it = _samples(path, fmt, sensor_size)
    if index is None and n != 1:
        raise ValueError(f"{path} holds {n} samples; pick one with --sample INDEX")
    i = 0 if index is None else int(index)
    if not 0 <= i < n:
        raise ValueError(f"sample {i} out of range: {path} holds {n} samples")
    if fmt == "shd_h5":
        return reader[i]
    for k, (ev, label) in enumerate(it):
        if k == i:
            return ev, label if isinstance(label, int) else None
    raise AssertionError("unreachable")  # pragma: no cover


def _microseconds(events: Events, tick: float | None) -> np.ndarray:
    """Times in whole microseconds (rounded); ``tick`` gives seconds per step for step-time events."""
    unit = events.time_unit if events.time_unit is not None else tick
    if unit is None:
        raise ValueError("these events count abstract time steps; give the seconds per step (--tick SECONDS) "
                         "to write a format with time stamps in microseconds")
    return np.round(np.asarray(events.t, np.float64) * (unit / 1e-6)).astype(np.int64)


def write_sample(path: str | os.PathLike, events: Events, label: int | None = None, fmt: str | None = None, *,
                 tick: float | None = None) -> str:
    """Write one event stream to ``path`` in ``fmt`` (default: from the extension); returns the format.

    ``atis`` and ``aedat`` store whole microseconds (times are rounded), ``shd_h5`` float32
    seconds on a 1-D sensor (``x`` = channel), ``events_h5`` everything as is.
    """
    if tick is not None and not (math.isfinite(tick) and tick > 0):
        raise ValueError(f"tick (--tick, seconds per time step) must be a finite number > 0, got {tick!r}")
    if tick is not None and events.time_unit is not None:  # refused, not silently ignored
        raise ValueError(f"these events have time stamps ({events.time_unit:g} s per tick); tick (--tick) "
                         "applies only to events that count abstract time steps: leave it out")
    fmt = _check_format(fmt or detect_format(path, for_writing=True), WRITABLE_FORMATS)
    if fmt == "events_h5":
        write_events_h5(path, events, label)
        return fmt
    t_us = _microseconds(events, tick)
    if fmt == "shd_h5":
        if events.sensor_size[1:] != (1, 1):
            raise ValueError(f"the SHD layout holds 1-D sensors (height 1, one polarity); these events have "
                             f"sensor_size {events.sensor_size}")
        write_shd_h5(path, [t_us * 1e-6], [events.x], [0 if label is None else int(label)])
        return fmt
    us = make_events(t_us, events.x, events.y, events.p, sensor_size=events.sensor_size, time_unit=1e-6)
    if fmt == "atis":
        write_atis_bin(path, us)
    else:
        write_aedat31(path, us)
    return fmt
