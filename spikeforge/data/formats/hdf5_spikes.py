"""HDF5 spike files: Spiking Heidelberg Digits / Spiking Speech Commands and NeuroMorse.

SHD/SSC (Cramer et al., 2020): ``spikes/times`` (variable-length float arrays, seconds),
``spikes/units`` (variable-length integer arrays, channel 0–699) and ``labels`` (one integer per
sample); optional ``extra/…`` groups are ignored.

Readers bound what they accept by what such a file plausibly holds, so a corrupt file gives a
:class:`FormatError` instead of an allocation of hundreds of GiB further down the pipeline: at
most one sample per byte of file, spike times finite, non-negative and within ``max_duration``
seconds (SHD/SSC recordings last under 1.5 s), labels within ``num_classes``.

NeuroMorse (Walters et al., 2025), training files: ``Spikes/Times`` and ``Spikes/Channels``
(variable-length, one row per word) and ``Labels/Labels`` (the words as strings). Test files: one
row in ``Spikes/…`` holding the whole stream, ``Labels/Labels`` (50 keywords) and
``Labels/Start Times`` / ``Labels/End Times`` (variable-length ``int32``, one row per keyword).
The published files store ``Spikes/Times`` as ``float64`` (the noisy variants have fractional
times); the writers do so with ``faithful=True`` and otherwise store times truncated to ``int32``.
The readers accept both.
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
    "read_neuromorse_stream_h5", "write_neuromorse_stream_h5", "NEUROMORSE_MAX_WORD_STEPS",
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


def _dataset(f: Any, key: str, source: str, *, vlen: bool = False) -> Any:
    """The 1-D dataset ``key`` (variable-length rows if ``vlen``), at most one entry per file byte."""
    try:
        d = f[key]
    except (KeyError, TypeError, ValueError, OSError):
        raise FormatError(f"{source}: missing dataset {key!r}") from None
    if not isinstance(d, _h5py().Dataset):
        raise FormatError(f"{source}: {key!r} is a group, expected a dataset")
    if d.ndim != 1:
        raise FormatError(f"{source}: {key!r} must be 1-D (one entry per sample), got shape {d.shape}")
    if vlen and _h5py().check_vlen_dtype(d.dtype) is None:
        raise FormatError(f"{source}: {key!r} must hold variable-length rows, got dtype {d.dtype}")
    # a dataset can declare far more entries than it stores (chunked, never written); every real
    # entry costs at least one byte of the file, so more entries than bytes means a corrupt header
    size = Path(f.filename).stat().st_size
    if len(d) > size:
        raise FormatError(f"{source}: {key!r} declares {len(d)} entries but the file has only {size} bytes")
    return d


def _check_times(t: np.ndarray, max_time: float | None, unit: str, src: str) -> None:
    """Spike times must be finite, non-negative and (if given) at most ``max_time``."""
    if not len(t):
        return
    if not np.all(np.isfinite(t)):
        raise FormatError(f"{src}: spike times contain NaN or infinity")
    lo, hi = float(t.min()), float(t.max())
    if lo < 0:
        raise FormatError(f"{src}: negative spike time {lo:g} {unit}")
    if max_time is not None and hi > max_time:
        raise FormatError(f"{src}: spike at t = {hi:g} {unit} is beyond the plausible recording length "
                          f"{max_time:g} {unit} (corrupt time stamp? pass max_duration=... to allow it)")


def _check_label(label: int, num_classes: int | None, src: str) -> None:
    if num_classes is not None and not 0 <= label < num_classes:
        raise FormatError(f"{src}: label {label} is outside the {num_classes} classes [0, {num_classes})")


class SpikeH5Reader:
    """Lazy, picklable reader of an SHD/SSC-layout file (opens the file on first access per process).

    Args:
        path: The ``.h5`` file.
        num_channels: Channel count (700 for SHD/SSC).
        num_classes: If given, labels outside ``[0, num_classes)`` raise :class:`FormatError`.
        max_duration: Seconds; a spike later than this raises :class:`FormatError` (a corrupt time
            stamp would otherwise become a dense tensor of astronomical length). ``None``: no bound.

    ``reader[i]`` returns ``(events, label)`` with times in microseconds
    (``time_unit = 1e-6``), ``x`` = channel.
    """

    def __init__(self, path: str | os.PathLike, num_channels: int = SHD_CHANNELS, *,
                 num_classes: int | None = None, max_duration: float | None = 60.0) -> None:
        self.path = Path(path)
        self.num_channels = int(num_channels)
        self.num_classes = None if num_classes is None else int(num_classes)
        self.max_duration = None if max_duration is None else float(max_duration)
        self._file: Any = None
        self._pid = -1
        f = _open(self.path)
        try:
            n = [len(_dataset(f, k, str(self.path), vlen=k != "labels"))
                 for k in ("spikes/times", "spikes/units", "labels")]
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
        raw = np.asarray(self._handle()["labels"][:])
        if raw.dtype.kind not in "iu":
            raise FormatError(f"{self.path}: labels must be integers, got dtype {raw.dtype}")
        labels = raw.astype(np.int64)
        if self.num_classes is not None and len(labels):
            bad = np.flatnonzero((labels < 0) | (labels >= self.num_classes))
            if len(bad):
                _check_label(int(labels[bad[0]]), self.num_classes, f"{self.path}[{int(bad[0])}]")
        return labels

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
        _check_times(t, self.max_duration, "s", src)
        _check_label(int(label), self.num_classes, src)
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


#: Longest plausible NeuroMorse word sample in steps: the longest keyword ("about") ends at step 92
#: and noise moves spikes by a few steps, so a word spike beyond this is a corrupt time stamp.
NEUROMORSE_MAX_WORD_STEPS = 1000


def _nm_events(t: Any, c: Any, src: str, max_time: float | None = None) -> Events:
    t, c = np.asarray(t), np.asarray(c)
    if t.dtype.kind not in "iuf" or c.dtype.kind not in "iu":
        raise FormatError(f"{src}: times must be numbers and channels integers, got {t.dtype} and {c.dtype}")
    _check_times(t.astype(np.float64), max_time, "steps", src)
    t = t.astype(np.float64) if t.dtype.kind == "f" else t.astype(np.int64)
    try:
        return make_events(t, c.astype(np.int64), sensor_size=_NM_SENSOR, time_unit=None)
    except EventError as e:
        raise FormatError(f"{src}: invalid spikes: {e}") from None


def _str(v: Any) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _nm_times(t: np.ndarray, faithful: bool) -> np.ndarray:
    t = np.asarray(t, np.float64)
    return t if faithful else np.trunc(t).astype(np.int32)


def write_neuromorse_words_h5(path: str | os.PathLike, samples: Sequence[tuple[Events, str]], *,
                              faithful: bool = False) -> None:
    """Write ``[(events, word)]`` in the published NeuroMorse training layout.

    ``faithful=True`` stores times as ``float64`` like the published files; otherwise ``int32``
    (truncated toward zero).
    """
    h5py = _h5py()
    vl = h5py.vlen_dtype(np.dtype("int32"))
    vt = h5py.vlen_dtype(np.dtype("float64")) if faithful else vl
    with h5py.File(path, "w") as f:
        ts = f.create_group("Spikes").create_dataset("Times", (len(samples),), dtype=vt)
        cs = f["Spikes"].create_dataset("Channels", (len(samples),), dtype=vl)
        ls = f.create_group("Labels").create_dataset("Labels", (len(samples),), dtype=h5py.string_dtype())
        for i, (ev, word) in enumerate(samples):
            ts[i] = _nm_times(ev.t, faithful)
            cs[i] = ev.x.astype(np.int32)
            ls[i] = word


def read_neuromorse_words_h5(path: str | os.PathLike, *,
                             max_steps: float | None = NEUROMORSE_MAX_WORD_STEPS) -> list[tuple[Events, str]]:
    """Read a NeuroMorse training file (e.g. ``Train/Clean.h5``) as ``[(events, word)]``.

    Times keep their stored type (``float64`` in the published files, ``int`` otherwise); a word
    with a spike later than ``max_steps`` raises :class:`FormatError` (``None``: no bound).
    """
    f = _open(path)
    src = str(path)
    try:
        times = _dataset(f, "Spikes/Times", src, vlen=True)
        chans = _dataset(f, "Spikes/Channels", src, vlen=True)
        labels = _dataset(f, "Labels/Labels", src)
        if not len(times) == len(chans) == len(labels):
            raise FormatError(f"{src}: Spikes/Times, Spikes/Channels and Labels/Labels differ in length")
        return [(_nm_events(times[i], chans[i], f"{src}[{i}]", max_steps), _str(labels[i]))
                for i in range(len(times))]
    except (OSError, RuntimeError, ValueError, TypeError) as e:
        if isinstance(e, FormatError):
            raise
        raise FormatError(f"{src}: unreadable NeuroMorse file ({e})") from None
    finally:
        f.close()


def write_neuromorse_stream_h5(path: str | os.PathLike, events: Events, starts: dict[str, np.ndarray],
                               ends: dict[str, np.ndarray], *, faithful: bool = False) -> None:
    """Write a keyword-spotting stream in the published NeuroMorse test layout.

    ``faithful=True`` stores spike times as ``float64`` like the published files.
    """
    h5py = _h5py()
    vl = h5py.vlen_dtype(np.dtype("int32"))
    vt = h5py.vlen_dtype(np.dtype("float64")) if faithful else vl
    words = list(starts)
    with h5py.File(path, "w") as f:
        g = f.create_group("Spikes")
        g.create_dataset("Times", (1,), dtype=vt)[0] = _nm_times(events.t, faithful)
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
        times = _dataset(f, "Spikes/Times", src, vlen=True)
        chans = _dataset(f, "Spikes/Channels", src, vlen=True)
        if len(times) != 1 or len(chans) != 1:
            raise FormatError(f"{src}: a NeuroMorse test file holds exactly one stream row")
        events = _nm_events(times[0], chans[0], src)
        words = [_str(w) for w in _dataset(f, "Labels/Labels", src)[:]]
        st = _dataset(f, "Labels/Start Times", src, vlen=True)
        en = _dataset(f, "Labels/End Times", src, vlen=True)
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
