r"""Fused CPU kernel of the EIF neuron (``neurons/eif.py``; ``csrc/eif.cpp``).

:func:`~spikeforge.neurons.eif.eif_step` per step, evaluated in the kernel in its torch order:

.. math::
    v_1 = v + \big((x - v) + \Delta_T e^{(v - \theta_{rh})/\Delta_T}\big)\,a,\quad a = dt/\tau_{mem},
    \quad z = H(v_1 - v_{th}),\quad v' = \mathrm{reset}(v_1, z)

``a`` is computed here by the step's own expression ``dt / tau_mem`` (so it rounds identically),
and autograd carries its per-neuron gradient back to ``tau_mem``. The exponential must be the one
``torch.exp`` computes, bit for bit: on CPU that is a vendor vector routine (MKL VML's
``vmsExp``/``vmdExp`` in torch's MKL builds, with the mode ATen passes,
``VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE``), which differs from the C library's ``exp`` in
the last bit for about 1% of arguments. :func:`torch_exp` finds that routine in torch's own
library and checks it against ``torch.exp`` on a probe set (edge cases, the whole float range);
the kernel calls it on each block's arguments per step. A torch build where it is missing or
differs (no MKL, another platform) has no EIF kernel: :meth:`EIFKernel.supports` says so and
``"auto"`` runs the reference.

Backward recomputes the trajectory block by block (forward saves nothing but its inputs; the
backward buffer is ``4 T`` values per neuron of a cache-sized block) and runs the adjoint
recurrence described in ``csrc/eif.cpp``. Resets: to a value or to zero (the module refuses the
others: the exponential runs away without a hard reset).
"""

from __future__ import annotations

import ctypes
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._build import BackendUnavailableError
from .model_kernels import kernel_library, torch_function
from .cpu import _diagnose, _empty_like, _grad_out, _ptr_array, call_unsupported, run_elementwise, threads_for
from .specs import KernelSpec, reset_code

__all__ = ["EIF_KERNEL", "EIFKernel", "OneStateRun", "run_one_state", "torch_exp"]

# the mode ATen passes to MKL VML (ATen/cpu/vml.h): VML_HA | VML_FTZDAZ_OFF | VML_ERRMODE_IGNORE
VML_MODE = 0x2 | 0x140000 | 0x100
_VML_NAMES = {torch.float32: "vmsExp_64", torch.float64: "vmdExp_64"}


def _coefs(p: Any, dt: float, integrator: str = "euler") -> dict[str, Tensor]:
    # kernel slots c1, c2, c3 carry a = dt / tau_mem (eif_step's expression), delta_t, theta_rh
    return {"c1": dt / p.tau_mem, "c2": p.delta_t, "c3": p.theta_rh, "vth": p.v_th, "vr": p.v_reset}


SPEC = KernelSpec(kind=-1, state_fields=("v",), coefs=_coefs)  # run_elementwise's layout work only


def _probe(dtype: torch.dtype) -> Tensor:
    """Arguments that exercise every range of exp: under/overflow, subnormal results, ±0, ±inf, NaN."""
    lim = 760.0 if dtype == torch.float64 else 110.0
    gen = torch.Generator().manual_seed(0)
    parts = [torch.linspace(-lim, lim, 200_003, dtype=torch.float64),
             torch.randn(100_000, generator=gen, dtype=torch.float64) * 4,
             torch.tensor([0.0, -0.0, 1e-300, -1e-300, math.inf, -math.inf, math.nan], dtype=torch.float64)]
    return torch.cat(parts).to(dtype)  # [N]


@functools.lru_cache(maxsize=None)
def torch_exp(dtype: torch.dtype) -> tuple[int | None, str]:
    """``(address, "")`` of the routine ``torch.exp`` runs on CPU tensors of ``dtype``, or
    ``(None, reason)`` if it cannot be found or does not reproduce ``torch.exp`` bit for bit."""
    name = _VML_NAMES.get(dtype)
    if name is None:
        return None, f"no exp routine for {dtype}"
    return vml_routine(name, torch.exp, _probe(dtype))


def vml_routine(name: str, op: Callable[[Tensor], Tensor], probe: Tensor) -> tuple[int | None, str]:
    """``(address, "")`` of MKL VML's ``name`` (``v?Xxx_64(n, in, out, mode)``) in libtorch_cpu if it
    reproduces the torch op ``op`` bit for bit on ``probe`` (called with ATen's mode), else ``(None, reason)``."""
    fn = torch_function(name)
    if fn is None:
        return None, f"torch.{op.__name__}'s routine ({name} in libtorch_cpu) was not found in this torch build"
    fn.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn.restype = None
    y = torch.empty_like(probe)
    fn(probe.numel(), probe.data_ptr(), y.data_ptr(), VML_MODE)
    if not torch.equal(op(probe).nan_to_num(0.5), y.nan_to_num(0.5)):
        return None, f"{name} does not reproduce torch.{op.__name__} bit for bit in this torch build"
    return ctypes.cast(fn, ctypes.c_void_p).value, ""


def _lib() -> ctypes.CDLL:
    return kernel_library("eif", "ILLPPPPPPLIIP", "IIIDLLPPLLPPPPPPIPLI")


class RunConfig(NamedTuple):
    lib: Callable[[], ctypes.CDLL]  # the loaded kernel library, argtypes declared
    prefix: str  # C symbols {prefix}_forward_{f32,f64}, {prefix}_backward_{f32,f64}
    reset: int
    detach: int
    sg_kind: int
    sg_p: float
    nthreads: int
    check: int
    extra: tuple[Any, ...] = ()  # arguments passed to both C calls just before the thread count
    bwd_extra: tuple[Any, ...] = ()  # arguments passed to the backward call after ``extra``


