"""CIFAR-10 and CIFAR-100 (Krizhevsky, 2009), "binary version" files.

Expected layout (the unpacked ``cifar-10-binary.tar.gz`` / ``cifar-100-binary.tar.gz``):

- CIFAR-10: ``root/cifar-10-batches-bin/data_batch_{1..5}.bin`` and ``test_batch.bin``; each
  record is 1 label byte (0–9) then 3072 pixel bytes (1024 red, 1024 green, 1024 blue, rows of
  32 from the top left).
- CIFAR-100: ``root/cifar-100-binary/train.bin`` and ``test.bin``; each record is a coarse label
  byte (0–19), a fine label byte (0–99), then the same 3072 pixel bytes.

Records are read on demand (nothing is held in memory but the file list), so the dataset pickles
for DataLoader workers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..formats._errors import FormatError
from . import DATASETS
from ._files import missing_files_error, resolve_root

__all__ = ["CIFARBinary", "cifar10", "cifar100"]

_PIXELS = 3 * 32 * 32
_SPECS: dict[str, dict[str, Any]] = {
    "cifar10": {"folder": "cifar-10-batches-bin", "label_bytes": 1,
                "train": [f"data_batch_{k}.bin" for k in range(1, 6)], "test": ["test_batch.bin"],
                "archive": "cifar-10-binary.tar.gz"},
    "cifar100": {"folder": "cifar-100-binary", "label_bytes": 2, "train": ["train.bin"], "test": ["test.bin"],
                 "archive": "cifar-100-binary.tar.gz"},
}


class CIFARBinary(Dataset[tuple[Tensor, Tensor]]):
    """CIFAR images as ``(x [3, 32, 32] in [0, 1], label)`` from the binary-version files.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        split: ``"train"`` or ``"test"``.
        root: Folder holding the unpacked archive's folder.
        label: CIFAR-100 only: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).

    Raises:
        FileNotFoundError: a file of the split is missing (the message says which and where).
        FormatError: a file is not a whole number of records, or a label is out of range.
    """

    def __init__(self, name: str, split: str = "train", root: str | os.PathLike | None = None, *,
                 label: str = "fine") -> None:
        if name not in _SPECS:
            raise ValueError(f"name must be one of {sorted(_SPECS)}, got {name!r}")
        if split not in ("train", "test"):
            raise ValueError(f"{name} split must be 'train' or 'test', got {split!r}")
        if label not in ("fine", "coarse") or (label == "coarse" and name == "cifar10"):
            raise ValueError(f"label must be 'fine' or 'coarse' (coarse only for cifar100), got {label!r}")
        spec = _SPECS[name]
        folder = resolve_root(root, name) / spec["folder"]
        paths = [folder / f for f in spec[split]]
        missing = [f"{spec['folder']}/{p.name}" for p in paths if not p.is_file()]
        if missing:
            raise missing_files_error(name, folder.parent, missing,
                                      f"Download {spec['archive']} (the binary version) and unpack it.")
        self.name, self.label_bytes = name, int(spec["label_bytes"])
        self.record = self.label_bytes + _PIXELS
        self.num_classes = 20 if label == "coarse" else (100 if name == "cifar100" else 10)
        self.label_index = 0 if label == "coarse" or name == "cifar10" else 1
        self.files: list[tuple[Path, int]] = []
        for p in paths:
            size = p.stat().st_size
            if size == 0 or size % self.record:
                raise FormatError(f"{p}: {size} bytes is not a whole number of {self.record}-byte {name} records")
            self.files.append((p, size // self.record))
        self.offsets = np.cumsum([0] + [n for _, n in self.files])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        i %= len(self)
        k = int(np.searchsorted(self.offsets, i, side="right")) - 1
        path, _ = self.files[k]
        rec = np.fromfile(path, np.uint8, count=self.record, offset=(i - int(self.offsets[k])) * self.record)
        y = int(rec[self.label_index])
        if y >= self.num_classes:
            raise FormatError(f"{path}: record {i - int(self.offsets[k])} has label {y} >= {self.num_classes}")
        x = torch.from_numpy(rec[self.label_bytes:].astype(np.float32) / 255.0).view(3, 32, 32)  # [3072] -> [C, H, W]
        return x, torch.tensor(y, dtype=torch.long)


@DATASETS.register("cifar10", kind="static", num_classes=10, input_shape=(3, 32, 32), offline=False,
                   source="https://www.cs.toronto.edu/~kriz/cifar.html (binary version)",
                   license="no licence stated by the source (not verified here)",
                   files=("cifar-10-batches-bin/data_batch_{1..5}.bin", "cifar-10-batches-bin/test_batch.bin"),
                   layout="cifar10_bin")
def cifar10(split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any) -> CIFARBinary:
    """CIFAR-10: 32 × 32 colour images of 10 classes (50 000 train / 10 000 test)."""
    return CIFARBinary("cifar10", split, root, **kwargs)


@DATASETS.register("cifar100", kind="static", num_classes=100, input_shape=(3, 32, 32), offline=False,
                   source="https://www.cs.toronto.edu/~kriz/cifar.html (binary version)",
                   license="no licence stated by the source (not verified here)",
                   files=("cifar-100-binary/train.bin", "cifar-100-binary/test.bin"), layout="cifar100_bin")
def cifar100(split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any) -> CIFARBinary:
    """CIFAR-100: 32 × 32 colour images of 100 fine classes (``label="coarse"``: 20 superclasses)."""
    return CIFARBinary("cifar100", split, root, **kwargs)
