r"""Fused ``"cpp"`` kernel of GLIF (``csrc/glif.cpp``), the model kernel of
:func:`~spikeforge.neurons.glif.glif_step`.

.. math::
    v' = \big((A v)(1 - \gamma z) - L\big) + x\,c_{in} - R_h z,\qquad z' = H(v' - v_{th})

with the parameter-only factors ``c_in = 1 - beta (1 - conduct)``, ``A = 1 - alpha (1 - decay)``,
``L = (1 - alpha) leak``, ``R_h = (1 - gamma) v_reth`` computed here by the step's own torch
expressions (so they round identically and autograd carries their gradients back to the gates).
The C++ loop evaluates the step's remaining operations in its order, so spikes and both states
``(v, z)`` are bit-identical to the reference. The previous spike ``z`` is state and, as in the
step, differentiable through the surrogate: backward is the adjoint recurrence over ``(v, z)``
giving the gradients of the input, of both initial states and, per neuron, of the six factors.
Forward saves only its inputs; backward recomputes the trajectory per block of neurons into two
cache-resident ``[T, block]`` buffers (``v'`` and the surrogate derivative).

Built-in surrogates run exactly (``csrc/step_math.h``); a custom one is declined (``"auto"`` runs
the reference).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..numerics import check_finite_enabled
from .model_kernels import kernel_library
from .cpu import _empty_like, _grad_out, _ptr_array, surrogate_code, threads_for
from .ilif_kernel import nonfinite_at, run_flat, state_unsupported

__all__ = ["GLIF_KERNEL", "GLIFKernel"]


def _lib() -> ctypes.CDLL:
    return kernel_library("glif", "LLPPPPPPPLIIP", "LLPPLLPPPPPPPPLPIDI")


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class _Config(NamedTuple):
    sg_kind: int
    sg_p: float
    cmask: int  # bit k: factor k (c_in, A, gamma, L, R_h, v_th) is one value for every neuron
    nthreads: int
    check: int  # 1: the forward kernel reports the first non-finite input or state


class _GLIFRun(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, cfg: _Config, x: Tensor, v0: Tensor, z0: Tensor, *coefs: Tensor
                ) -> tuple[Tensor, Tensor, Tensor]:
        lib = _lib()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        vT, zT = torch.empty_like(v0), torch.empty_like(z0)  # [M] each
        z = _empty_like(x)  # [T, M]
        bad = (ctypes.c_int64 * 3)()  # {t, m, code} of the first non-finite value; code 0: none
        getattr(lib, f"sf_glif_forward_{suf}")(T, M, x.data_ptr(), z.data_ptr(), v0.data_ptr(), z0.data_ptr(),
                                               vT.data_ptr(), zT.data_ptr(), _ptr_array(list(coefs)), cfg.cmask,
                                               cfg.nthreads, cfg.check, bad)
        if bad[2]:
            raise nonfinite_at(bad, x, ("v", "z"), [v0, z0], [vT, zT])
        ctx.cfg = cfg
        ctx.save_for_backward(x, v0, z0, *coefs)
        # an output the loss does not use (the final state of layer(x).sum()) reaches backward as None,
        # not as a zero-filled [M] tensor: the kernel reads a null final-state gradient as zero (issue 17)
        ctx.set_materialize_grads(False)
        return z, vT, zT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gz: Tensor | None, gvT: Tensor | None, gzT: Tensor | None) -> tuple[Any, ...]:
        cfg: _Config = ctx.cfg
        x, v0, z0, *coefs = ctx.saved_tensors
        lib = _lib()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        gz = _grad_out(gz, x, T, M)  # [T, M], unit or zero stride along M
        gvT = None if gvT is None else gvT.contiguous()
        gzT = None if gzT is None else gzT.contiguous()
        need = ctx.needs_input_grad
        gv0 = torch.empty_like(v0) if need[2] else None
        gz0 = torch.empty_like(z0) if need[3] else None
        gc: list[Tensor | None] = [torch.empty_like(c) if need[4 + k] else None for k, c in enumerate(coefs)]
        gx = _empty_like(x)
        rc = getattr(lib, f"sf_glif_backward_{suf}")(
            T, M, x.data_ptr(), gz.data_ptr(), gz.stride(0), gz.stride(1), gx.data_ptr(), v0.data_ptr(),
            z0.data_ptr(), _ptr(gvT), _ptr(gzT), _ptr(gv0), _ptr(gz0), _ptr_array(list(coefs)), cfg.cmask,
            _ptr_array(gc), cfg.sg_kind, cfg.sg_p, cfg.nthreads)
        if rc != 0:
            raise RuntimeError(f"GLIF kernel rejected output-gradient strides {tuple(gz.stride())}")
        return None, gx if need[1] else None, gv0, gz0, *gc


class GLIFKernel:
    """Model kernel (:class:`~spikeforge.kernels.model_kernels.ModelKernel`) of ``glif_step``."""

    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
        why = state_unsupported(xs, state, ("v", "z"), kwargs, ("dt", "surrogate"))
        if why is None and surrogate_code(kwargs["surrogate"]) is None:
            why = f"surrogate {type(kwargs['surrogate']).__name__} has no fused kernel"
        return why

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any], where: str | None) -> tuple[Tensor, Any]:
        code = surrogate_code(kwargs["surrogate"])
        assert code is not None  # supports() declined any other surrogate
        # the step's parameter-only factors, by its own expressions (glif_step)
        cin = 1 - p.beta * (1 - p.conduct)
        A = 1 - p.alpha * (1 - p.decay)
        L = (1 - p.alpha) * p.leak
        Rh = (1 - p.gamma) * p.v_reth

        def launch(x2: Tensor, states: list[Tensor], coefs: list[Tensor], cmask: int) -> Sequence[Tensor]:
            cfg = _Config(code[0], code[1], cmask, threads_for(x2.numel()), int(check_finite_enabled()))
            return _GLIFRun.apply(cfg, x2, *states, *coefs)

        return run_flat(xs, state, [cin, A, p.gamma, L, Rh, p.v_th], launch, where)


GLIF_KERNEL = GLIFKernel()
