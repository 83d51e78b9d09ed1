"""The ``"cpp"`` model kernel of UltraLIF (``neurons/ultralif.py::ultralif_step``, ``csrc/ultralif.cpp``).

The step's ``torch.logaddexp`` and ``torch.sigmoid`` are not correctly rounded: torch's CPU kernels
evaluate them with SLEEF's vector ``exp``/``log1p`` on most elements and with the C library's on the
last ``len mod 2W`` elements of each loop (``W`` = 8 floats / 4 doubles in ATen's AVX2 kernels,
16 floats / 8 doubles in its AVX512 kernels; a loop is one step's ``[B, *]``, or one thread's chunk
when torch splits an op of more than 32768 elements across threads). The kernel takes the same path
per element: it calls the SLEEF functions exported by the loaded ``libtorch_cpu`` for this process's
vector width and is told torch's loop length (:func:`torch_loop_length`). So it runs only where that
model of torch holds: AVX2 or AVX512 CPU capability, SLEEF symbols present, each step's input dense
and the state laid out like it (``supports`` gives the reason otherwise).

Memory: forward saves only the inputs; backward recomputes a block's trajectory (4 ``T`` values per
neuron of the block, in L2) before the adjoint recurrence.
"""

from __future__ import annotations

import ctypes
import functools
import math
from typing import Any, NamedTuple, NoReturn

import torch
from torch import Tensor

from ..numerics import check_finite_enabled
from .model_kernels import TORCH_VECTORS, kernel_library, torch_sleef, torch_vector_bytes
from .cpu import _empty_like, _grad_out, _NonFiniteAt, raise_nonfinite_at, state_reason, threads_for

__all__ = ["ULTRALIF", "UltraLIFKernel", "check_status", "coefficient", "flat_layout", "flatten", "raise_at",
           "stride_of", "torch_loop_length", "unflatten"]

# mirrors neurons/ultralif.py (kernels sits below neurons); the contract and clamp tests catch drift
EPS_RANGE = (0.1, 20.0)
DECAY_RANGE = (0.1, 0.99)
TORCH_GRAIN = 32768  # at::internal::GRAIN_SIZE: TensorIterator ops of more elements split across threads
_STEP_KWARGS = {"dt", "detach_reset", "state_quant"}


@functools.lru_cache(maxsize=1)
def _sleef() -> dict[torch.dtype, tuple[int, int]] | str:
    """SLEEF ``(exp, log1p)`` entry points of this process's ATen kernels (AVX2 or AVX512) per dtype,
    or why there are none."""
    cap = torch.backends.cpu.get_cpu_capability()
    if cap not in TORCH_VECTORS:
        return (f"torch's CPU capability is {cap}; the kernel reproduces its AVX2 and AVX512 "
                f"logaddexp/sigmoid only")
    out = {}
    for dtype in (torch.float32, torch.float64):
        exp_at, log1p_at = torch_sleef("exp", dtype), torch_sleef("log1p", dtype)
        if not exp_at or not log1p_at:
            return f"torch's SLEEF exp/log1p for {dtype} on {cap} are not exported by libtorch_cpu"
        out[dtype] = (exp_at, log1p_at)
    return out


def _entry(dtype: torch.dtype) -> tuple[int, int]:
    sleef = _sleef()
    assert not isinstance(sleef, str)  # supports() returned the reason
    return sleef[dtype]


def check_status(rc: int, model: str, vbytes: int) -> None:
    """Raise if a kernel call returned a nonzero status (2: built without AVX, 3: a vector width it does
    not reproduce)."""
    if rc != 0:
        raise RuntimeError(f"the {model} kernel rejected the call (status {rc}: 2 built without AVX, "
                           f"3 vector width {vbytes})")


def _vbytes() -> int:
    """Bytes per vector of torch's loop (32 AVX2, 64 AVX512) the kernels reproduce."""
    vbytes = torch_vector_bytes()
    assert vbytes is not None  # supports() declined other capabilities
    return vbytes


