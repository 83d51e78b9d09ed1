"""Lift stateless layers over time."""

from __future__ import annotations

import re

import torch
from torch import Tensor, nn

from ..kernels import BackendUnavailableError
from ..kernels._policy import resolve_backend
from ..kernels.pool import avg_pool2d_cpp, pool_kernel_size, pool_plan
from ..neurons._base import check_sequence
from ..numerics import check_finite
from .sparse_linear import linear

__all__ = ["TimeDistributed"]


class TimeDistributed(nn.Module):
    """Apply a stateless module (conv, pooling, batch-norm, flatten, ...) at every time step by
    folding time into the batch.

    Shapes:
        ``[T, B, *in] -> [T, B, *out]`` where the wrapped module maps ``[N, *in] -> [N, *out]``.

    Args:
        module: the stateless module.
        memory_format: optionally ``torch.channels_last`` (4-D folded input) or
            ``torch.channels_last_3d`` (5-D): the folded input is laid out that way before the
            module runs; values are the same up to float summation order, and spikeforge
            neurons run on the result in place without copying it back. ``None`` (default)
            leaves the layout alone. Measured on a 2-core CPU: a 2 -> 16 channel 3x3
            convolution over ``[320, 2, 34, 34]`` (forward + weight gradient) took 3.6 ms in
            channels-last vs 26.5 ms in the default layout; the whole conv SNN step of
            ``BENCHMARKS.md`` took 42-59 ms vs 58-68 ms across four runs, one of them a tie
            (with the fused pooling below; with torch's own channels-last pooling it was no
            faster). Measure your own network.
        backend: ``"auto"`` (default) runs an ``nn.AvgPool2d`` with stride = kernel size and no
            padding through the fused CPU pooling kernels (:mod:`spikeforge.kernels.pool`:
            bit-identical values and gradients, either layout) when they can be built, else the
            module itself; ``"torch"`` always calls the module; ``"cpp"`` insists on the kernel
            and raises :class:`~spikeforge.kernels.BackendUnavailableError` where it cannot run.
        event_driven: an ``nn.Linear`` (exact type) runs through
            :func:`spikeforge.layers.sparse_linear.linear`, which takes the event-driven path when
            the folded input is binary and sparse enough to win (decided per call by
            :func:`spikeforge.kernels.event_policy.event_plan`; same values and gradients up to
            float summation order). ``False`` (or ``backend="torch"``, or a forward hook on the
            wrapped module, which must see the call) always calls the module.

    Example:
        >>> conv = TimeDistributed(nn.Conv2d(2, 16, 3, padding=1))
        >>> conv(torch.rand(10, 4, 2, 34, 34)).shape
        torch.Size([10, 4, 16, 34, 34])
        >>> fast = TimeDistributed(nn.Conv2d(2, 16, 3, padding=1), memory_format=torch.channels_last)
        >>> fast(torch.rand(10, 4, 2, 34, 34)).shape
        torch.Size([10, 4, 16, 34, 34])
    """

    _RANK = {torch.channels_last: 4, torch.channels_last_3d: 5}

    def __init__(self, module: nn.Module, memory_format: torch.memory_format | None = None,
                 backend: str = "auto", event_driven: bool = True) -> None:
        super().__init__()
        if not isinstance(module, nn.Module):
            raise TypeError(f"TimeDistributed wraps an nn.Module, got {type(module).__name__}")
        if memory_format is not None and memory_format not in self._RANK:
            raise ValueError(f"memory_format must be None, torch.channels_last or torch.channels_last_3d, "
                             f"got {memory_format}")
        if backend not in ("auto", "torch", "cpp"):
            raise ValueError(f"unknown backend {backend!r}; valid: 'auto', 'torch', 'cpp'")
        self.module = module
        self.memory_format = memory_format
        self.backend = backend
        self.event_driven = bool(event_driven)

    def forward(self, xs: Tensor) -> Tensor:
        who = f"TimeDistributed({type(self.module).__name__})"
        check_sequence(xs, who)
        _check_layout(self.module, xs, who)
        check_finite(xs, who)
        T, B = xs.shape[:2]
        x = xs.flatten(0, 1)  # [T, B, *in] -> [T*B, *in]
        if self.memory_format is not None:
            rank = self._RANK[self.memory_format]
            if x.dim() != rank:
                raise ValueError(f"memory_format={self.memory_format} needs [T, B] + {rank - 1} dims per step, "
                                 f"got input of shape {tuple(xs.shape)}")
            x = x.contiguous(memory_format=self.memory_format)
        ys = self._apply_module(x)  # [T*B, *out]
        return ys.unflatten(0, (T, B))  # [T, B, *out]

    def _apply_module(self, x: Tensor) -> Tensor:
        backend = resolve_backend(self.backend, pool_kernel_size(self.module) is not None)  # SPIKEFORGE_BACKEND
        if backend == "torch":
            return self.module(x)
        m = self.module
        if self.event_driven and type(m) is nn.Linear and not _hooked(m):
            return linear(x, m.weight, m.bias)  # [T*B, in] -> [T*B, out]
        k, why = pool_plan(self.module, x)
        if k is not None:
            return avg_pool2d_cpp(x, k)
        if backend == "cpp":
            raise BackendUnavailableError(why)
        return self.module(x)

    def extra_repr(self) -> str:
        parts = [] if self.memory_format is None else [f"memory_format={self.memory_format}"]
        parts += [] if self.event_driven else ["event_driven=False"]
        return ", ".join(parts + ([] if self.backend == "auto" else [f"backend={self.backend!r}"]))


