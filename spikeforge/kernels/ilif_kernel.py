r"""Fused ``"cpp"`` kernels of I-LIF and NI-LIF (``csrc/ilif.cpp``), model kernels of
:func:`~spikeforge.neurons.ilif.ilif_step` and :func:`~spikeforge.neurons.nilif.nilif_step`.

.. math::
    v_1 = v + (x - v)\,k,\quad u = \mathrm{nan\_to\_num}\big(\min(\max(v_1/v_{th}, 0), D)\ [/D]\big),\quad
    s = \mathrm{round}(u),\quad v' = v_1 - s\,v_{th}

with ``k = dt / tau_mem`` computed here by the step's own torch expression (``[/D]``: NI-LIF only).
The C++ loop evaluates the step's operations in its order (each rounding once), so outputs and the
final state are bit-identical to the reference; backward is the adjoint of torch's autograd of the
same ops (the straight-through ``u + (round(u) - u.detach())``, ``nan_to_num``, ``minimum`` with its
half-and-half tie, ``clamp``'s ``>= 0``, the reset through the detached ``round``), giving the
gradients of the input, the initial membrane and, per neuron, of ``k``, ``v_th`` and ``D``; autograd
carries ``k``'s back to ``tau_mem``. Forward saves only its inputs; backward recomputes the
trajectory per block of neurons into two cache-resident ``[T, block]`` buffers (``v_1`` and the
membrane before each step).

:func:`run_flat` is the layout work of a model kernel (flatten ``[T, B, *]`` to ``[T, M]`` in memory
order, per-neuron coefficients to ``[M]``, non-finite reports back to the caller's index); the GLIF
kernel (:mod:`.glif_kernel`) uses it too.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..numerics import check_finite_enabled
from .model_kernels import kernel_library
from .cpu import (_empty_like, _grad_out, _NonFiniteAt, memory_order, raise_nonfinite_at, state_reason,
                  threads_for)

__all__ = ["ILIF_KERNEL", "NILIF_KERNEL", "IntegerLIFKernel", "run_flat", "nonfinite_at", "state_unsupported"]


def state_unsupported(xs: Tensor, state: Any, fields: tuple[str, ...], kwargs: dict[str, Any],
                      options: Sequence[str]) -> str | None:
    """What a model kernel cannot run exactly, as the reason, or ``None``: a dtype other than
    float32/float64, a state quantizer, a step option it does not know, or a state that is not
    ``fields`` of tensors shaped like one input step (same dtype and device)."""
    if xs.dtype not in (torch.float32, torch.float64):
        return f"the 'cpp' backend supports float32/float64, got {xs.dtype}"
    if kwargs.get("state_quant") is not None:
        return "state quantization (state_quant) has no fused kernel for this neuron"
    unknown = sorted(set(kwargs) - set(options) - {"state_quant"})
    if unknown:
        return f"step options {unknown} are not implemented by its kernel"
    return state_reason(xs, state, fields)


def nonfinite_at(bad: ctypes.Array, x: Tensor, fields: tuple[str, ...], st0: Sequence[Tensor],
                 stT: Sequence[Tensor]) -> _NonFiniteAt:
    """What a model kernel's ``bad = {t, m, code}`` refers to: ``code`` in ``1..n`` is initial state
    field ``code - 1``; in ``n+1..2n`` field ``code - n - 1`` became non-finite at step ``t`` (the
    input's fault if ``x[t, m]`` is not finite)."""
    t, m, code = int(bad[0]), int(bad[1]), int(bad[2])
    n = len(fields)
    if code <= n:
        return _NonFiniteAt(t, m, f"initial state {fields[code - 1]}", float(st0[code - 1][m]))
    xv = float(x[t, m])
    if xv != xv or abs(xv) == float("inf"):
        return _NonFiniteAt(t, m, "input", xv)
    return _NonFiniteAt(t, m, f"state {fields[code - n - 1]}", float(stT[code - n - 1][m]))


Launch = Callable[[Tensor, list[Tensor], list[Tensor], int], Sequence[Tensor]]


def run_flat(xs: Tensor, state: Any, coefs: Sequence[Tensor], launch: Launch, where: str | None) -> tuple[Tensor, Any]:
    """Run an elementwise model kernel over ``xs [T, B, *]`` from ``state`` (a NamedTuple of ``[B, *]``).

    ``coefs`` broadcast to ``[B, *]``; one that is a single value needing no gradient is passed as a
    1-element tensor (bit ``k`` of ``cmask`` set), the others expanded to ``[M]`` (autograd sums their
    gradients back). ``launch(x [T, M], states [M]..., coefs, cmask) -> (out [T, M], *final states [M])``
    may raise :class:`~spikeforge.kernels.cpu._NonFiniteAt`, reported as
    :class:`~spikeforge.numerics.NonFiniteError` at the caller's index. Any dense layout runs in
    memory order (a permuted view, as :func:`~spikeforge.kernels.cpu.run_elementwise`).
    """
    shape = xs.shape  # [T, B, *]
    T = shape[0]
    perm = memory_order(xs)
    permuted = perm != sorted(perm)
    xp = xs.permute(perm) if permuted else xs  # [T, B, *] in memory order
    pshape = xp.shape
    x2 = xp.reshape(T, -1).contiguous()  # [T, M], M = B * prod(*)
    M = x2.shape[1]
    sperm = [d - 1 for d in perm[1:]]  # the same permutation for one step's [B, *]
    flat: list[Tensor] = []
    cmask = 0
    for k, c in enumerate(coefs):
        c = torch.as_tensor(c, dtype=xs.dtype, device=xs.device)
        if c.numel() == 1 and not c.requires_grad:
            flat.append(c.reshape(1))  # [1], broadcast by the kernel
            cmask |= 1 << k
            continue
        c = c.expand(shape[1:])  # [B, *]
        flat.append((c.permute(sperm) if permuted else c).reshape(M).contiguous())  # [M]
    states = [(s.permute(sperm) if permuted else s).reshape(M).contiguous() for s in state]  # [M] each
    try:
        out, *finals = launch(x2, states, flat, cmask)
        found = None
    except _NonFiniteAt as e:
        found = e.args
    if found is not None:  # raised outside the except block: no chained kernel-internal traceback
        raise_nonfinite_at(found, tuple(pshape[1:]), sperm, where)
    out = out.view(pshape)  # [T, M] -> [T, B, *] in memory order
    finals = [f.view(pshape[1:]) for f in finals]
    if permuted:  # back to the caller's dim order, keeping the input's strides
        inv = [perm.index(d) for d in range(len(perm))]
        sinv = [d - 1 for d in inv[1:]]
        out, finals = out.permute(inv), [f.permute(sinv) for f in finals]
    return out, type(state)(*finals)


def _lib() -> ctypes.CDLL:
    return kernel_library("ilif", "ILLPPPPPPPLIIP", "ILLPPLLPPPPPPPLPPPI")


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


class _Config(NamedTuple):
    norm: int  # 1: NI-LIF (u divided by D)
    cmask: int  # bit k: coefficient k (k, v_th, D) is one value for every neuron
    nthreads: int
    check: int  # 1: the forward kernel reports the first non-finite input or state


class _IntegerLIFRun(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, cfg: _Config, x: Tensor, v0: Tensor, k: Tensor, th: Tensor, d: Tensor
                ) -> tuple[Tensor, Tensor]:
        lib = _lib()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        vT = torch.empty_like(v0)  # [M]
        z = _empty_like(x)  # [T, M]
        bad = (ctypes.c_int64 * 3)()  # {t, m, code} of the first non-finite value; code 0: none
        getattr(lib, f"sf_ilif_forward_{suf}")(cfg.norm, T, M, x.data_ptr(), z.data_ptr(), v0.data_ptr(),
                                               vT.data_ptr(), k.data_ptr(), th.data_ptr(), d.data_ptr(), cfg.cmask,
                                               cfg.nthreads, cfg.check, bad)
        if bad[2]:
            raise nonfinite_at(bad, x, ("v",), [v0], [vT])
        ctx.cfg = cfg
        ctx.save_for_backward(x, v0, k, th, d)
        # an output the loss does not use (the final state of layer(x).sum()) reaches backward as None,
        # not as a zero-filled [M] tensor: the kernel reads a null final-state gradient as zero (issue 17)
        ctx.set_materialize_grads(False)
        return z, vT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gz: Tensor | None, gvT: Tensor | None) -> tuple[Any, ...]:
        cfg: _Config = ctx.cfg
        x, v0, k, th, d = ctx.saved_tensors
        lib = _lib()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        gz = _grad_out(gz, x, T, M)  # [T, M], unit or zero stride along M
        gvT = None if gvT is None else gvT.contiguous()
        need = ctx.needs_input_grad
        gv0 = torch.empty_like(v0) if need[2] else None
        gk, gth, gd = (torch.empty_like(c) if need[3 + i] else None for i, c in enumerate((k, th, d)))
        gx = _empty_like(x)
        rc = getattr(lib, f"sf_ilif_backward_{suf}")(
            cfg.norm, T, M, x.data_ptr(), gz.data_ptr(), gz.stride(0), gz.stride(1), gx.data_ptr(), v0.data_ptr(),
            _ptr(gvT), _ptr(gv0), k.data_ptr(), th.data_ptr(), d.data_ptr(), cfg.cmask, _ptr(gk), _ptr(gth),
            _ptr(gd), cfg.nthreads)
        if rc != 0:
            raise RuntimeError(f"I-LIF kernel rejected output-gradient strides {tuple(gz.stride())}")
        return None, gx if need[1] else None, gv0, gk, gth, gd


class IntegerLIFKernel:
    """Model kernel (:class:`~spikeforge.kernels.model_kernels.ModelKernel`) of ``ilif_step``
    (``norm=False``) or ``nilif_step`` (``norm=True``)."""

    def __init__(self, norm: bool) -> None:
        self.norm = bool(norm)

    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
        return state_unsupported(xs, state, ("v",), kwargs, ("dt",))

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any], where: str | None) -> tuple[Tensor, Any]:
        k = kwargs["dt"] / p.tau_mem  # as the step: (x - v) * (dt / p.tau_mem)
        d = torch.as_tensor(p.d_max, dtype=xs.dtype, device=xs.device)  # as the step

        def launch(x2: Tensor, states: list[Tensor], coefs: list[Tensor], cmask: int) -> Sequence[Tensor]:
            cfg = _Config(int(self.norm), cmask, threads_for(x2.numel()), int(check_finite_enabled()))
            return _IntegerLIFRun.apply(cfg, x2, *states, *coefs)

        return run_flat(xs, state, [k, p.v_th, d], launch, where)


ILIF_KERNEL = IntegerLIFKernel(norm=False)
NILIF_KERNEL = IntegerLIFKernel(norm=True)
