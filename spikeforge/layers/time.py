"""Lift stateless layers over time."""

from __future__ import annotations

from torch import Tensor, nn

from ..neurons._base import check_sequence

__all__ = ["TimeDistributed"]


class TimeDistributed(nn.Module):
    """Apply a stateless module (conv, pooling, batch-norm, flatten, ...) at every time step by
    folding time into the batch.

    Shapes:
        ``[T, B, *in] -> [T, B, *out]`` where the wrapped module maps ``[N, *in] -> [N, *out]``.

    Example:
        >>> conv = TimeDistributed(nn.Conv2d(2, 16, 3, padding=1))
        >>> conv(torch.rand(10, 4, 2, 34, 34)).shape
        torch.Size([10, 4, 16, 34, 34])
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"TimeDistributed wraps an nn.Module, got {type(module).__name__}")
        self.module = module

    def forward(self, xs: Tensor) -> Tensor:
        check_sequence(xs)
        T, B = xs.shape[:2]
        ys = self.module(xs.flatten(0, 1))  # [T, B, *in] -> [T*B, *in] -> [T*B, *out]
        return ys.unflatten(0, (T, B))  # [T, B, *out]
