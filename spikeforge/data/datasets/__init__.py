"""Registered datasets.

Each entry is a factory ``f(split="train", root=None, **kwargs) -> torch.utils.data.Dataset`` whose
items are ``(x, y)``. Registration metadata says how the trainer feeds ``x``:

- ``kind="static"``: ``x`` is a feature tensor ``[*F]`` (values in [0, 1]) to be spike-encoded
  over ``T`` steps by an encoder;
- ``kind="temporal"``: ``x`` is already time-major per sample, ``[T, *F]`` (spikes or currents);
  batches are padded to ``[T, B, *F]`` by :func:`spikeforge.data.collate.pad_collate` (``T`` may
  differ between samples).

and ``num_classes`` (int), ``input_shape`` (the per-step feature shape). Every entry also says
where its data comes from, for ``spikeforge data list`` and the contract tests:

- ``source``: URL or origin; ``license``: the data's licence as stated by its source;
- ``files``: what the loader expects under ``root`` (patterns; empty if it needs no files);
- ``offline``: builds without any file (generated or bundled data);
- ``layout``: the on-disk layout of file-based data (``"shd_h5"``, ``"nmnist_bin"``,
  ``"dvs_gesture_aedat"``, ``"neuromorse_h5"``); a new layout needs a test writer in
  ``tests/data``;
- optional ``example`` (keyword arguments of a small, fast instance) and ``requires`` (optional
  packages).

Use :func:`load_dataset` to build one by name.
"""

from __future__ import annotations

from typing import Any

from ..._registry import Registry
from ._base import ArrayDataset as ArrayDataset

DATASETS: Registry[Any] = Registry("dataset")


def load_dataset(name: str, split: str = "train", **kwargs: Any) -> Any:
    """Build the registered dataset ``name`` for ``split`` ("train" or "test")."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return DATASETS.create(name, split=split, **kwargs)


from . import sklearn_data as _sklearn_data  # noqa: E402,F401  (registers digits, iris, wine)
from . import cifar as _cifar  # noqa: E402,F401
from . import cifar10_dvs as _cifar10_dvs  # noqa: E402,F401
from . import dvs_gesture as _dvs_gesture  # noqa: E402,F401
from . import imagenet as _imagenet  # noqa: E402,F401
from . import mnist1d_data as _mnist1d_data  # noqa: E402,F401
from . import neuromorse as _neuromorse  # noqa: E402,F401
from . import nmnist as _nmnist  # noqa: E402,F401
from . import shd as _shd  # noqa: E402,F401
from . import synthetic as _synthetic  # noqa: E402,F401
from . import delay_tasks as _delay_tasks  # noqa: E402,F401

__all__ = ["DATASETS", "ArrayDataset", "load_dataset"]