def _hooked(module: nn.Module) -> bool:
    """Whether calling ``module`` would run hooks (its own or global ones) that must see the call."""
    g = nn.modules.module
    return bool(module._forward_hooks or module._forward_pre_hooks or g._global_forward_hooks
                or g._global_forward_pre_hooks)


_SPATIAL = {1: "L", 2: "H, W", 3: "D, H, W"}
_POOLS = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd, nn.modules.pooling._AdaptiveAvgPoolNd,
          nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.pooling._LPPoolNd)


def _layout(module: nn.Module) -> tuple[int, int | None] | None:
    """``(n, C)``: ``module`` takes batches ``[N, C, *S]`` with ``n`` spatial dims and ``C`` channels
    (``None`` if any number); ``None`` for modules without a fixed layout."""
    n: int | None = None
    channels: int | None = None
    if isinstance(module, nn.modules.conv._ConvNd):
        n, channels = len(module.kernel_size), module.in_channels
    elif isinstance(module, (*_POOLS, nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)):
        m = re.search(r"(\d)d$", type(module).__name__)
        n = int(m.group(1)) if m else None
        channels = getattr(module, "num_features", None)
    if n is None:
        return None
    if isinstance(module, nn.modules.lazy.LazyModuleMixin) and module.has_uninitialized_params():
        channels = None  # lazy modules learn C from the first input
    return n, channels


def _check_layout(module: nn.Module, xs: Tensor, who: str) -> None:
    """Raise ``ValueError`` if ``xs [T, B, ...]`` cannot be ``[T, B, C, *S]`` for ``module`` (a wrong
    rank would otherwise be read as an unbatched input, or fail deep inside torch)."""
    layout = _layout(module)
    if layout is None:
        return
    n, channels = layout
    ranks = (2, 3) if isinstance(module, nn.BatchNorm1d) else (n + 2,)  # BatchNorm1d: [N, C] or [N, C, L]
    want = "[T, B, C]' or '[T, B, C, L]" if len(ranks) == 2 else f"[T, B, C, {_SPATIAL[n]}]"
    if xs.dim() - 1 not in ranks:
        raise ValueError(f"{who}: expected input '{want}' ({' or '.join(str(r + 1) for r in ranks)} dims), "
                         f"got shape {tuple(xs.shape)}")
    if channels is not None and xs.shape[2] != channels:
        raise ValueError(f"{who}: expected C = {channels} channels on dim 2 of '{want}', got shape {tuple(xs.shape)}")
