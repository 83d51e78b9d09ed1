"""N-MNIST (Orchard et al., 2015): MNIST digits recorded by an ATIS sensor on a moving base.

Expected layout (the unzipped official archives): ``root/Train/<digit>/<id>.bin`` and
``root/Test/<digit>/<id>.bin``. Each file holds 40-bit ATIS events on a 34 × 34 sensor.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..events import Events
from ..formats.nmnist import NMNIST_SENSOR_SIZE, read_atis_bin
from ..representations import BinEvents
from . import DATASETS
from ._files import download_verified, missing_files_error, resolve_root

__all__ = ["NMNIST", "nmnist"]

_URLS = {  # official Mendeley Data release (files "Train.zip" / "Test.zip")
    "train": ("https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
              "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded", "20959b8e626244a1b502305a9e6e2031"),
    "test": ("https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
             "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded", "69ca8762b2fe404d9b9bad1103e97832"),
}


class NMNIST(Dataset[tuple[Any, Tensor]]):
    """N-MNIST samples as ``(x, digit)``.

    Args:
        split: "train" or "test".
        root: Folder holding ``Train/`` and ``Test/``.
        transform: Callable on :class:`Events` (µs); default :class:`BinEvents` with 10 ms steps.
        raw: Yield the :class:`Events` themselves.
        download: Fetch and unzip the split (checksum-verified) if it is missing.

    Shapes:
        x: ``[T, 2, 34, 34]`` event counts (default transform; ``T ≈ 31`` for 300 ms recordings).
    """

    sensor_size = NMNIST_SENSOR_SIZE

    def __init__(self, split: str = "train", root: str | os.PathLike | None = None, *,
                 transform: Callable[[Events], Any] | None = None, raw: bool = False,
                 download: bool = False) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"nmnist split must be 'train' or 'test', got {split!r}")
        folder = resolve_root(root, "nmnist")
        sub = folder / ("Train" if split == "train" else "Test")
        if not sub.is_dir() and download:
            url, md5 = _URLS[split]
            archive = download_verified(url, folder / f"{sub.name}.zip", md5)
            with zipfile.ZipFile(archive) as z:
                z.extractall(folder)
        files: list[tuple[Path, int]] = []
        for digit in range(10):
            files += [(p, digit) for p in sorted((sub / str(digit)).glob("*.bin"))]
        if not files:
            raise missing_files_error("nmnist", folder, [f"{sub.name}/<digit>/*.bin"],
                                      "Download Train.zip / Test.zip of N-MNIST (Orchard et al.) and unzip them.")
        self.files = files
        self.transform = None if raw else (transform or BinEvents(dt=10_000.0))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Any, Tensor]:
        path, digit = self.files[i]
        events = read_atis_bin(path, self.sensor_size)
        x = events if self.transform is None else self.transform(events)
        return x, torch.tensor(digit, dtype=torch.long)


@DATASETS.register("nmnist", kind="temporal", num_classes=10, input_shape=(2, 34, 34), offline=False,
                   source="https://data.mendeley.com/datasets/468j46mzdv (Orchard et al., 2015)",
                   license="see the Mendeley Data record (not verified here)",
                   files=("Train/<digit>/*.bin", "Test/<digit>/*.bin"), layout="nmnist_bin")
def nmnist(split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any) -> NMNIST:
    """Neuromorphic MNIST (ATIS recordings of MNIST digits)."""
    return NMNIST(split, root, **kwargs)
