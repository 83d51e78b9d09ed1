"""Batching variable-length, time-major samples into ``[T, B, ...]``.

A temporal sample is ``(x [T_i, *F], y)``. :func:`pad_collate` zero-pads along time to the longest
sample and returns the true lengths; :func:`lengths_to_mask` turns them into a ``[T, B]`` mask;
:class:`BucketBatchSampler` groups samples of similar length so little padding is needed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Sampler

__all__ = ["pad_collate", "lengths_to_mask", "BucketBatchSampler"]


def pad_collate(batch: Sequence[tuple[Any, Any]]) -> tuple[Tensor, Tensor, Tensor]:
    """Stack ``[(x [T_i, *F], y), …]`` into time-major, zero-padded tensors.

    Returns:
        ``(xs [T_max, B, *F], ys [B], lengths [B])``; ``lengths`` is int64 and ``xs[t, b]`` is zero
        for ``t >= lengths[b]``. ``ys`` are stacked as given (class ids → int64 ``[B]``).

    Raises:
        ValueError: empty batch, a sample with no time axis, or feature shapes that differ.

    Example:
        >>> xs, ys, n = pad_collate([(torch.ones(2, 3), 0), (torch.ones(4, 3), 1)])
        >>> xs.shape, n.tolist()
        (torch.Size([4, 2, 3]), [2, 4])
    """
    if len(batch) == 0:
        raise ValueError("pad_collate got an empty batch")
    xs_list: list[Tensor] = []
    for i, item in enumerate(batch):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise ValueError(f"batch item {i} must be an (x, y) pair, got {type(item).__name__}")
        x = torch.as_tensor(item[0])
        if x.ndim < 1:
            raise ValueError(f"sample {i} has no time axis: x must be [T, *F], got a scalar")
        xs_list.append(x)
    feat = xs_list[0].shape[1:]
    for i, x in enumerate(xs_list):
        if x.shape[1:] != feat:
            raise ValueError(f"sample {i} has feature shape {tuple(x.shape[1:])}, sample 0 has {tuple(feat)}")
    lengths = torch.tensor([x.shape[0] for x in xs_list], dtype=torch.long)
    dtype = xs_list[0].dtype
    for i, x in enumerate(xs_list):
        if x.dtype != dtype:
            raise ValueError(f"sample {i} has dtype {x.dtype}, sample 0 has {dtype}")
    out = torch.zeros((int(lengths.max()), len(xs_list), *feat), dtype=dtype)  # [T_max, B, *F]
    for b, x in enumerate(xs_list):
        out[: x.shape[0], b] = x
    ys = torch.stack([torch.as_tensor(item[1]) for item in batch])
    if not ys.is_floating_point():
        ys = ys.long()
    return out, ys, lengths


def lengths_to_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """Boolean validity mask ``[T, B]``: ``mask[t, b] = t < lengths[b]``."""
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be 1-D [B], got shape {tuple(lengths.shape)}")
    T = int(lengths.max()) if max_len is None else int(max_len)
    return torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)  # [T, 1] < [1, B] -> [T, B]


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of indices whose samples have similar lengths.

    Indices are sorted by length (ties broken randomly), cut into batches, and the batch order is
    shuffled; within a pool of ``bucket_size`` batches lengths stay close while every epoch differs.

    Args:
        lengths: Length of every sample ``[N]``.
        batch_size: Samples per batch.
        shuffle: Shuffle within equal lengths and across batches (seeded by ``seed`` + epoch).
        drop_last: Drop a final short batch.
        seed: Base seed; call :meth:`set_epoch` to vary batches between epochs.
    """

    def __init__(self, lengths: Sequence[int] | Tensor, batch_size: int, *, shuffle: bool = True,
                 drop_last: bool = False, seed: int = 0) -> None:
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.lengths = torch.as_tensor(lengths, dtype=torch.long)
        if self.lengths.ndim != 1:
            raise ValueError("lengths must be a 1-D sequence of sample lengths")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _batches(self) -> list[list[int]]:
        n = len(self.lengths)
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        tie = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        # sort by (length, random tie-break): stable sort of the permuted order by length
        order = tie[torch.sort(self.lengths[tie], stable=True).indices]
        batches = [order[i:i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        n = len(self.lengths)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
