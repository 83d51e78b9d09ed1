"""scikit-learn's bundled datasets (digits, iris, wine): real data that needs no download.

Features are scaled to [0, 1] per feature (min/max of the *training* split), so any rate or
latency encoder can turn them into spikes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from . import DATASETS
from ._base import ArrayDataset, _split_indices

__all__ = ["digits", "digits16", "iris", "wine"]


def _load(loader_name: str, split: str, test_fraction: float, seed: int) -> ArrayDataset:
    try:
        import sklearn.datasets as skd
    except ImportError as e:  # pragma: no cover - sklearn is a core dependency
        raise ImportError("scikit-learn is required for the sklearn datasets") from e
    bunch = getattr(skd, loader_name)()
    x = torch.as_tensor(np.asarray(bunch.data, dtype=np.float32))  # [N, F]
    y = torch.as_tensor(np.asarray(bunch.target, dtype=np.int64))  # [N]
    train_idx, test_idx = _split_indices(len(y), test_fraction, seed)
    lo = x[train_idx].min(0).values
    hi = x[train_idx].max(0).values
    x = ((x - lo) / (hi - lo).clamp_min(1e-12)).clamp(0.0, 1.0)
    idx = train_idx if split == "train" else test_idx
    return ArrayDataset(x[idx], y[idx])


@DATASETS.register("digits", kind="static", num_classes=10, input_shape=(64,), offline=True,
                   source="bundled with scikit-learn (UCI Optical Recognition of Handwritten Digits)",
                   license="CC BY 4.0 (UCI Machine Learning Repository)", files=())
def digits(split: str = "train", root: Any = None, test_fraction: float = 0.25, seed: int = 0) -> ArrayDataset:
    """8×8 handwritten digits (1,797 samples, 64 features, 10 classes), bundled with scikit-learn."""
    return _load("load_digits", split, test_fraction, seed)


@DATASETS.register("digits16", kind="static", num_classes=10, input_shape=(1, 16, 16), offline=True,
                   source="bundled with scikit-learn (UCI Optical Recognition of Handwritten Digits), upsampled",
                   license="CC BY 4.0 (UCI Machine Learning Repository)", files=())
def digits16(split: str = "train", root: Any = None, test_fraction: float = 0.25, seed: int = 0) -> ArrayDataset:
    """:func:`digits` as 1×16×16 images (8×8 bilinearly upsampled), a square image task for the
    zoo transformers: same split and [0, 1] scaling as ``digits``."""
    import torch.nn.functional as F

    ds = digits(split, root, test_fraction, seed)
    x = ds.x.reshape(-1, 1, 8, 8)  # [N, 64] -> [N, 1, 8, 8]
    x = F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False)  # [N, 1, 16, 16]
    return ArrayDataset(x.clamp(0.0, 1.0), ds.y)


@DATASETS.register("iris", kind="static", num_classes=3, input_shape=(4,), offline=True,
                   source="bundled with scikit-learn (UCI Iris)",
                   license="CC BY 4.0 (UCI Machine Learning Repository)", files=())
def iris(split: str = "train", root: Any = None, test_fraction: float = 0.25, seed: int = 0) -> ArrayDataset:
    """Iris flowers (150 samples, 4 features, 3 classes), bundled with scikit-learn."""
    return _load("load_iris", split, test_fraction, seed)


@DATASETS.register("wine", kind="static", num_classes=3, input_shape=(13,), offline=True,
                   source="bundled with scikit-learn (UCI Wine)",
                   license="CC BY 4.0 (UCI Machine Learning Repository)", files=())
def wine(split: str = "train", root: Any = None, test_fraction: float = 0.25, seed: int = 0) -> ArrayDataset:
    """Wine cultivars (178 samples, 13 features, 3 classes), bundled with scikit-learn."""
    return _load("load_wine", split, test_fraction, seed)
