"""A LIF layer and the k x k average pooling after it in one CPU kernel (``csrc/lif_pool.cpp``).

In a conv SNN (conv -> LIF -> ``AvgPool2d(k)``) the separate kernels write the full-resolution spikes,
read them back to pool, and in backward write and re-read a full-resolution spike gradient. The fused
kernel writes only the pooled spikes ``avg_pool2d(z, k)`` and the final state; its backward recomputes
the trajectory from the stored input (like the LIF kernel) and spreads the pooled gradient over each
window itself. It is a backend of the same reference: pooled spikes, final state and every gradient
are bit-identical to the LIF kernel followed by :func:`~spikeforge.kernels.pool.avg_pool2d_cpp`
(``tests/kernels/test_lif_pool.py``), which are themselves the torch reference's values.

Scope (anything else is declined with the reason, and the caller runs the two layers as usual): the
LIF kind (``lif_step``, ``if_step``) with every coefficient one value for the layer and none of them
learnable, a built-in reset and surrogate, no state quantization, CPU float32/float64 input
``[T, B, C, H, W]`` stored contiguously or channels-last, pooling window ``k`` with stride ``k``.
"""

from __future__ import annotations

import ctypes
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..numerics import check_finite_enabled
from .model_kernels import kernel_library
from .cpu import _empty, memory_order, supports, surrogate_code, threads_for
from .specs import LIF, KernelSpec, reset_code

__all__ = ["lif_pool_supports", "run_lif_pool"]

_CL = [0, 1, 3, 4, 2]  # [T, B, C, H, W] stored as [T, B, H, W, C]
_NAMES = ("c1", "c2", "c3", "vth", "vr")  # the LIF kind's coefficients, csrc/lif_pool.cpp's order


class _Cfg(NamedTuple):
    geom: tuple[int, int, int, int, int, int]  # T, NO, H, W, CI, k of csrc/lif_pool.cpp
    reset: int
    detach: int
    sg_kind: int
    sg_p: float
    coefs: tuple[float, ...]  # c1, c2, c3, vth, vr
    nthreads: int
    v0_one: int  # 1: the initial state is one value for every neuron, passed as 1 element


def _lib() -> ctypes.CDLL:
    return kernel_library("lifpool", "LLLLLLIPPPIPPIIP", "LLLLLLIIIDPPPPIPPPPI", names=("fwd", "bwd"))


class _NonFinite(Exception):
    """The forward kernel met a non-finite state; the caller re-runs the layers unfused to report it."""


def _scalar(c: Any) -> float | None:
    """``c`` as a Python float if it is one value without gradient, else ``None``."""
    if isinstance(c, Tensor):
        return float(c) if c.numel() == 1 and not c.requires_grad else None
    return float(c)


def lif_pool_supports(spec: KernelSpec | None, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any],
                      k: int) -> str | None:
    """``None`` if :func:`run_lif_pool` computes this LIF layer + ``AvgPool2d(k)`` exactly, else why not."""
    if spec is None or spec.kind != LIF or not spec.spiking:
        return "the fused LIF + pooling kernel runs the LIF kind only"
    why = supports(spec, xs, state, kwargs)  # dtype, device, state quantization, reset, surrogate, state
    if why is not None:
        return why
    if xs.dim() != 5 or xs.shape[3] < k or xs.shape[4] < k or k < 1:
        return f"the fused LIF + pooling kernel takes [T, B, C, H, W] with H, W >= {k}, got {tuple(xs.shape)}"
    if not xs.is_contiguous() and memory_order(xs) != _CL:
        return "the input is neither contiguous nor channels-last"
    coefs = spec.coefs(p, float(kwargs["dt"]), kwargs.get("integrator", "euler"))
    if any(_scalar(coefs.get(n, 0.0)) is None for n in _NAMES):
        return "per-neuron or learnable parameters have no fused LIF + pooling kernel"
    return None


