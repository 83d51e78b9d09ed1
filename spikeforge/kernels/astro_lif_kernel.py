"""The ``"cpp"`` model kernel of AstroLIF (``neurons/astro_lif.py::astro_lif_step``, ``csrc/astro_lif.cpp``).

Every neuron its own astrocyte (``domain`` None or 1) or ``domain`` consecutive neurons of the last dim
sharing one (up to :data:`MAX_DOMAIN`): the step is then passed in row-major order, so a domain is
``domain`` consecutive elements of the kernel's flat ``[M]`` view, and a block of neurons holds whole
domains. Every operation of the step is correctly rounded (the domain's spike count is exact in any
order; torch's mean divides it once, as the kernel does), so the kernel matches the reference in any
layout. Coefficients are the step's own torch expressions
(``specs._membrane``/``specs._fractions`` mirror ``neurons/_dynamics``), so they round and
differentiate identically; the surrogate derivative is ``step_math.h::surrogate_grad``.

Memory: forward saves only the inputs; backward recomputes a block's trajectory (2 ``T`` values per
neuron of the block, in L2) before the adjoint recurrence.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..numerics import check_finite_enabled
from .model_kernels import kernel_library
from .cpu import _empty_like, _grad_out, state_reason, surrogate_code, threads_for
from .specs import _fractions, _membrane, reset_code
from .ultralif_kernel import coefficient, flatten, raise_at, stride_of, unflatten

__all__ = ["ASTRO_LIF", "AstroLIFKernel"]

COEFS = ("c1", "c2", "c3", "vth", "k", "vr", "ad", "af")  # order of AstroCoef in csrc/astro_lif.cpp
MAX_DOMAIN = 256  # AS_CB in csrc/astro_lif.cpp: a block of neurons holds whole domains
_STEP_KWARGS = {"dt", "surrogate", "reset", "detach_reset", "state_quant", "integrator", "domain"}


def _lib() -> ctypes.CDLL:
    return kernel_library("astro_lif", "ILLLPPPPPPPPIIP", "IIIDLLLPPLLPPPPPPPPPPI")


def _ptrs(ts: list[Tensor | None]) -> ctypes.Array:
    return (ctypes.c_void_p * len(ts))(*[None if t is None else t.data_ptr() for t in ts])


def _strides(ts: tuple[Tensor, ...]) -> ctypes.Array:
    return (ctypes.c_int64 * len(ts))(*[stride_of(t) for t in ts])


class _Cfg(NamedTuple):
    dom: int
    reset: int
    detach: int
    sg_kind: int
    sg_p: float
    nthreads: int
    check: int


class _NonFiniteAt(Exception):
    """``(t, m, what, value)`` of the first non-finite value, ``m`` in the flat ``[M]`` order."""


class _AstroRun(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, cfg: _Cfg, x: Tensor, v0: Tensor, a0: Tensor, *coefs: Tensor) -> tuple[Tensor, ...]:
        lib = _lib()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        vT, aT = torch.empty_like(v0), torch.empty_like(a0)
        z = _empty_like(x)
        bad = (ctypes.c_int64 * 3)()
        rc = getattr(lib, f"sf_astro_lif_forward_{suf}")(
            cfg.reset, T, M, cfg.dom, x.data_ptr(), z.data_ptr(), v0.data_ptr(), a0.data_ptr(), vT.data_ptr(),
            aT.data_ptr(), _ptrs(list(coefs)), _strides(coefs), cfg.nthreads, cfg.check, bad)
        if rc != 0:
            raise RuntimeError(f"AstroLIF kernel rejected reset code {cfg.reset} or domain {cfg.dom}")
        if bad[2]:
            t, m, code = int(bad[0]), int(bad[1]), int(bad[2])
            if code <= 2:
                field, s0 = ("v", v0) if code == 1 else ("a", a0)
                raise _NonFiniteAt(t, m, f"initial state {field}", float(s0[m]))
            xv = float(x[t, m])
            if not math.isfinite(xv):
                raise _NonFiniteAt(t, m, "input", xv)
            field, sT = ("v", vT) if code == 3 else ("a", aT)
            raise _NonFiniteAt(t, m, f"state {field}", float(sT[m]))
        ctx.cfg = cfg
        ctx.save_for_backward(x, v0, a0, *coefs)
        # an output the loss does not use (the final state of layer(x).sum()) reaches backward as None,
        # not as a zero-filled [M] tensor: the kernel reads a null final-state gradient as zero (issue 17)
        ctx.set_materialize_grads(False)
        return z, vT, aT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gz: Tensor | None, gvT: Tensor | None, gaT: Tensor | None) -> tuple[Any, ...]:
        cfg: _Cfg = ctx.cfg
        x, v0, a0, *coefs = ctx.saved_tensors
        lib = _lib()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        gz = _grad_out(gz, x, T, M)
        need = ctx.needs_input_grad
        gv0 = torch.empty_like(v0) if need[2] else None
        ga0 = torch.empty_like(a0) if need[3] else None
        gc = [torch.empty(M, dtype=x.dtype) if need[4 + k] else None for k in range(len(coefs))]
        gx = _empty_like(x)
        gst = [None if g is None else g.contiguous() for g in (gvT, gaT)]
        rc = getattr(lib, f"sf_astro_lif_backward_{suf}")(
            cfg.reset, cfg.detach, cfg.sg_kind, cfg.sg_p, T, M, cfg.dom, x.data_ptr(), gz.data_ptr(), gz.stride(0),
            gz.stride(1), gx.data_ptr(), v0.data_ptr(), a0.data_ptr(),
            *[None if g is None else g.data_ptr() for g in (*gst, gv0, ga0)],
            _ptrs(coefs), _strides(tuple(coefs)), _ptrs(gc), cfg.nthreads)
        if rc != 0:
            raise RuntimeError(f"AstroLIF kernel rejected reset code {cfg.reset} or domain {cfg.dom}")
        return (None, gx if need[1] else None, gv0, ga0, *gc)


class AstroLIFKernel:
    """:class:`~spikeforge.kernels.model_kernels.ModelKernel` of ``astro_lif_step``."""

    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
        if xs.dtype not in (torch.float32, torch.float64):
            return f"the 'cpp' backend supports float32/float64, got {xs.dtype}"
        if kwargs.get("state_quant") is not None:
            return "state quantization (state_quant) has no fused kernel"
        extra = sorted(set(kwargs) - _STEP_KWARGS)
        if extra:
            return f"step arguments {extra} have no fused kernel"
        dom = kwargs.get("domain") or 1
        n = xs.shape[-1] if xs.dim() > 1 else 0
        if not (isinstance(dom, int) and 1 <= dom <= MAX_DOMAIN and n % dom == 0):
            return (f"domain={kwargs.get('domain')} with a last dim of {n}: the kernel runs domains of 1 to "
                    f"{MAX_DOMAIN} neurons that divide the last dim")
        if kwargs.get("integrator", "euler") not in ("euler", "exp"):
            return f"integrator {kwargs.get('integrator')!r} has no fused kernel"
        if reset_code(kwargs.get("reset")) is None:
            return "custom reset functions have no fused kernel"
        if surrogate_code(kwargs.get("surrogate")) is None:  # type: ignore[arg-type]
            return f"surrogate {type(kwargs.get('surrogate')).__name__} has no fused kernel"
        reason = state_reason(xs, state, ("v", "a"))
        if reason is not None:
            return reason
        if xs.numel() == 0:
            return "empty input"
        return None

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any], where: str | None) -> tuple[Tensor, Any]:
        shape = xs.shape[1:]
        dt, integrator = float(kwargs["dt"]), kwargs.get("integrator", "euler")
        mem = _membrane(p, dt, integrator)  # the step's leaky_integrate coefficients
        decay, frac = _fractions(p.tau_astro, dt, integrator)  # the step's step_fractions(tau_astro)
        values = {**mem, "vth": p.v_th, "k": p.k_astro, "vr": p.v_reset, "ad": decay, "af": frac}
        dom = int(kwargs.get("domain") or 1)
        # a domain is consecutive neurons of the last dim: row-major order keeps them consecutive in [M]
        order, x2, (v0, a0) = flatten(xs, [state.v, state.a], row_major=dom > 1)
        T, M = x2.shape
        coefs = [coefficient(values[n], x2, shape, order) for n in COEFS]
        sg_kind, sg_p = surrogate_code(kwargs["surrogate"])  # type: ignore[misc]
        cfg = _Cfg(dom=dom, reset=int(reset_code(kwargs["reset"])), detach=int(bool(kwargs.get("detach_reset", False))),  # type: ignore[arg-type]
                   sg_kind=sg_kind, sg_p=sg_p, nthreads=threads_for(T * M), check=int(check_finite_enabled()))
        try:
            z, vT, aT = _AstroRun.apply(cfg, x2, v0, a0, *coefs)
            found = None
        except _NonFiniteAt as e:
            found = e.args
        if found is not None:
            raise_at(found, shape, order, where or "AstroLIF kernel")
        return unflatten(z, shape, order), type(state)(unflatten(vT, shape, order), unflatten(aT, shape, order))


ASTRO_LIF = AstroLIFKernel()
