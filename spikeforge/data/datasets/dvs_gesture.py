"""DVS128 Gesture (Amir et al., 2017): 11 hand gestures from 29 subjects under 3 lightings.

Expected layout (the unpacked ``DvsGesture.tar.gz``): ``root/trials_to_train.txt``,
``root/trials_to_test.txt`` (one ``.aedat`` file name per line) and, per trial,
``root/<trial>.aedat`` (AEDAT 3.1) with ``root/<trial>_labels.csv`` (header
``class,startTime_usec,endTime_usec``; classes 1–11). Every labelled interval is one sample,
with times shifted to start at 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..events import Events
from ..formats._errors import FormatError
from ..formats.aedat import DVS128_SENSOR_SIZE, read_aedat31
from ..representations import BinEvents
from . import DATASETS
from ._files import missing_files_error, resolve_root

__all__ = ["DVSGesture", "dvs_gesture", "read_gesture_labels"]


#: Longest plausible labelled gesture in µs: the recorded gestures last about 6 s each, so a longer
#: interval is a corrupt row (it would also become a dense sample of that many frames).
MAX_GESTURE_US = 60_000_000


def read_gesture_labels(path: str | os.PathLike) -> np.ndarray:
    """Rows ``(class 1–11, start µs, end µs)`` of a ``*_labels.csv`` file, as int64 ``[K, 3]``.

    Raises:
        FormatError: a missing header, non-integer fields, a class outside 1–11, or an interval
            that is empty, negative or longer than :data:`MAX_GESTURE_US`.
    """
    path = Path(path)
    lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    if not lines or lines[0].replace(" ", "").lower() != "class,starttime_usec,endtime_usec":
        raise FormatError(f"{path}: expected header 'class,startTime_usec,endTime_usec'")
    rows = []
    for k, ln in enumerate(lines[1:], start=2):
        parts = ln.split(",")
        try:
            c, s, e = (int(v) for v in parts)
        except ValueError:
            raise FormatError(f"{path}:{k}: expected three integers, got {ln!r}") from None
        if not 1 <= c <= 11 or not 0 <= s < e:
            raise FormatError(f"{path}:{k}: class must be 1–11 and 0 <= start < end, got {ln!r}")
        if e - s > MAX_GESTURE_US:
            raise FormatError(f"{path}:{k}: a gesture of {(e - s) / 1e6:g} s is beyond the plausible "
                              f"{MAX_GESTURE_US / 1e6:g} s (corrupt time stamp?), got {ln!r}")
        rows.append((c, s, e))
    return np.asarray(rows, np.int64).reshape(-1, 3)


class DVSGesture(Dataset[tuple[Any, Tensor]]):
    """DVS128 Gesture samples as ``(x, gesture 0–10)``.

    Args:
        split: "train" or "test".
        root: Folder holding the trial lists, ``.aedat`` files and label CSVs.
        transform: Callable on :class:`Events` (µs); default :class:`BinEvents` with 50 ms steps.
        raw: Yield the :class:`Events` themselves.

    Shapes:
        x: ``[T, 2, 128, 128]`` event counts (default transform).

    The dataset is not downloaded automatically: its distribution requires accepting a licence
    on IBM's site.
    """

    sensor_size = DVS128_SENSOR_SIZE

    def __init__(self, split: str = "train", root: str | os.PathLike | None = None, *,
                 transform: Callable[[Events], Any] | None = None, raw: bool = False) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"dvs_gesture split must be 'train' or 'test', got {split!r}")
        folder = resolve_root(root, "dvs_gesture")
        trial_list = folder / f"trials_to_{split}.txt"
        how = "Download DvsGesture.tar.gz from IBM Research (DVS128 Gesture Dataset) and unpack it."
        if not trial_list.is_file():
            raise missing_files_error("dvs_gesture", folder, [trial_list.name], how)
        trials = [ln.strip() for ln in trial_list.read_text().splitlines() if ln.strip()]
        missing = [t for t in trials if not (folder / t).is_file()]
        labels = [Path(t).stem + "_labels.csv" for t in trials]
        missing += [name for name in labels if not (folder / name).is_file()]
        if missing:
            raise missing_files_error("dvs_gesture", folder, missing, how)
        self.samples: list[tuple[Path, int, int, int]] = []
        for t in trials:
            for c, s, e in read_gesture_labels(folder / (Path(t).stem + "_labels.csv")):
                self.samples.append((folder / t, int(c) - 1, int(s), int(e)))
        self.transform = None if raw else (transform or BinEvents(dt=50_000.0))
        self._cached: tuple[Path, Events] | None = None  # last parsed recording (per worker)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cached"] = None
        return state

    def __len__(self) -> int:
        return len(self.samples)

    def _recording(self, path: Path) -> Events:
        if self._cached is None or self._cached[0] != path:
            self._cached = (path, read_aedat31(path, self.sensor_size)[1])
        return self._cached[1]

    def __getitem__(self, i: int) -> tuple[Any, Tensor]:
        path, label, start, end = self.samples[i]
        rec = self._recording(path)
        lo, hi = np.searchsorted(rec.t, [start, end], side="left")
        ev = rec[lo:hi]
        ev = ev.replace(t=ev.t - start)
        x = ev if self.transform is None else self.transform(ev)
        return x, torch.tensor(label, dtype=torch.long)


@DATASETS.register("dvs_gesture", kind="temporal", num_classes=11, input_shape=(2, 128, 128), offline=False,
                   source="IBM Research, DVS128 Gesture Dataset (Amir et al., 2017); DvsGesture.tar.gz",
                   license="accepted on download from IBM (not verified here)",
                   files=("trials_to_train.txt", "trials_to_test.txt", "<trial>.aedat", "<trial>_labels.csv"),
                   layout="dvs_gesture_aedat")
def dvs_gesture(split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any) -> DVSGesture:
    """DVS128 Gesture: 11 gestures recorded with a 128 × 128 DVS (AEDAT 3.1 files)."""
    return DVSGesture(split, root, **kwargs)
