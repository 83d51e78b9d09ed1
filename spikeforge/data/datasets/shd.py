"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC) from their HDF5 files.

Files (Cramer et al., 2020; https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/):
``shd_train.h5``, ``shd_test.h5``, ``ssc_train.h5``, ``ssc_valid.h5``, ``ssc_test.h5``.
A sample is binned to spike counts ``[T, 700]`` with ``dt`` seconds per step.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..events import Events
from ..formats.hdf5_spikes import SHD_CHANNELS, SpikeH5Reader
from ..representations import BinEvents
from . import DATASETS
from ._files import download_verified, missing_files_error, resolve_root

__all__ = ["SpikeH5Dataset", "shd", "ssc"]

_BASE_URL = "https://zenkelab.org/datasets/"
# MD5 of the published .gz archives (as listed by the dataset's distributors).
_MD5 = {
    "shd_train.h5.gz": "f3252aeb598ac776c1b526422d90eecb",
    "shd_test.h5.gz": "1503a5064faa34311c398fb0a1ed0a6f",
    "ssc_train.h5.gz": "d102be95e7144fcc0553d1f45ba94170",
    "ssc_valid.h5.gz": "b4eee3516a4a90dd0c71a6ac23a8ae43",
    "ssc_test.h5.gz": "a35ff1e9cffdd02a20eb850c17c37748",
}


class SpikeH5Dataset(Dataset[tuple[Any, Tensor]]):
    """Samples of an SHD/SSC-layout file as ``(x, label)``.

    Args:
        name: "shd" or "ssc".
        split: "train", "test" (or "valid" for SSC).
        root: Folder holding ``<name>_<split>.h5``.
        dt: Seconds per time step of the default binning.
        max_time: Seconds; if given, every sample has ``ceil(max_time / dt)`` steps (later spikes
            dropped), otherwise ``T`` follows the last spike.
        transform: Replaces the binning: any callable on :class:`Events` (times in µs); ``None``
            with ``raw=True`` yields the events themselves.
        download: Fetch the file (checksum-verified) if it is missing.

    Shapes:
        x: ``[T, 700]`` spike counts (default transform).
    """

    def __init__(self, name: str, split: str = "train", root: str | os.PathLike | None = None, *,
                 dt: float = 10e-3, max_time: float | None = None,
                 transform: Callable[[Events], Any] | None = None, raw: bool = False,
                 download: bool = False) -> None:
        splits = ("train", "test") if name == "shd" else ("train", "valid", "test")
        if split not in splits:
            raise ValueError(f"{name} split must be one of {splits}, got {split!r}")
        if not dt > 0:
            raise ValueError(f"dt must be > 0 seconds, got {dt!r}")
        folder = resolve_root(root, name)
        fname = f"{name}_{split}.h5"
        path = folder / fname
        if not path.is_file():
            if download:
                download_verified(_BASE_URL + fname + ".gz", path, _MD5[fname + ".gz"], gunzip=True)
            else:
                raise missing_files_error(name, folder, [fname],
                                          f"Get {fname}.gz from {_BASE_URL} and gunzip it.")
        self.reader = SpikeH5Reader(path, SHD_CHANNELS, num_classes=DATASETS.meta(name)["num_classes"])
        n_steps = None if max_time is None else math.ceil(max_time / dt)
        self.transform = None if raw else (transform or BinEvents(dt=dt * 1e6, n_steps=n_steps, flatten=True))

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> tuple[Any, Tensor]:
        events, label = self.reader[i]
        x = events if self.transform is None else self.transform(events)
        return x, torch.tensor(label, dtype=torch.long)


@DATASETS.register("shd", kind="temporal", num_classes=20, input_shape=(700,), offline=False,
                   source="https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/ (Cramer et al., 2020)",
                   license="CC BY 4.0", files=("shd_train.h5", "shd_test.h5"), layout="shd_h5")
def shd(split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any) -> SpikeH5Dataset:
    """Spiking Heidelberg Digits: 20 spoken digits (English and German), 700 cochlea channels."""
    return SpikeH5Dataset("shd", split, root, **kwargs)


@DATASETS.register("ssc", kind="temporal", num_classes=35, input_shape=(700,), offline=False,
                   source="https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/ (Cramer et al., 2020)",
                   license="CC BY 4.0", files=("ssc_train.h5", "ssc_valid.h5", "ssc_test.h5"), layout="shd_h5")
def ssc(split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any) -> SpikeH5Dataset:
    """Spiking Speech Commands: 35 keywords, 700 cochlea channels."""
    return SpikeH5Dataset("ssc", split, root, **kwargs)
