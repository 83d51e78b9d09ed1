"""Reuse of large kernel outputs once nothing references them any more.

A fresh multi-megabyte tensor costs the operating system a page fault and a page clear per page
the first time it is written; on the 2-core VM these measurements come from, writing 105 MB into
fresh memory took 2-4x as long as writing it into memory the process already had (see
``BENCHMARKS.md``, "copy bandwidth"). glibc hands blocks that large straight back to the OS on
``free``, so every training step pays that again for every layer output and input gradient.

:class:`OutputCache` keeps the storages of large kernel outputs (spikes, input gradients) after
their tensors die and hands them out again for the next output of exactly the same size, the way
PyTorch's CUDA caching allocator does on GPUs. A storage is reused only when no tensor, view,
autograd graph or numpy array refers to it (its use count is back to the cache's own reference,
counted both in C++ and for its Python storage object), so results cannot change; the cost is
memory held idle between steps, capped by :func:`set_cache_limit` (``SPIKEFORGE_KERNEL_CACHE_MB``,
default 1024 MB) and returned by :func:`empty_cache`.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading

import torch
from torch import Tensor

__all__ = ["OutputCache", "empty_cache", "set_cache_limit", "cache_info"]

# Smaller outputs: plain torch.empty. Not 8 MB: glibc returns a freed block of a few MB at the top of
# its heap to the OS too (trim threshold), so [100, 32, 512] spikes/gradients (6.5 MB) were faulted
# in anew on every call (measured ~2,600 minor faults per forward+backward; issue 17).
MIN_BYTES = 4 << 20
_HUGE = 2 << 20
_MADV_HUGEPAGE = 14
_libc = ctypes.CDLL(None) if platform.system() == "Linux" else None
_use_count = getattr(torch._C, "_storage_Use_Count", None)  # private; without it nothing is cached


def _fresh(nbytes: int) -> Tensor:
    """A new 1-D byte tensor; on Linux ask for transparent huge pages (one fault per 2 MiB, not 4 KiB).

    ``madvise`` only hints the OS; contents are unaffected.
    """
    buf = torch.empty(nbytes, dtype=torch.uint8)
    if _libc is not None and nbytes >= 4 * _HUGE:
        start = (buf.data_ptr() + _HUGE - 1) // _HUGE * _HUGE
        end = (buf.data_ptr() + nbytes) // _HUGE * _HUGE
        if end > start:
            _libc.madvise(ctypes.c_void_p(start), ctypes.c_size_t(end - start), _MADV_HUGEPAGE)
    return buf


def _holders(buf: Tensor) -> tuple[int, int]:
    """(C++ references to ``buf``'s storage, Python references to its storage object).

    Tensors, views and autograd's saved tensors count in the first; a Python ``UntypedStorage``
    object someone keeps (torch preserves one per storage) only shows in the second.
    """
    st = buf.untyped_storage()
    return _use_count(st._cdata), sys.getrefcount(st)  # type: ignore[misc]


class OutputCache:
    """Size-keyed cache of output storages (CPU); see the module docstring.

    Args:
        max_bytes: most bytes the cache may hold (busy and idle together); 0 disables it.

    Example:
        >>> cache = OutputCache(max_bytes=64 << 20)
        >>> a = cache.empty((4, 1024, 1024), torch.float32)  # 16 MB: cached
        >>> ptr = a.data_ptr(); del a
        >>> cache.empty((1024, 4096), torch.float32).data_ptr() == ptr  # same size: reused
        True
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._entries: list[tuple[Tensor, tuple[int, int]]] = []  # (byte buffer, its holders when idle)
        self._lock = threading.Lock()

    @staticmethod
    def _idle(buf: Tensor, base: tuple[int, int]) -> bool:
        return _holders(buf) == base

    def empty(self, shape: tuple[int, ...] | torch.Size, dtype: torch.dtype) -> Tensor:
        """An uninitialised contiguous CPU tensor, from an idle cached storage when one fits exactly."""
        numel = 1
        for s in shape:
            numel *= int(s)
        nbytes = numel * dtype.itemsize
        if nbytes < MIN_BYTES:
            return torch.empty(shape, dtype=dtype)
        if self.max_bytes <= 0 or _use_count is None:  # caching off: still huge pages
            return self._wrap(_fresh(nbytes), shape, dtype)
        with self._lock:
            buf = next((b for b, base in self._entries if b.numel() == nbytes and self._idle(b, base)), None)
            if buf is None:
                buf = _fresh(nbytes)
                if self._make_room(nbytes):
                    self._entries.append((buf, _holders(buf)))
            return self._wrap(buf, shape, dtype)

    @staticmethod
    def _wrap(buf: Tensor, shape: tuple[int, ...] | torch.Size, dtype: torch.dtype) -> Tensor:
        # ``set_`` makes a tensor that owns a reference to the storage but is not a view of another
        # tensor, so callers may modify it in place like any fresh output.
        return torch.empty(0, dtype=dtype).set_(buf.untyped_storage(), 0, tuple(shape))  # type: ignore[call-overload]

    def _make_room(self, nbytes: int) -> bool:
        """Evict idle storages (oldest first) until ``nbytes`` more fit; False if they cannot."""
        total = sum(b.numel() for b, _ in self._entries)
        for entry in list(self._entries):
            if total + nbytes <= self.max_bytes:
                break
            if self._idle(*entry):
                self._entries.remove(entry)
                total -= entry[0].numel()
        return total + nbytes <= self.max_bytes

    def clear(self) -> None:
        """Forget every cached storage (busy ones live on with their tensors)."""
        with self._lock:
            self._entries.clear()

    def info(self) -> dict[str, int]:
        """``{"storages", "bytes", "idle_bytes"}`` currently held."""
        with self._lock:
            idle = sum(b.numel() for b, base in self._entries if self._idle(b, base))
            return {"storages": len(self._entries), "bytes": sum(b.numel() for b, _ in self._entries),
                    "idle_bytes": idle}


def _default_limit() -> int:
    raw = os.environ.get("SPIKEFORGE_KERNEL_CACHE_MB", "1024")
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(f"SPIKEFORGE_KERNEL_CACHE_MB must be a number of megabytes, got {raw!r}") from None
    if mb < 0:
        raise ValueError(f"SPIKEFORGE_KERNEL_CACHE_MB must be >= 0, got {raw!r}")
    return int(mb * (1 << 20))


CACHE = OutputCache(_default_limit())


def empty_cache() -> None:
    """Release the idle storages the kernel output cache holds (like ``torch.cuda.empty_cache``)."""
    CACHE.clear()


def set_cache_limit(max_bytes: int) -> None:
    """Cap the bytes the kernel output cache may hold; ``0`` turns caching off.

    >>> set_cache_limit(256 << 20); cache_info()["bytes"] <= 256 << 20
    True
    >>> set_cache_limit(1 << 30)
    """
    if max_bytes < 0:
        raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
    with CACHE._lock:
        CACHE.max_bytes = int(max_bytes)
        CACHE._make_room(0)


def cache_info() -> dict[str, int]:
    """Storages and bytes held by the kernel output cache, and how many of those bytes are idle."""
    return CACHE.info()
