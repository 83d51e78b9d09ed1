r"""Fused CPU kernel of LIF with a quantized membrane (SQUAT; ``csrc/quant_lif.cpp``).

``lif_step(..., state_quant=q)`` rounds the updated membrane to the nearest of ``q``'s levels
before the spike test, with an identity (straight-through) gradient:

.. math:: v_1 = q\big((c_1 v + c_2 x) + c_3\big),\quad z = H(v_1 - v_{th}),\quad v' = \mathrm{reset}(v_1, z)

The kernel takes the level table and its decision boundaries ``(levels[k] + levels[k+1]) / 2`` in
the compute dtype, built by the same torch expressions as
:func:`spikeforge.quant.state_quant.quantize_to_levels`, and writes each quantized value as
``level + (v1 - v1)`` as :func:`spikeforge.quant.fake_quant.ste` does, so spikes and states are
bit-identical to the torch reference. Backward is the LIF adjoint recurrence on the quantized
trajectory (recomputed block by block; nothing but the inputs is saved, as in ``csrc/lif.cpp``).

Only quantizers of type :class:`spikeforge.quant.StateQuant` (a fixed level table) have a kernel,
and only for models running ``lif_step`` (LIF, PLIF, meta); ``kernels`` sits below ``quant`` in
the dependency order, so the type is recognised by its qualified name, like the reset functions.
"""

from __future__ import annotations

import ctypes
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._build import BackendUnavailableError
from .model_kernels import kernel_library
from .cpu import (_coef_grads, _diagnose, _empty_like, _grad_out, _ptr_array, run_elementwise, supports,
                  threads_for)
from .specs import COEFS, LIF, KernelSpec, _qualname

__all__ = ["quant_levels", "quant_supports", "run_quant_cpp"]

STATE_QUANT = "spikeforge.quant.state_quant.StateQuant"


def quant_levels(q: Any, dtype: torch.dtype) -> tuple[Tensor, Tensor] | None:
    """``(levels [L], mids [L-1])`` of a :class:`~spikeforge.quant.StateQuant` in ``dtype``, as
    ``quantize_to_levels`` builds them, or ``None`` for any other quantizer."""
    if _qualname(type(q)) != STATE_QUANT:
        return None
    levels = torch.tensor(q.levels, dtype=dtype)  # as StateQuant.levels_tensor(x.dtype)
    mids = (levels[1:] + levels[:-1]) / 2  # [L-1] decision boundaries, as quantize_to_levels
    return levels.contiguous(), mids.contiguous()


