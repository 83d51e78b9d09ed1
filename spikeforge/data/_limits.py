"""How large a dense tensor the data pipeline may allocate, and the error when more is asked for.

A representation's output size follows from the events (``T = t_last / dt`` frames of ``P·H·W``
values), so one corrupt time stamp — a spike at ``t = 1e6`` s in a one-second recording — would
otherwise ask NumPy for hundreds of GiB and die with a ``MemoryError`` deep inside it. Every
representation checks its output size here first and raises :class:`DenseSizeError`, naming the
shape, the size and the cause, before allocating anything.

The limit is ``2**28`` values (1 GiB of float32; counting builds an int64 intermediate, so the peak
is about 3 GiB). Raise it for legitimately large tensors with :func:`set_max_dense_elements` or
the environment variable ``SPIKEFORGE_MAX_DENSE_ELEMENTS``.

Example:
    >>> check_dense_size((10, 2, 34, 34), "bin_events")
    >>> max_dense_elements() >= 2**28
    True
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

__all__ = ["DEFAULT_MAX_DENSE_ELEMENTS", "DenseSizeError", "check_dense_size", "max_dense_elements",
           "set_max_dense_elements"]

DEFAULT_MAX_DENSE_ELEMENTS = 2**28


class DenseSizeError(ValueError):
    """A representation would allocate more values than the configured limit."""


def _env_limit() -> int:
    raw = os.environ.get("SPIKEFORGE_MAX_DENSE_ELEMENTS", "").strip()
    if not raw:
        return DEFAULT_MAX_DENSE_ELEMENTS
    try:
        value = int(float(raw))
    except ValueError:
        raise ValueError(f"SPIKEFORGE_MAX_DENSE_ELEMENTS must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"SPIKEFORGE_MAX_DENSE_ELEMENTS must be a positive integer, got {raw!r}")
    return value


_LIMIT: int = _env_limit()


def max_dense_elements() -> int:
    """The largest number of values a representation may allocate."""
    return _LIMIT


def set_max_dense_elements(n: int | None) -> None:
    """Set the limit for this process (``None`` restores the default / environment value)."""
    global _LIMIT
    if n is None:
        _LIMIT = _env_limit()
        return
    if int(n) != n or n < 1:
        raise ValueError(f"the dense size limit must be a positive integer, got {n!r}")
    _LIMIT = int(n)


def check_dense_size(shape: Sequence[float], what: str, cause: str = "") -> None:
    """Raise :class:`DenseSizeError` if a tensor of ``shape`` exceeds the limit.

    ``shape`` entries may be floats (a frame count computed from time stamps before any integer
    cast, which could overflow); ``cause`` explains where the size comes from.
    """
    n = math.prod(float(s) for s in shape)
    if n <= _LIMIT:
        return
    dims = " × ".join(f"{float(s):.4g}" if float(s) >= 1e6 else str(int(s)) for s in shape)
    why = f" ({cause})" if cause else ""
    raise DenseSizeError(
        f"{what} would allocate [{dims}] = {n:.3g} values (~{4 * n / 2**30:.3g} GiB of float32){why}; "
        f"the limit is {_LIMIT} values. A span this long usually means a corrupt time stamp; if the "
        f"size is intended, raise the limit with spikeforge.data.set_max_dense_elements(n) or "
        f"SPIKEFORGE_MAX_DENSE_ELEMENTS."
    )
