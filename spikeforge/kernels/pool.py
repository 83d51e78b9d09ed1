"""Fused CPU average pooling with kernel size = stride (the 2x2 pooling of conv SNNs).

``torch.nn.functional.avg_pool2d`` on CPU zero-fills its input gradient and then scatters into it,
and in channels-last layout converts gradients between layouts; pooling took about a fifth of a
conv SNN training step in ``BENCHMARKS.md``. These kernels read each input once and write each
output once, in whatever layout the input has (NCHW or channels-last), and sum each window in
ATen's order, so results are bit-identical to ``F.avg_pool2d(x, k)``
(``tests/kernels/test_pool.py``).
"""

from __future__ import annotations

import ctypes
from typing import Any

import torch
from torch import Tensor, nn

from ._build import BackendUnavailableError, load_library
from ._policy import warn_unavailable
from .cpu import _empty, threads_for

__all__ = ["avg_pool2d_cpp", "pool_kernel_size", "pool_plan"]


def pool_kernel_size(module: nn.Module) -> int | None:
    """``k`` if ``module`` is an ``nn.AvgPool2d`` these kernels compute exactly, else ``None``.

    Supported: square kernel ``k`` with stride ``k`` (or default), no padding, floor mode,
    no ``divisor_override``.
    """
    if type(module) is not nn.AvgPool2d:
        return None
    def square(v: Any) -> int | None:
        return int(v) if isinstance(v, int) else (int(v[0]) if len(set(v)) == 1 else None)

    k = square(module.kernel_size)
    s = k if module.stride is None else square(module.stride)
    pad = module.padding
    pad_zero = pad == 0 or (not isinstance(pad, int) and all(p == 0 for p in pad))
    if k is None or s != k or not pad_zero or module.ceil_mode or module.divisor_override is not None:
        return None
    return k


def _tensor_problem(x: Tensor) -> str | None:
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return f"the 'cpp' pooling kernel runs on CPU float32/float64, got {x.dtype} on {x.device}"
    return None


def pool_plan(module: nn.Module, x: Tensor) -> tuple[int | None, str | None]:
    """``(k, None)`` if :func:`avg_pool2d_cpp` computes ``module(x)`` exactly and can run here,
    else ``(None, reason)``."""
    k = pool_kernel_size(module)
    if k is None:
        return None, f"no fused kernel for {type(module).__name__} with these settings"
    why = _tensor_problem(x) or (None if x.dim() == 4 else "the pooling kernel runs on [N, C, H, W] input")
    if why is None:
        try:
            load_library()
        except BackendUnavailableError as e:
            why = f"the C++ kernels cannot be built on this machine ({e})"
            warn_unavailable(e)  # once per process: "auto" is about to run the module instead
    return (k, None) if why is None else (None, why)


def _strides(t: Tensor) -> ctypes.Array:
    return (ctypes.c_int64 * 4)(*t.stride())


def _like(shape: tuple[int, int, int, int], channels_last: bool, dtype: torch.dtype) -> Tensor:
    """Uninitialised ``[N, C, H, W]`` in NCHW or channels-last layout (large ones from the cache)."""
    N, C, H, W = shape
    if channels_last:
        return _empty((N, H, W, C), dtype).permute(0, 3, 1, 2)  # [N, H, W, C] -> [N, C, H, W] view
    return _empty(shape, dtype)


def _check(x: Tensor, k: int) -> None:
    why = _tensor_problem(x)
    if why is not None:
        raise BackendUnavailableError(why)
    if x.dim() != 4:
        raise ValueError(f"avg_pool2d expects [N, C, H, W], got shape {tuple(x.shape)}")
    if k < 1 or x.shape[2] < k or x.shape[3] < k:
        raise ValueError(f"pooling window {k} does not fit the input's spatial size {tuple(x.shape[2:])}")


class _AvgPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, k: int) -> Tensor:
        lib = load_library()
        N, C, H, W = x.shape
        cl = x.stride(1) == 1 and C > 1
        y = torch.empty((N, C, H // k, W // k), dtype=x.dtype,
                        memory_format=torch.channels_last if cl else torch.contiguous_format)
        suf = "f32" if x.dtype == torch.float32 else "f64"
        getattr(lib, f"sf_avgpool_fwd_{suf}")(N, C, H, W, k, x.data_ptr(), _strides(x), y.data_ptr(), _strides(y),
                                             threads_for(x.numel()))
        ctx.meta = (x.shape, cl, k)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor, None]:
        lib = load_library()
        shape, cl, k = ctx.meta
        N, C, H, W = shape
        gx = _like((N, C, H, W), cl, gy.dtype)
        suf = "f32" if gy.dtype == torch.float32 else "f64"
        getattr(lib, f"sf_avgpool_bwd_{suf}")(N, C, H, W, k, gy.data_ptr(), _strides(gy), gx.data_ptr(), _strides(gx),
                                             threads_for(gx.numel()))
        return gx, None


def avg_pool2d_cpp(x: Tensor, k: int) -> Tensor:
    """``F.avg_pool2d(x, k)`` (stride ``k``, no padding, floor mode) by the fused CPU kernels.

    Shapes: ``[N, C, H, W] -> [N, C, H // k, W // k]``, in the input's layout (channels-last stays
    channels-last). Bit-identical to ``F.avg_pool2d`` in value, gradient included. Raises
    :class:`~spikeforge.kernels.BackendUnavailableError` without a C++ compiler or for tensors
    the kernels do not handle (not CPU float32/float64).
    """
    _check(x, k)
    return _AvgPool.apply(x, k)