def torch_loop_length(m: int) -> int:
    """Length of the contiguous loops torch runs an elementwise op of ``m`` elements in (the whole
    tensor, or one thread's chunk: ``at::parallel_for`` splits ``m > 32768`` elements into
    ``min(threads, ceil(m / 32768))`` chunks of ``ceil(m / k)``)."""
    nt = torch.get_num_threads()
    if m <= TORCH_GRAIN or nt <= 1:
        return m
    k = min(nt, -(-m // TORCH_GRAIN))
    return -(-m // k)


def flat_layout(x0: Tensor) -> list[int] | None:
    """Dims of one step ``x0 [B, *]`` in memory order (``x0.permute(order)`` contiguous), or ``None``
    if ``x0`` is not dense. torch's elementwise ops iterate a dense step in this order."""
    strides = x0.stride()
    order = sorted(range(x0.dim()), key=lambda d: -strides[d])
    return order if x0.permute(order).is_contiguous() else None


def layout_reason(xs: Tensor, states: list[Tensor]) -> str | None:
    """Why the kernel's flat ``[T, M]`` view would not iterate like torch's ops, or ``None``."""
    order = flat_layout(xs[0])
    if order is None:
        return "each input step must be dense (torch iterates a strided step in another order)"
    for s in states:
        if not s.permute(order).is_contiguous():
            return "state tensors must be laid out like the input step (torch would iterate them differently)"
    return None


def flatten(xs: Tensor, states: list[Tensor], row_major: bool = False) -> tuple[list[int], Tensor, list[Tensor]]:
    """``(order, x2 [T, M], states [M])`` in the step's memory order (views where possible), or in
    row-major order with ``row_major`` or for a step that is not dense (copies)."""
    order = (None if row_major else flat_layout(xs[0])) or list(range(xs.dim() - 1))
    x2 = xs.permute([0] + [d + 1 for d in order]).reshape(xs.shape[0], -1).contiguous()  # [T, M]
    return order, x2, [s.permute(order).reshape(-1).contiguous() for s in states]  # [M] each


def unflatten(t: Tensor, shape: torch.Size, order: list[int]) -> Tensor:
    """Inverse of :func:`flatten` for an output ``[*lead, M]`` of a step of ``shape`` ``[B, *]``."""
    lead = t.shape[:-1]
    pshape = [shape[d] for d in order]
    inv = [order.index(d) for d in range(len(order))]
    n = len(lead)
    return t.view(*lead, *pshape).permute(*range(n), *[d + n for d in inv])


def coefficient(c: Any, like: Tensor, shape: torch.Size, order: list[int]) -> Tensor:
    """A per-step coefficient for the kernel: one element (stride 0) when it is one value without
    gradient, else broadcast to the step and flattened to ``[M]`` (autograd sums it back)."""
    if not isinstance(c, Tensor) or c.dtype != like.dtype:
        c = torch.as_tensor(c, dtype=like.dtype)
    if c.numel() == 1 and not c.requires_grad:
        return c.reshape(1)
    return c.expand(shape).permute(order).reshape(-1).contiguous()  # [B, *] -> [M]


def stride_of(c: Tensor) -> int:
    return 0 if c.numel() == 1 else 1


def raise_at(found: tuple[Any, ...], shape: torch.Size, order: list[int], where: str) -> NoReturn:
    """Raise :class:`~spikeforge.numerics.NonFiniteError` for a kernel's ``(t, m, what, value)``,
    ``m`` mapped from the flat ``[M]`` order back to the caller's index in ``[B, *]``."""
    raise_nonfinite_at(found, tuple(shape[d] for d in order), order, where)



def run_flat(fn: Any, args: tuple[Any, ...], state: Any, shape: torch.Size, order: list[int],
             where: str) -> tuple[Tensor, Any]:
    """``fn.apply(*args)`` on the flat ``[T, M]`` layout -> ``(z, one-tensor state)`` in the caller's layout;
    a non-finite value found by the kernel raises :class:`~spikeforge.numerics.NonFiniteError` there."""
    try:
        z, vT = fn.apply(*args)
    except _NonFiniteAt as e:
        found = e.args  # raised below, outside the handler: no chained traceback
    else:
        return unflatten(z, shape, order), type(state)(unflatten(vT, shape, order))
    raise_at(found, shape, order, where)

def _lib() -> ctypes.CDLL:
    return kernel_library("ultralif", "LLLLPPPPPPPLPLPLIIP", "LLLLPPPPLLPPPPPLPLPLPPPII")


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class _Cfg(NamedTuple):
    detach: int
    chunk: int
    vbytes: int
    nthreads: int
    check: int


class _UltraLIFRun(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, cfg: _Cfg, x: Tensor, v0: Tensor, E: Tensor, ld: Tensor, th: Tensor) -> tuple[Tensor, Tensor]:
        lib = _lib()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        vexp, vlog1p = _entry(x.dtype)
        vT = torch.empty_like(v0)
        z = _empty_like(x)
        bad = (ctypes.c_int64 * 3)()
        rc = getattr(lib, f"sf_ultralif_forward_{suf}")(
            T, M, cfg.chunk, cfg.vbytes, vexp, vlog1p, x.data_ptr(), z.data_ptr(), v0.data_ptr(), vT.data_ptr(),
            E.data_ptr(), stride_of(E), ld.data_ptr(), stride_of(ld), th.data_ptr(), stride_of(th),
            cfg.nthreads, cfg.check, bad)
        check_status(rc, "UltraLIF", cfg.vbytes)
        if bad[2]:
            t, m = int(bad[0]), int(bad[1])
            if bad[2] == 1:
                raise _NonFiniteAt(t, m, "initial state v", float(v0[m]))
            xv = float(x[t, m])
            raise _NonFiniteAt(t, m, "input" if not math.isfinite(xv) else "state v",
                               xv if not math.isfinite(xv) else float(vT[m]))
        ctx.cfg = cfg
        ctx.save_for_backward(x, v0, E, ld, th)
        # an output the loss does not use (the final state of layer(x).sum()) reaches backward as None,
        # not as a zero-filled [M] tensor: the kernel reads a null final-state gradient as zero (issue 17)
        ctx.set_materialize_grads(False)
        return z, vT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gz: Tensor | None, gvT: Tensor | None) -> tuple[Any, ...]:
        cfg: _Cfg = ctx.cfg
        x, v0, E, ld, th = ctx.saved_tensors
        lib = _lib()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        vexp, vlog1p = _entry(x.dtype)
        gz = _grad_out(gz, x, T, M)
        need = ctx.needs_input_grad
        gv0 = torch.empty_like(v0) if need[2] else None
        gc = [torch.empty(M, dtype=x.dtype) if need[3 + k] else None for k in range(3)]
        gx = _empty_like(x)
        rc = getattr(lib, f"sf_ultralif_backward_{suf}")(
            T, M, cfg.chunk, cfg.vbytes, vexp, vlog1p, x.data_ptr(), gz.data_ptr(), gz.stride(0), gz.stride(1),
            gx.data_ptr(), v0.data_ptr(), _ptr(None if gvT is None else gvT.contiguous()), _ptr(gv0),
            E.data_ptr(), stride_of(E), ld.data_ptr(), stride_of(ld), th.data_ptr(), stride_of(th),
            _ptr(gc[0]), _ptr(gc[1]), _ptr(gc[2]), cfg.detach, cfg.nthreads)
        check_status(rc, "UltraLIF", cfg.vbytes)
        return (None, gx if need[1] else None, gv0, *gc)


class UltraLIFKernel:
    """:class:`~spikeforge.kernels.model_kernels.ModelKernel` of ``ultralif_step``."""

    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
        if xs.dtype not in (torch.float32, torch.float64):
            return f"the 'cpp' backend supports float32/float64, got {xs.dtype}"
        if kwargs.get("state_quant") is not None:
            return "state quantization (state_quant) has no fused kernel"
        extra = sorted(set(kwargs) - _STEP_KWARGS)
        if extra:
            return f"step arguments {extra} have no fused kernel"
        reason = state_reason(xs, state, ("v",))
        if reason is not None:
            return reason
        v = state.v
        if xs.numel() == 0:
            return "empty input"
        sleef = _sleef()
        if isinstance(sleef, str):
            return sleef
        return layout_reason(xs, [v])

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any], where: str | None) -> tuple[Tensor, Any]:
        shape = xs.shape[1:]
        # the step's own expressions, so the coefficients round (and differentiate) identically
        eps = torch.clamp(torch.as_tensor(p.eps), *EPS_RANGE)
        decay = torch.clamp(torch.as_tensor(p.decay), *DECAY_RANGE)
        order, x2, (v0,) = flatten(xs, [state.v])
        T, M = x2.shape
        coefs = [coefficient(c, x2, shape, order) for c in (eps, torch.log(decay), p.v_th)]
        cfg = _Cfg(detach=int(bool(kwargs.get("detach_reset", False))), chunk=torch_loop_length(M),
                   vbytes=_vbytes(), nthreads=threads_for(T * M), check=int(check_finite_enabled()))
        return run_flat(_UltraLIFRun, (cfg, x2, v0, *coefs), state, shape, order, where or "UltraLIF kernel")


ULTRALIF = UltraLIFKernel()