class OneStateRun(torch.autograd.Function):
    """A model kernel with one state ``v`` and per-neuron coefficients ``[M]`` (EIF, KLIF):
    ``(cfg, x [T, M], v0 [M], *coefs [M]) -> (z [T, M], vT [M])``, with the C signatures of
    ``csrc/eif.cpp`` and ``csrc/klif.cpp``; backward returns the gradients of ``x``, ``v0`` and
    each coefficient."""

    @staticmethod
    def forward(ctx: Any, cfg: RunConfig, x: Tensor, v0: Tensor, *coefs: Tensor) -> tuple[Tensor, Tensor]:
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        vT = torch.empty_like(v0)
        z = _empty_like(x)
        bad = (ctypes.c_int64 * 3)()  # {t, m, code} of the first non-finite value; code 0: none
        rc = getattr(cfg.lib(), f"{cfg.prefix}_forward_{suf}")(
            cfg.reset, T, M, x.data_ptr(), z.data_ptr(), v0.data_ptr(), vT.data_ptr(), _ptr_array(list(coefs)),
            *cfg.extra, cfg.nthreads, cfg.check, bad)
        if rc != 0:
            raise RuntimeError(f"{cfg.prefix} kernel rejected reset={cfg.reset} (rc={rc})")
        if bad[2]:
            raise _diagnose(bad, x, [None, v0, None], [None, vT, None])
        ctx.cfg = cfg
        ctx.save_for_backward(x, v0, *coefs)
        # an output the loss does not use (the final state of layer(x).sum()) reaches backward as None,
        # not as a zero-filled [M] tensor: the kernel reads a null final-state gradient as zero (issue 17)
        ctx.set_materialize_grads(False)
        return z, vT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gz: Tensor | None, gvT: Tensor | None) -> tuple[Any, ...]:
        cfg: RunConfig = ctx.cfg
        x, v0, *coefs = ctx.saved_tensors
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        gz = _grad_out(gz, x, T, M)
        gvT = None if gvT is None else gvT.contiguous()
        gc = [torch.empty_like(c) if need else None for c, need in zip(coefs, ctx.needs_input_grad[3:])]
        gv0 = torch.empty_like(v0) if ctx.needs_input_grad[2] else None
        gx = _empty_like(x)
        rc = getattr(cfg.lib(), f"{cfg.prefix}_backward_{suf}")(
            cfg.reset, cfg.detach, cfg.sg_kind, cfg.sg_p, T, M, x.data_ptr(), gz.data_ptr(), gz.stride(0),
            gz.stride(1), gx.data_ptr(), v0.data_ptr(), None if gvT is None else gvT.data_ptr(),
            None if gv0 is None else gv0.data_ptr(), _ptr_array(list(coefs)), _ptr_array(gc),
            int(any(g is not None for g in gc)), *cfg.extra, *cfg.bwd_extra, cfg.nthreads)
        if rc != 0:
            raise RuntimeError(f"{cfg.prefix} kernel rejected reset={cfg.reset} (rc={rc})")
        return (None, gx if ctx.needs_input_grad[1] else None, gv0, *gc)


def run_one_state(spec: KernelSpec, lib: Callable[[], ctypes.CDLL], prefix: str, xs: Tensor, state: Any, p: Any,
                  kwargs: dict[str, Any], where: str | None, extra: Callable[[torch.dtype], tuple[Any, ...]],
                  bwd_extra: Callable[[torch.dtype], tuple[Any, ...]] = lambda dtype: ()) -> tuple[Tensor, Any]:
    """Run ``xs [T, B, *]`` through :class:`OneStateRun` with ``run_elementwise``'s layout work
    (memory order, per-neuron coefficients ``[M]``, surrogate/reset codes, non-finite index);
    ``extra(dtype)`` are C arguments of both calls, ``bwd_extra(dtype)`` of the backward only."""
    lib()  # build/load errors surface here, before autograd is involved

    def launch(fields: dict[str, Any], x2: Tensor, states: list[Tensor], flat: list[Tensor]) -> Any:
        cfg = RunConfig(lib=lib, prefix=prefix, reset=fields["reset"], detach=fields["detach"],
                        sg_kind=fields["sg_kind"], sg_p=fields["sg_p"], nthreads=threads_for(x2.numel()),
                        check=fields["check"], extra=extra(x2.dtype), bwd_extra=bwd_extra(x2.dtype))
        return OneStateRun.apply(cfg, x2, *states, *flat)

    return run_elementwise(spec, xs, state, p, kwargs, where, launch)


class EIFKernel:
    """The ``"cpp"`` model kernel of :func:`~spikeforge.neurons.eif.eif_step` (``MODEL_KERNELS``)."""

    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
        why = call_unsupported(SPEC, xs, state, kwargs, "cpp")
        if why is not None:
            return why
        if reset_code(kwargs.get("reset")) not in (1, 2):
            return "the EIF kernel runs only the hard resets (to a value, to zero)"
        return torch_exp(xs.dtype)[1] or None

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any],
            where: str | None) -> tuple[Tensor, Any]:
        why = self.supports(xs, state, kwargs)
        if why is not None:
            raise BackendUnavailableError(why)
        return run_one_state(SPEC, _lib, "sf_eif", xs, state, p, kwargs, where,
                             lambda dtype: (torch_exp(dtype)[0], VML_MODE))


EIF_KERNEL = EIFKernel()
