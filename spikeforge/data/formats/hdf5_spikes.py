"""HDF5 spike files: Spiking Heidelberg Digits / Spiking Speech Commands and NeuroMorse.

SHD/SSC (Cramer et al., 2020): ``spikes/times`` (variable-length float arrays, seconds),
``spikes/units`` (variable-length integer arrays, channel 0–699) and ``labels`` (one integer per
sample); optional ``extra/…`` groups are ignored.

NeuroMorse (Walters et al., 2025), training files: ``Spikes/Times`` and ``Spikes/Channels``
(variable-length ``int32``, one row per word) and ``Labels/Labels`` (the words as strings). Test
files: one row in ``Spikes/…`` holding the whole stream, ``Labels/Labels`` (50 keywords) and
``Labels/Start Times`` / ``Labels/End Times`` (variable-length ``int32``, one row per keyword).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..events import EventError, Events, make_events
from ._errors import FormatError

__all__ = [
    "SHD_CHANNELS", "SpikeH5Reader", "write_shd_h5",
    "read_neuromorse_words_h5", "write_neuromorse_words_h5",
    "read_neuromorse_stream_h5", "write_neuromorse_stream_h5",
]

SHD_CHANNELS = 700


def _h5py() -> Any:
    import h5py  # core dependency; imported lazily so `import spikeforge.data` stays light

    return h5py


def _open(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such HDF5 file: {path}")
    try:
        return _h5py().File(path, "r")
    except OSError as e:
        raise FormatError(f"{path}: not a readable HDF5 file ({e})") from None


def _dataset(f: Any, key: str, source: str) -> Any:
    try:
        d = f[key]
    except (KeyError, TypeError, ValueError, OSError):
        raise FormatError(f"{source}: missing dataset {key!r}") from None
    if not isinstance(d, _h5py().Dataset):
        raise FormatError(f"{source}: {key!r} is a group, expected a dataset")
    return d


class SpikeH5Reader:
    """Lazy, picklable reader of an SHD/SSC-layout file (opens the file on first access per process).

    Args:
        path: The ``.h5`` file.
        num_channels: Channel count (700 for SHD/SSC).

    ``reader[i]`` returns ``(events, label)`` with times in microseconds
    (``time_unit = 1e-6``), ``x`` = channel.
    """

    def __init__(self, path: str | os.PathLike, num_channels: int = SHD_CHANNELS) -> None:
        self.path = Path(path)
        self.num_channels = int(num_channels)
        self._file: Any = None
        self._pid = -1
        f = _open(self.path)
        try:
            n = [len(_dataset(f, k, str(self.path))) for k in ("spikes/times", "spikes/units", "labels")]
        except (OSError, RuntimeError) as e:
            raise FormatError(f"{self.path}: unreadable HDF5 structure ({e})") from None
        finally:
            f.close()
        if len(set(n)) != 1:
            raise FormatError(f"{self.path}: spikes/times, spikes/units and labels have different "
                              f"lengths {n}")
        self._len = n[0]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_file"] = None  # h5py handles do not pickle; each worker reopens
        return state

    def __len__(self) -> int:
        return self._len

    def labels(self) -> np.ndarray:
        """All labels ``[N]`` (int64)."""
        return np.asarray(self._handle()["labels"][:], dtype=np.int64)

    def _handle(self) -> Any:
        # a handle inherited through fork() is not safe to share: reopen in every process
        if self._file is None or self._pid != os.getpid():
            self._file = _open(self.path)
            self._pid = os.getpid()
        return self._file

    def __getitem__(self, i: int) -> tuple[Events, int]:
        if not -self._len <= i < self._len:
            raise IndexError(f"index {i} out of range for {self._len} samples")
        f = self._handle()
        src = f"{self.path}[{i}]"
        try:
            t = np.asarray(f["spikes/times"][i], dtype=np.float64)
            u = np.asarray(f["spikes/units"][i])
            label = f["labels"][i]
        except (OSError, RuntimeError, ValueError, TypeError) as e:
            raise FormatError(f"{src}: unreadable sample ({e})") from None
        if u.dtype.kind not in "iu" or np.ndim(label) != 0 or np.asarray(label).dtype.kind not in "iu":
            raise FormatError(f"{src}: units and labels must be integers")
        try:
            ev = make_events(np.round(t * 1e6).astype(np.int64) if len(t) else t, u.astype(np.int64),
                             sensor_size=(self.num_channels, 1, 1), time_unit=1e-6, sort=True)
        except (EventError, TypeError, ValueError) as e:
            raise FormatError(f"{src}: invalid spikes: {e}") from None
        return ev, int(label)


def write_shd_h5(path: str | os.PathLike, times: Sequence[np.ndarray], units: Sequence[np.ndarray],
                 labels: Sequence[int]) -> None:
    """Write spikes in the SHD/SSC layout (``times`` in seconds, float; ``units`` integer)."""
    h5py = _h5py()
    if not len(times) == len(units) == len(labels):
        raise ValueError(f"times, units and labels need equal lengths, got {len(times)}, {len(units)}, {len(labels)}")
    with h5py.File(path, "w") as f:
        g = f.create_group("spikes")
        dt = g.create_dataset("times", (len(times),), dtype=h5py.vlen_dtype(np.dtype("float32")))
        du = g.create_dataset("units", (len(units),), dtype=h5py.vlen_dtype(np.dtype("uint16")))
        for i, (t, u) in enumerate(zip(times, units)):
            dt[i] = np.asarray(t, np.float32)
            du[i] = np.asarray(u, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))


_NM_SENSOR = (2, 1, 1)


def _nm_events(t: Any, c: Any, src: str) -> Events:
    t, c = np.asarray(t), np.asarray(c)
    if t.dtype.kind not in "iu" or c.dtype.kind not in "iu":
        raise FormatError(f"{src}: times and channels must be integers")
    try:
        return make_events(t.astype(np.int64), c.astype(np.int64), sensor_size=_NM_SENSOR, time_unit=None)
    except EventError as e:
        raise FormatError(f"{src}: invalid spikes: {e}") from None


def _str(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def write_neuromorse_words_h5(path: str | os.PathLike, samples: Sequence[tuple[Events, str]]) -> None:
    """Write ``[(events, word)]`` in the published NeuroMorse training layout."""
    h5py = _h5py()
    vl = h5py.vlen_dtype(np.dtype("int32"))
    with h5py.File(path, "w") as f:
        ts = f.create_group("Spikes").create_dataset("Times", (len(samples),), dtype=vl)
        cs = f["Spikes"].create_dataset("Channels", (len(samples),), dtype=vl)
        ls = f.create_group("Labels").create_dataset("Labels", (len(samples),), dtype=h5py.string_dtype())
        for i, (ev, word) in enumerate(samples):
            ts[i] = np.trunc(np.asarray(ev.t, np.float64)).astype(np.int32)
            cs[i] = ev.x.astype(np.int32)
            ls[i] = word


def read_neuromorse_words_h5(path: str | os.PathLike) -> list[tuple[Events, str]]:
    """Read a NeuroMorse training file (e.g. ``Train/Clean.h5``) as ``[(events, word)]``."""
    f = _open(path)
    src = str(path)
    try:
        times, chans = _dataset(f, "Spikes/Times", src), _dataset(f, "Spikes/Channels", src)
        labels = _dataset(f, "Labels/Labels", src)
        if not len(times) == len(chans) == len(labels):
            raise FormatError(f"{src}: Spikes/Times, Spikes/Channels and Labels/Labels differ in length")
        return [(_nm_events(times[i], chans[i], f"{src}[{i}]"), _str(labels[i])) for i in range(len(times))]
    except (OSError, RuntimeError, ValueError, TypeError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{src}: unreadable NeuroMorse file ({e})") from None
    finally:
        f.close()


def write_neuromorse_stream_h5(path: str | os.PathLike, events: Events, starts: dict[str, np.ndarray],
                               ends: dict[str, np.ndarray]) -> None:
    """Write a keyword-spotting stream in the published NeuroMorse test layout."""
    h5py = _h5py()
    vl = h5py.vlen_dtype(np.dtype("int32"))
    words = list(starts)
    with h5py.File(path, "w") as f:
        g = f.create_group("Spikes")
        g.create_dataset("Times", (1,), dtype=vl)[0] = np.trunc(np.asarray(events.t, np.float64)).astype(np.int32)
        g.create_dataset("Channels", (1,), dtype=vl)[0] = events.x.astype(np.int32)
        lab = f.create_group("Labels")
        lab.create_dataset("Labels", (len(words),), dtype=h5py.string_dtype())[:] = words
        st = lab.create_dataset("Start Times", (len(words),), dtype=vl)
        en = lab.create_dataset("End Times", (len(words),), dtype=vl)
        for i, w in enumerate(words):
            st[i] = np.asarray(starts[w], np.int32)
            en[i] = np.asarray(ends[w], np.int32)


def read_neuromorse_stream_h5(path: str | os.PathLike) -> tuple[Events, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Read a NeuroMorse test file as ``(events, starts, ends)`` keyed by keyword."""
    f = _open(path)
    src = str(path)
    try:
        times, chans = _dataset(f, "Spikes/Times", src), _dataset(f, "Spikes/Channels", src)
        if len(times) != 1 or len(chans) != 1:
            raise FormatError(f"{src}: a NeuroMorse test file holds exactly one stream row")
        events = _nm_events(times[0], chans[0], src)
        words = [_str(w) for w in _dataset(f, "Labels/Labels", src)[:]]
        st, en = _dataset(f, "Labels/Start Times", src), _dataset(f, "Labels/End Times", src)
        if not len(words) == len(st) == len(en):
            raise FormatError(f"{src}: Labels/Labels, Start Times and End Times differ in length")
        starts = {w: np.asarray(st[i], np.int64) for i, w in enumerate(words)}
        ends = {w: np.asarray(en[i], np.int64) for i, w in enumerate(words)}
        return events, starts, ends
    except (OSError, RuntimeError, ValueError, TypeError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{src}: unreadable NeuroMorse file ({e})") from None
    finally:
        f.close()
