"""ImageNet-1k (ILSVRC 2012) in the class-folder layout.

Expected layout: ``root/train/<wnid>/*.JPEG`` and ``root/val/<wnid>/*.JPEG`` (the validation
images moved into one folder per class, as most training scripts expect). The classes are the
sorted folder names of ``train``; ``val`` must use the same names. Images are decoded with Pillow
(a dependency of matplotlib), resized so the shorter side is ``resize`` pixels, centre-cropped to
``img_size`` and scaled to ``[0, 1]``; augmentation is left to the training pipeline.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..formats._errors import FormatError
from . import DATASETS
from ._files import missing_files_error, resolve_root

__all__ = ["ImageFolder", "imagenet"]

_EXTENSIONS = (".jpeg", ".jpg", ".png")


class ImageFolder(Dataset[tuple[Tensor, Tensor]]):
    """Images under ``root/<split folder>/<class>/`` as ``(x [3, img_size, img_size], class)``.

    Args:
        split: ``"train"`` or ``"test"`` (read from the ``val`` folder).
        root: Folder holding ``train/`` and ``val/``.
        img_size: Side of the centre crop.
        resize: Shorter side before cropping; default ``round(img_size · 256 / 224)``.
    """

    def __init__(self, split: str = "train", root: str | os.PathLike | None = None, *, img_size: int = 224,
                 resize: int | None = None, name: str = "imagenet") -> None:
        if split not in ("train", "test"):
            raise ValueError(f"{name} split must be 'train' or 'test', got {split!r}")
        if not isinstance(img_size, int) or img_size < 1:
            raise ValueError(f"img_size must be a positive int, got {img_size!r}")
        self.img_size = img_size
        self.resize = round(img_size * 256 / 224) if resize is None else int(resize)
        if self.resize < img_size:
            raise ValueError(f"resize ({self.resize}) must be >= img_size ({img_size})")
        folder = resolve_root(root, name)
        train_dir, sub = folder / "train", folder / ("train" if split == "train" else "val")
        classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir()) if train_dir.is_dir() else []
        files = [(p, k) for k, c in enumerate(classes) for p in sorted((sub / c).glob("*"))
                 if p.suffix.lower() in _EXTENSIONS]
        if not classes or not files:
            raise missing_files_error(name, folder, [f"{sub.name}/<class>/*.JPEG"],
                                      "Arrange the images in one folder per class under train/ and val/.")
        extra = sorted({p.name for p in sub.iterdir() if p.is_dir()} - set(classes)) if sub != train_dir else []
        if extra:
            raise FormatError(f"{sub}: class folders {extra[:5]} are not in {train_dir}")
        self.classes, self.files = classes, files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        from PIL import Image, UnidentifiedImageError

        path, label = self.files[i]
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                w, h = im.size
                s = self.resize / min(w, h)
                size = (max(self.resize, round(w * s)), max(self.resize, round(h * s)))
                im = im.resize(size, Image.Resampling.BILINEAR)
                w, h = im.size
                left, top = (w - self.img_size) // 2, (h - self.img_size) // 2
                im = im.crop((left, top, left + self.img_size, top + self.img_size))
                arr = np.asarray(im, dtype=np.float32) / 255.0  # [H, W, 3]
        except (UnidentifiedImageError, OSError) as e:
            raise FormatError(f"{path}: not a readable image ({e})") from None
        x = torch.from_numpy(arr).permute(2, 0, 1).contiguous()  # [H, W, C] -> [C, H, W]
        return x, torch.tensor(label, dtype=torch.long)


@DATASETS.register("imagenet", kind="static", num_classes=1000, input_shape=(3, 224, 224), offline=False,
                   source="https://image-net.org/challenges/LSVRC/2012/ (ILSVRC 2012)",
                   license="ImageNet terms of access: non-commercial research (not verified here)",
                   files=("train/<class>/*.JPEG", "val/<class>/*.JPEG"), layout="imagenet_folder")
def imagenet(split: str = "train", root: str | os.PathLike | None = None, **kwargs: Any) -> ImageFolder:
    """ImageNet-1k from class folders, centre-cropped to ``img_size`` (default 224)."""
    return ImageFolder(split, root, **kwargs)
