"""CIFAR10-DVS (Li et al., 2017): CIFAR-10 images moved on a monitor, recorded by a DVS128.

Expected layout (the unpacked per-class archives): ``root/<class>/cifar10_<class>_<k>.aedat``
with the ten CIFAR-10 class names as folders and ``k = 0 … 999``; AEDAT 2.0 files
(:mod:`spikeforge.data.formats.aedat2`). There is no official split: per class the files are
ordered by ``k`` and the first ``train_fraction`` of them are the training split (0.9 gives the
usual 9 000 / 1 000).

Orientation: events are returned transposed and flipped, ``x = 127 − y_raw``, ``y = 127 − x_raw``,
with polarity ``1 − p_raw`` — the convention SpikingJelly applies to these files — so frames
look upright and match models trained there.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..events import Events, make_events
from ..formats.aedat2 import read_aedat2_dvs128
from ..representations import ToFrames
from . import DATASETS
from ._files import missing_files_error, resolve_root

__all__ = ["CIFAR10DVS", "cifar10_dvs", "CIFAR10_CLASSES"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_INDEX = re.compile(r"_(\d+)\.aedat$")


def _upright(ev: Events) -> Events:
    return make_events(ev.t, 127 - ev.y, 127 - ev.x, 1 - ev.p, sensor_size=(128, 128, 2), time_unit=ev.time_unit)


class CIFAR10DVS(Dataset[tuple[Any, Tensor]]):
    """CIFAR10-DVS samples as ``(x, class)``.

    Args:
        split: "train" or "test".
        root: Folder holding the ten class folders.
        train_fraction: Share of each class (by file index) in the training split.
        transform: Callable on :class:`Events` (µs); default ``ToFrames(n_event_bins=10)`` (10
            frames of equal event counts, the common setting for this dataset).
        raw: Yield the :class:`Events` themselves.

    Shapes:
        x: ``[T, 2, 128, 128]`` event counts (default transform: ``T = 10``).
    """

    def __init__(self, split: str = "train", root: str | os.PathLike | None = None, *,
                 train_fraction: float = 0.9, transform: Callable[[Events], Any] | None = None,
                 raw: bool = False) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"cifar10_dvs split must be 'train' or 'test', got {split!r}")
        if not 0.0 < train_fraction < 1.0:
            raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction!r}")
        folder = resolve_root(root, "cifar10_dvs")
        files: list[tuple[Path, int]] = []
        missing = []
        for label, name in enumerate(CIFAR10_CLASSES):
            found = [(int(m.group(1)), p) for p in (folder / name).glob("*.aedat") if (m := _INDEX.search(p.name))]
            if not found:
                missing.append(f"{name}/cifar10_{name}_<k>.aedat")
                continue
            found.sort()
            cut = math.ceil(len(found) * train_fraction)
            part = found[:cut] if split == "train" else found[cut:]
            files += [(p, label) for _, p in part]
        if missing:
            raise missing_files_error("cifar10_dvs", folder, missing,
                                      "Download the ten CIFAR10-DVS class archives (figshare) and unzip them.")
        self.files = files
        self.transform = None if raw else (transform or ToFrames(n_event_bins=10))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Any, Tensor]:
        path, label = self.files[i]
        events = _upright(read_aedat2_dvs128(path))
        x = events if self.transform is None else self.transform(events)
        return x, torch.tensor(label, dtype=torch.long)


@DATASETS.register("cifar10_dvs", kind="temporal", num_classes=10, input_shape=(2, 128, 128), offline=False,
                   source="https://figshare.com/articles/dataset/CIFAR10-DVS_New/4724671 (Li et al., 2017)",
                   license="CC BY 4.0 as stated on figshare (not verified here)",
                   files=("<class>/cifar10_<class>_<k>.aedat",), layout="cifar10_dvs_aedat",
                   example={"train_fraction": 0.5})
def cifar10_dvs(split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any) -> CIFAR10DVS:
    """Event-camera recordings of CIFAR-10 images (10 000 samples, 1 000 per class)."""
    return CIFAR10DVS(split, root, **kwargs)
