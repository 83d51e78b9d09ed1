"""scikit-learn's bundled 8×8 digits as tensors, with a fixed stratified split (no download)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["digits_split"]


def digits_split(test_fraction: float = 0.25, seed: int = 0,
                 dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x_train [N, 64], y_train [N], x_test [M, 64], y_test [M])``; pixels scaled to [0, 1] by ``/16``.

    The split is stratified per class (every class loses the same fraction to the test set) and a
    function of ``seed`` only. Pixels keep their common scale (``/16``), unlike the per-feature min/max
    of :func:`spikeforge.data.datasets.digits`, so an image's pixels keep their relative intensities.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"digits_split: test_fraction must be in (0, 1), got {test_fraction}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.asarray(bunch.data, dtype=np.float64) / 16.0  # [1797, 64]
    y = np.asarray(bunch.target, dtype=np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[: int(round(test_fraction * len(idx)))]] = True
    train_idx = rng.permutation(np.flatnonzero(~test))
    test_idx = np.flatnonzero(test)

    def t(a: np.ndarray, dt: torch.dtype) -> Tensor:
        return torch.as_tensor(a, dtype=dt)

    return t(x[train_idx], dtype), t(y[train_idx], torch.int64), t(x[test_idx], dtype), t(y[test_idx], torch.int64)