def quant_supports(spec: KernelSpec | None, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
    """``None`` if the quantized LIF kernel can run this call exactly, else the reason."""
    q = kwargs.get("state_quant")
    why = supports(spec, xs, state, {**kwargs, "state_quant": None})
    if why is not None:
        return why
    assert spec is not None
    if spec.kind != LIF:
        return "state quantization has a fused kernel only for lif_step models (LIF, PLIF)"
    if q is not None and quant_levels(q, xs.dtype) is None:
        return (f"state quantization with a {type(q).__name__} has no fused kernel (only "
                "spikeforge.quant.StateQuant level tables)")
    return None


class _Config(NamedTuple):
    reset: int
    detach: int
    sg_kind: int
    sg_p: float
    coef_slots: tuple[int, ...]
    nthreads: int
    check: int


def _lib() -> ctypes.CDLL:
    return kernel_library("quant_lif", "ILLPPPPPPPLIIP", "IIIDLLPPLLPPPPPPIPPLI")


def _coef_table(x: Tensor, coef_slots: tuple[int, ...], coefs: Any) -> list[Tensor | None]:
    table: list[Tensor | None] = [x.new_zeros(x.shape[1])] * len(COEFS)  # slots the model does not use
    for slot, t in zip(coef_slots, coefs):
        table[slot] = t
    return table


class _QuantRun(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, cfg: _Config, levels: Tensor, mids: Tensor, x: Tensor, v0: Tensor,
                *coefs: Tensor) -> tuple[Tensor, Tensor]:
        lib = _lib()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        vT = torch.empty_like(v0)
        z = _empty_like(x)
        c = _coef_table(x, cfg.coef_slots, coefs)
        bad = (ctypes.c_int64 * 3)()
        rc = getattr(lib, f"sf_quant_lif_forward_{suf}")(cfg.reset, T, M, x.data_ptr(), z.data_ptr(), v0.data_ptr(),
                                                        vT.data_ptr(), _ptr_array(c), levels.data_ptr(),
                                                        mids.data_ptr(), levels.numel(), cfg.nthreads, cfg.check, bad)
        if rc != 0:
            raise RuntimeError(f"quantized LIF kernel rejected reset={cfg.reset}")
        if bad[2]:
            raise _diagnose(bad, x, [None, v0, None], [None, vT, None])
        ctx.cfg = cfg
        ctx.save_for_backward(levels, mids, x, v0, *coefs)
        ctx.set_materialize_grads(False)  # an unused output's gradient stays None: no zero fill, no read
        return z, vT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gz: Tensor | None, gvT: Tensor | None) -> tuple[Any, ...]:
        cfg: _Config = ctx.cfg
        levels, mids, x, v0, *coefs = ctx.saved_tensors
        lib = _lib()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        gz = _grad_out(gz, x, T, M)
        gvT = None if gvT is None else gvT.contiguous()
        c = _coef_table(x, cfg.coef_slots, coefs)
        gc, gcoefs = _coef_grads(cfg.coef_slots, coefs, ctx.needs_input_grad[5:])
        gv0 = torch.empty_like(v0) if ctx.needs_input_grad[4] else None
        gx = _empty_like(x)
        rc = getattr(lib, f"sf_quant_lif_backward_{suf}")(
            cfg.reset, cfg.detach, cfg.sg_kind, cfg.sg_p, T, M, x.data_ptr(), gz.data_ptr(), gz.stride(0),
            gz.stride(1), gx.data_ptr(), v0.data_ptr(), None if gvT is None else gvT.data_ptr(),
            None if gv0 is None else gv0.data_ptr(), _ptr_array(c), _ptr_array(gc),
            int(any(g is not None for g in gc)), levels.data_ptr(), mids.data_ptr(), levels.numel(), cfg.nthreads)
        if rc != 0:
            raise RuntimeError(f"quantized LIF kernel rejected reset={cfg.reset}")
        return (None, None, None, gx if ctx.needs_input_grad[3] else None, gv0, *gcoefs)


def run_quant_cpp(spec: KernelSpec | None, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any],
                  where: str | None = None) -> tuple[Tensor, Any]:
    """Run a ``[T, B, *]`` sequence of a state-quantized LIF layer through the fused kernel.

    Same contract as :func:`spikeforge.kernels.cpu.run_cpp`; raises
    :class:`~spikeforge.kernels.BackendUnavailableError` (with the reason) for a call it cannot run.
    """
    why = quant_supports(spec, xs, state, kwargs)
    if why is not None:
        raise BackendUnavailableError(why)
    assert spec is not None
    _lib()
    found = quant_levels(kwargs["state_quant"], xs.dtype)
    assert found is not None
    levels, mids = found

    def launch(fields: dict[str, Any], x2: Tensor, states: list[Tensor], flat: list[Tensor]) -> Any:
        cfg = _Config(reset=fields["reset"], detach=fields["detach"], sg_kind=fields["sg_kind"],
                      sg_p=fields["sg_p"], coef_slots=fields["coef_slots"], nthreads=threads_for(x2.numel()),
                      check=fields["check"])
        return _QuantRun.apply(cfg, levels, mids, x2, *states, *flat)

    return run_elementwise(spec, xs, state, p, kwargs, where, launch)
