"""The ``"cpp"`` model kernel of UltraDLIF (``neurons/ultradlif.py::ultradlif_step``, ``csrc/ultralif.cpp``).

The step's ``torch.logsumexp`` over the stacked ring neighbours ``(V_{i-1}, V_i, V_{i+1}) / eps`` runs,
on CPU, ``amax``, a ``masked_fill`` of infinite maxima, ``(q - m).exp_()``, a sum over the 3 terms
in their order, ``log_()`` and ``add_(m)``; ``exp_``/``log_`` are MKL VML's ``v?Exp``/``v?Ln`` in
torch's MKL builds (ATen ``vml.h``; verified bit for bit against ``torch.exp``/``torch.log`` by
:func:`torch_vml`, which declines otherwise). The spike sigmoid is UltraLIF's (SLEEF exp on torch's
vector path, the C library's on the last ``len mod 2W`` elements of each loop, ``W`` the floats /
doubles of ATen's AVX2 or AVX512 vector), so the kernel needs what UltraLIF's needs as well.

Whatever the input's layout, torch's ops after the first ``stack`` iterate a row-major step, so the
kernel works on a row-major ``[T, R, H]`` copy (rows of ``H`` ring neurons, the last dim).

Memory: forward saves only the inputs; backward recomputes a block of rows (4 ``T`` values per
neuron) before the adjoint recurrence.
"""

from __future__ import annotations

import ctypes
import functools
import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..numerics import check_finite_enabled
from .cpu import _empty_like, _grad_out, _NonFiniteAt, state_reason, threads_for
from .eif_kernel import VML_MODE, torch_exp, vml_routine
from .model_kernels import kernel_library, torch_function_address
from .ultralif_kernel import EPS_RANGE, _entry, _ptr, _sleef, _vbytes, check_status, coefficient, flatten, \
    run_flat, stride_of, torch_loop_length

__all__ = ["ULTRADLIF", "UltraDLIFKernel", "torch_vml"]

_LN_NAMES = {torch.float32: "vmsLn_64", torch.float64: "vmdLn_64"}


def _ln_probe(dtype: torch.dtype) -> Tensor:
    """Arguments of every range of log: subnormal, tiny, around 1, huge, 0, negative, inf, NaN."""
    gen = torch.Generator().manual_seed(0)
    big = 700.0 if dtype == torch.float64 else 85.0
    parts = [torch.exp(torch.linspace(-big, big, 200_003, dtype=torch.float64)),
             1 + torch.randn(100_000, generator=gen, dtype=torch.float64) * 1e-3,
             torch.rand(100_000, generator=gen, dtype=torch.float64) * 3,
             torch.tensor([0.0, -0.0, -1.0, 1.0, 1e-310, math.inf, -math.inf, math.nan], dtype=torch.float64)]
    return torch.cat(parts).to(dtype)  # [N]


@functools.lru_cache(maxsize=None)
def torch_vml(dtype: torch.dtype) -> tuple[int, int, int] | str:
    """Addresses ``(exp, ln, MKL_Set_Num_Threads_Local)``: the routines ``torch.exp``/``torch.log`` run
    on CPU tensors of ``dtype`` (MKL VML) and the switch the kernel uses to keep VML single-threaded
    inside its own threads; or why they cannot be used (missing, or not bit-identical on a probe)."""
    exp_at, reason = torch_exp(dtype)
    if exp_at is None:
        return reason
    name = _LN_NAMES.get(dtype)
    if name is None:
        return f"no log routine for {dtype}"
    ln_at, reason = vml_routine(name, torch.log, _ln_probe(dtype))
    if ln_at is None:
        return reason
    threads_at = torch_function_address("MKL_Set_Num_Threads_Local")
    if not threads_at:
        return "MKL_Set_Num_Threads_Local is not exported by libtorch_cpu"
    return exp_at, ln_at, threads_at


def _lib() -> ctypes.CDLL:
    return kernel_library("ultradlif", "LLLLLPPPPLPPPPPLPLIIP", "LLLLLPPPPLPPLLPPPPPLPLPPII")


class _Cfg(NamedTuple):
    H: int
    detach: int
    chunk: int
    vbytes: int
    nthreads: int
    check: int


def _routines(dtype: torch.dtype) -> tuple[int, int, int, int]:
    vml = torch_vml(dtype)
    assert not isinstance(vml, str)  # supports() returned the reason
    return _entry(dtype)[0], *vml


