"""Count the bytes autograd keeps for the backward pass (``saved_tensors_hooks``, not RSS)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import torch
from torch import Tensor

__all__ = ["SavedBytes"]


class _Saved:
    """A tensor saved for backward; its bytes count as live until autograd frees it."""

    __slots__ = ("counter", "nbytes", "tensor")

    def __init__(self, tensor: Tensor, counter: SavedBytes) -> None:
        self.tensor, self.counter = tensor, counter
        self.nbytes = tensor.numel() * tensor.element_size()
        counter._add(self.nbytes)

    def __del__(self) -> None:
        self.counter._add(-self.nbytes)


class SavedBytes:
    """Context manager tracking the bytes saved for backward that are alive at once.

    Every tensor autograd saves for the backward pass while the context is active is counted
    (``numel * element_size``, shared storages counted once per save) until the graph holding it
    is freed. ``peak`` is the largest number of such bytes alive at any moment, ``total`` the sum
    of everything saved: plain BPTT keeps all ``T`` steps alive (``peak`` grows with ``T``), an
    online method frees each step's graph before the next (``peak`` does not).

    Example:
        >>> lin = torch.nn.Linear(4, 3)
        >>> with SavedBytes() as sb:
        ...     lin(torch.ones(2, 4)).sum().backward()
        >>> sb.peak >= 2 * 4 * 4   # the input [2, 4] float32 was saved for the weight gradient
        True
    """

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.total = 0
        self._hooks: Any = None

    def _add(self, n: int) -> None:
        self.live += n
        if n > 0:
            self.total += n
            self.peak = max(self.peak, self.live)

    def _pack(self, t: Tensor) -> _Saved:
        return _Saved(t, self)

    @staticmethod
    def _unpack(s: _Saved) -> Tensor:
        return s.tensor

    def __enter__(self) -> SavedBytes:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._hooks.__exit__(et, e, tb)
