"""MNIST-1D (Greydanus, 2020) from the ``mnist1d`` package's local generator — never its download.

``mnist1d`` is an optional dependency (``pip install mnist1d``). Its generator seeds NumPy's and
Python's global RNGs; we save and restore both so loading a dataset has no side effects.
"""

from __future__ import annotations

import random
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from . import DATASETS
from ._base import ArrayDataset

__all__ = ["mnist1d", "mnist1d_seq"]


@lru_cache(maxsize=4)
def _generate(num_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as e:
        raise ImportError("the mnist1d datasets need the 'mnist1d' package: pip install mnist1d") from e
    args = get_dataset_args()
    args.num_samples = int(num_samples)
    args.seed = int(seed)
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)  # the local generator; no file or network access
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    return (np.asarray(d["x"], np.float32), np.asarray(d["y"], np.int64),
            np.asarray(d["x_test"], np.float32), np.asarray(d["y_test"], np.int64))


def _load(split: str, num_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    if split not in ("train", "test"):
        raise ValueError(f"mnist1d split must be 'train' or 'test', got {split!r}")
    x_tr, y_tr, x_te, y_te = _generate(num_samples, seed)
    lo, hi = x_tr.min(), x_tr.max()  # scale by the training split's range
    x, y = (x_tr, y_tr) if split == "train" else (x_te, y_te)
    x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return torch.from_numpy(x), torch.from_numpy(y)


@DATASETS.register("mnist1d", kind="static", num_classes=10, input_shape=(40,), offline=True,
                   source="generated locally by the mnist1d package (Greydanus, 2020)",
                   license="Apache-2.0 (mnist1d)", files=(), requires=("mnist1d",),
                   example={"num_samples": 100})
def mnist1d(split: str = "train", root: Any = None, *, num_samples: int = 5000, seed: int = 42) -> ArrayDataset:
    """MNIST-1D as 40 static features in [0, 1] (encode with any rate/latency encoder)."""
    return ArrayDataset(*_load(split, num_samples, seed))


@DATASETS.register("mnist1d_seq", kind="temporal", num_classes=10, input_shape=(1,), offline=True,
                   source="generated locally by the mnist1d package (Greydanus, 2020)",
                   license="Apache-2.0 (mnist1d)", files=(), requires=("mnist1d",),
                   example={"num_samples": 100})
def mnist1d_seq(split: str = "train", root: Any = None, *, num_samples: int = 5000, seed: int = 42) -> ArrayDataset:
    """MNIST-1D read as a sequence: x ``[40, 1]`` (one value in [0, 1] per time step)."""
    x, y = _load(split, num_samples, seed)
    return ArrayDataset(x.unsqueeze(-1), y)  # [N, 40] -> [N, 40, 1]
