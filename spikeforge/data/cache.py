"""On-disk cache of preprocessed samples, keyed by the transform's parameters.

The cache directory for a dataset is ``root / <sha256 of (dataset key, transform key)>``. A frozen
dataclass transform's key is its qualified class name plus all its field values, so changing any
parameter selects a different directory and stale tensors can never be served. Other callables
must be given an explicit ``transform_key``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

__all__ = ["transform_key", "CachedDataset"]


def _jsonable(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {"__class__": f"{type(v).__module__}.{type(v).__qualname__}",
                **{f.name: _jsonable(getattr(v, f.name)) for f in dataclasses.fields(v)}}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in sorted(v.items())}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"cannot derive a cache key from a value of type {type(v).__name__}; "
                    "pass transform_key= explicitly")


def transform_key(transform: Any) -> str:
    """Stable text key of a frozen-dataclass transform (or a list/tuple of them).

    Raises:
        TypeError: for callables that are not dataclasses — their parameters are invisible, so a
            key could silently go stale.
    """
    parts = transform if isinstance(transform, (list, tuple)) else [transform]
    for p in parts:
        if p is not None and not (dataclasses.is_dataclass(p) and not isinstance(p, type)):
            raise TypeError(f"transform {p!r} is not a dataclass; pass transform_key= explicitly")
    return json.dumps(_jsonable(list(parts)), sort_keys=True)


_derive_key = transform_key  # the constructor's `transform_key` argument shadows the function


class CachedDataset(Dataset[tuple[Any, Any]]):
    """Wrap a dataset ``(raw, y)`` so that ``transform(raw)`` is computed once and stored on disk.

    Args:
        dataset: The source; items are ``(raw, y)``.
        transform: Callable applied to ``raw`` (a frozen dataclass, a list of them applied in
            order, or any callable with ``transform_key``).
        root: Cache directory.
        dataset_key: Identifies the source data (e.g. ``"nmnist/train"``); part of the hash.
        transform_key: Explicit key for transforms that are not dataclasses.

    Items are saved with ``torch.save`` and loaded with ``weights_only=True``. The wrapper pickles
    (for multi-worker DataLoaders) if the source dataset does.
    """

    def __init__(self, dataset: Any, transform: Any, root: str | os.PathLike, *, dataset_key: str,
                 transform_key: str | None = None) -> None:
        if not isinstance(dataset_key, str) or not dataset_key:
            raise ValueError("dataset_key must be a non-empty string naming the source data")
        key = transform_key if transform_key is not None else _derive_key(transform)
        self.dataset = dataset
        self.transform = transform
        digest = hashlib.sha256(json.dumps([dataset_key, key]).encode()).hexdigest()[:32]
        self.directory = Path(root) / digest
        self.directory.mkdir(parents=True, exist_ok=True)
        meta = self.directory / "key.json"
        if not meta.exists():
            meta.write_text(json.dumps({"dataset": dataset_key, "transform": key}, indent=1))

    def __len__(self) -> int:
        return len(self.dataset)

    def _apply(self, raw: Any) -> Any:
        t = self.transform
        fns: list[Callable[[Any], Any]] = list(t) if isinstance(t, (list, tuple)) else [t]
        for fn in fns:
            if fn is not None:
                raw = fn(raw)
        return raw

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        path = self.directory / f"{i}.pt"
        if path.exists():
            item = torch.load(path, weights_only=True)
            return item["x"], item["y"]
        raw, y = self.dataset[i]
        x = self._apply(raw)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"x": x, "y": torch.as_tensor(y)}, tmp)
        os.replace(tmp, path)  # atomic: concurrent workers never read half-written files
        return x, torch.as_tensor(y)
