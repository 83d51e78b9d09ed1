"""In-memory dataset of ``(x, y)`` tensor pairs."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["ArrayDataset"]


class ArrayDataset(Dataset[tuple[Tensor, Tensor]]):
    """Dataset over two aligned tensors.

    Shapes:
        x: ``[N, *F]`` (static features) or ``[N, T, *F]`` (temporal samples); y: ``[N]`` (int64).
    """

    def __init__(self, x: Tensor, y: Tensor) -> None:
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
        self.x = x
        self.y = y.long()

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.x[i], self.y[i]

    @property
    def num_classes(self) -> int:
        return int(self.y.max().item()) + 1 if len(self) else 0

    def tensors(self) -> tuple[Tensor, Tensor]:
        """All samples at once: ``(x [N, ...], y [N])``."""
        return self.x, self.y


def _split_indices(n: int, test_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Deterministic shuffled train/test split of ``range(n)``."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=g)
    n_test = int(round(n * test_fraction))
    return perm[n_test:], perm[:n_test]