class _LIFPool(torch.autograd.Function):
    """``x`` ``[T, NO, H, W, CI]`` contiguous, ``v0`` ``[NO, H, W, CI]`` contiguous (or ``[1]`` with
    ``cfg.v0_one``) -> ``(y [T, NO, Ho, Wo, CI], vT [NO, H, W, CI])``."""

    @staticmethod
    def forward(ctx: Any, cfg: _Cfg, x: Tensor, v0: Tensor) -> tuple[Tensor, Tensor]:
        lib = _lib()
        T, NO, H, W, CI, k = cfg.geom
        suf = "f32" if x.dtype == torch.float32 else "f64"
        vT = torch.empty((NO, H, W, CI), dtype=x.dtype)
        y = _empty((T, NO, H // k, W // k, CI), x.dtype)
        cf = (ctypes.c_double * 5)(*cfg.coefs)
        bad = (ctypes.c_int64 * 1)()
        rc = getattr(lib, f"sf_lifpool_fwd_{suf}")(T, NO, H, W, CI, k, cfg.reset, x.data_ptr(), y.data_ptr(),
                                                  v0.data_ptr(), cfg.v0_one, vT.data_ptr(), cf, cfg.nthreads,
                                                  int(check_finite_enabled()), bad)
        if rc != 0:
            raise RuntimeError(f"fused LIF + pooling kernel rejected reset={cfg.reset}, geometry {cfg.geom}")
        if bad[0]:
            raise _NonFinite()
        ctx.cfg = cfg
        ctx.save_for_backward(x, v0)
        ctx.set_materialize_grads(False)  # an unused final state passes None, not a zero-filled [NO, H, W, CI]
        return y, vT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: Tensor | None, gvT: Tensor | None) -> tuple[None, Tensor | None, Tensor | None]:
        cfg: _Cfg = ctx.cfg
        x, v0 = ctx.saved_tensors
        lib = _lib()
        T, NO, H, W, CI, k = cfg.geom
        suf = "f32" if x.dtype == torch.float32 else "f64"
        # the kernel reads the pooled gradient through its strides; an absent one (None) is a null pointer,
        # as is an absent final-state gradient: the kernel takes either as -0.0, the identity of a sum
        # (the reference adds no term for it), not +0.0 (+0 + -0 is +0)
        gys = (ctypes.c_int64 * 5)(*(gy.stride() if gy is not None else (0,) * 5))
        gvT = None if gvT is None else gvT.contiguous()
        gv0 = torch.empty((NO, H, W, CI), dtype=x.dtype) if ctx.needs_input_grad[2] else None
        gx = _empty(x.shape, x.dtype)
        cf = (ctypes.c_double * 5)(*cfg.coefs)
        rc = getattr(lib, f"sf_lifpool_bwd_{suf}")(
            T, NO, H, W, CI, k, cfg.reset, cfg.detach, cfg.sg_kind, cfg.sg_p, x.data_ptr(),
            None if gy is None else gy.data_ptr(), gys,
            v0.data_ptr(), cfg.v0_one, None if gvT is None else gvT.data_ptr(), gx.data_ptr(),
            None if gv0 is None else gv0.data_ptr(), cf, cfg.nthreads)
        if rc != 0:
            raise RuntimeError(f"fused LIF + pooling kernel rejected reset={cfg.reset}, geometry {cfg.geom}")
        return None, gx if ctx.needs_input_grad[1] else None, gv0


def run_lif_pool(spec: KernelSpec, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any], k: int
                 ) -> tuple[Tensor, Any] | None:
    """``(avg_pool2d(z, k) per step, final state)`` of a LIF layer run over ``xs`` from ``state``.

    Shapes: ``xs [T, B, C, H, W] -> ([T, B, C, H // k, W // k], state with fields [B, C, H, W])``, in the
    input's layout. The caller has checked :func:`lif_pool_supports`. Returns ``None`` if a state
    became non-finite while the check is enabled (the caller then runs the layers unfused, which
    raises :class:`~spikeforge.numerics.NonFiniteError` naming the step and index).
    """
    T, B, C, H, W = xs.shape
    cl = not xs.is_contiguous()  # channels-last (lif_pool_supports allows nothing else)
    if cl:
        x = xs.permute(_CL)  # [T, B, H, W, C], contiguous: a view
        NO, CI = B, C
    else:
        x = xs
        NO, CI = B * C, 1
    x = x.reshape(T, NO, H, W, CI)  # a view of contiguous memory
    (v,) = state
    v0_one = int(v.numel() > 1 and not v.requires_grad and all(st == 0 for st in v.stride()))
    if v0_one:  # one value expanded over every neuron (a resting state): hand the kernel that one value
        v0 = v.reshape(-1)[:1]  # [1], a view
    else:
        v0 = (v.permute(0, 2, 3, 1) if cl else v).reshape(NO, H, W, CI).contiguous()  # a copy only of another layout
    coefs = spec.coefs(p, float(kwargs["dt"]), kwargs.get("integrator", "euler"))
    sg_kind, sg_p = surrogate_code(kwargs["surrogate"])  # type: ignore[misc]
    cfg = _Cfg((T, NO, H, W, CI, k), int(reset_code(kwargs["reset"])),  # type: ignore[arg-type]
               int(bool(kwargs.get("detach_reset", False))), sg_kind, sg_p,
               tuple(_scalar(coefs.get(n, 0.0)) for n in _NAMES),  # type: ignore[misc]
               threads_for(xs.numel()), v0_one)
    try:
        y, vT = _LIFPool.apply(cfg, x, v0)
    except _NonFinite:
        return None
    Ho, Wo = H // k, W // k
    if cl:
        y = y.view(T, B, Ho, Wo, C).permute(0, 1, 4, 2, 3)  # [T, B, Ho, Wo, C] -> [T, B, C, Ho, Wo] view
        vT = vT.view(B, H, W, C).permute(0, 3, 1, 2)  # [B, H, W, C] -> [B, C, H, W] view
    else:
        y, vT = y.view(T, B, C, Ho, Wo), vT.view(B, C, H, W)
    return y, type(state)(vT)