class _UltraDLIFRun(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, cfg: _Cfg, x: Tensor, v0: Tensor, E: Tensor, th: Tensor) -> tuple[Tensor, Tensor]:
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        vT = torch.empty_like(v0)
        z = _empty_like(x)
        bad = (ctypes.c_int64 * 3)()
        rc = getattr(_lib(), f"sf_ultradlif_forward_{suf}")(
            T, M, cfg.H, cfg.chunk, cfg.vbytes, *_routines(x.dtype), VML_MODE, x.data_ptr(), z.data_ptr(),
            v0.data_ptr(),
            vT.data_ptr(), E.data_ptr(), stride_of(E), th.data_ptr(), stride_of(th), cfg.nthreads, cfg.check, bad)
        check_status(rc, "UltraDLIF", cfg.vbytes)
        if bad[2]:
            t, m = int(bad[0]), int(bad[1])
            if bad[2] == 1:
                raise _NonFiniteAt(t, m, "initial state v", float(v0[m]))
            xv = float(x[t, m])
            raise _NonFiniteAt(t, m, "input" if not math.isfinite(xv) else "state v",
                               xv if not math.isfinite(xv) else float(vT[m]))
        ctx.cfg = cfg
        ctx.save_for_backward(x, v0, E, th)
        # an output the loss does not use (the final state of layer(x).sum()) reaches backward as None,
        # not as a zero-filled [M] tensor: the kernel reads a null final-state gradient as zero (issue 17)
        ctx.set_materialize_grads(False)
        return z, vT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gz: Tensor | None, gvT: Tensor | None) -> tuple[Any, ...]:
        cfg: _Cfg = ctx.cfg
        x, v0, E, th = ctx.saved_tensors
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        gz = _grad_out(gz, x, T, M)
        need = ctx.needs_input_grad
        gv0 = torch.empty_like(v0) if need[2] else None
        gc = [torch.empty(M, dtype=x.dtype) if need[3 + k] else None for k in range(2)]
        gx = _empty_like(x)
        rc = getattr(_lib(), f"sf_ultradlif_backward_{suf}")(
            T, M, cfg.H, cfg.chunk, cfg.vbytes, *_routines(x.dtype), VML_MODE, x.data_ptr(), gz.data_ptr(),
            gz.stride(0),
            gz.stride(1), gx.data_ptr(), v0.data_ptr(), _ptr(None if gvT is None else gvT.contiguous()), _ptr(gv0),
            E.data_ptr(), stride_of(E), th.data_ptr(), stride_of(th), _ptr(gc[0]), _ptr(gc[1]), cfg.detach,
            cfg.nthreads)
        check_status(rc, "UltraDLIF", cfg.vbytes)
        return (None, gx if need[1] else None, gv0, *gc)


class UltraDLIFKernel:
    """:class:`~spikeforge.kernels.model_kernels.ModelKernel` of ``ultradlif_step``."""

    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
        if xs.dtype not in (torch.float32, torch.float64):
            return f"the 'cpp' backend supports float32/float64, got {xs.dtype}"
        extra = sorted(set(kwargs) - {"dt", "detach_reset"})
        if extra:
            return f"step arguments {extra} have no fused kernel"
        reason = state_reason(xs, state, ("v",))
        if reason is not None:
            return reason
        if xs.dim() < 3:
            return "UltraDLIF needs [T, B, *, H] (the step refuses an input without a neuron dim)"
        if xs.numel() == 0:
            return "empty input"
        sleef = _sleef()
        if isinstance(sleef, str):
            return sleef
        vml = torch_vml(xs.dtype)
        return vml if isinstance(vml, str) else None

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any], where: str | None) -> tuple[Tensor, Any]:
        shape = xs.shape[1:]
        eps = torch.clamp(torch.as_tensor(p.eps), *EPS_RANGE)  # the step's own expression
        order, x2, (v0,) = flatten(xs, [state.v], row_major=True)  # x2 [T, M], M = R * H row-major
        T, M = x2.shape
        coefs = [coefficient(c, x2, shape, order) for c in (eps, p.v_th)]
        cfg = _Cfg(H=shape[-1], detach=int(bool(kwargs.get("detach_reset", False))), chunk=torch_loop_length(M),
                   vbytes=_vbytes(), nthreads=threads_for(T * M), check=int(check_finite_enabled()))
        return run_flat(_UltraDLIFRun, (cfg, x2, v0, *coefs), state, shape, order, where or "UltraDLIF kernel")


ULTRADLIF = UltraDLIFKernel()
