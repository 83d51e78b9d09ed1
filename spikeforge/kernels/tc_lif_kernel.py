r"""Fused CPU kernel of TC-LIF (``neurons/tc_lif.py::tc_lif_step``; ``csrc/tc_lif.cpp``).

.. math::
    u^d_1 = (u^d - \sigma(\beta_1) u^s) + I,\quad u^s_1 = u^s + \sigma(\beta_2) u^d_1,\quad
    s = H(u^s_1 - \theta),\quad u^d \leftarrow u^d_1 - \gamma s,\quad u^s \leftarrow u^s_1 - \theta s

The coefficients ``sigmoid(beta1)``, ``sigmoid(beta2)``, ``gamma``, ``v_th`` are computed here by
the step's own torch expressions and handed to the kernel, which evaluates every other operation
in the step's order: spikes and final state are bit-identical to the torch loop. Backward
recomputes the state history block by block (``2 T`` values per neuron of a cache-sized block,
nothing saved from forward but the inputs) and returns gradients of the input, the initial state
and every coefficient; autograd carries the latter back to ``beta1``, ``beta2``, ``gamma``,
``v_th`` (per-neuron or per-layer). ``detach_reset`` and every built-in surrogate run exactly.

:func:`flatten_call` and :func:`unflatten_result` are the layout work shared with
:mod:`.clif_kernel` (two-state models with per-neuron coefficients).
"""

from __future__ import annotations

import ctypes
import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..numerics import check_finite_enabled
from ._build import load_library
from .cpu import (_empty_like, _grad_out, _NonFiniteAt, _ptr_array, memory_order, raise_nonfinite_at, state_reason,
                  surrogate_code, threads_for)

__all__ = ["TC_LIF_KERNEL", "flatten_call", "unflatten_result", "two_state_unsupported"]


def two_state_unsupported(xs: Tensor, state: Any, kwargs: dict[str, Any], fields: tuple[str, ...]) -> str | None:
    """The reason a two-state model kernel cannot run this call exactly (dtype, state quantization,
    custom surrogate, unexpected state), or ``None``."""
    if xs.dtype not in (torch.float32, torch.float64):
        return f"the 'cpp' backend supports float32/float64, got {xs.dtype}"
    if kwargs.get("state_quant") is not None:
        return "state quantization (state_quant) has no fused kernel"
    if surrogate_code(kwargs["surrogate"]) is None:
        return f"surrogate {type(kwargs.get('surrogate')).__name__} has no fused kernel"
    return state_reason(xs, state, fields)


class Flat(NamedTuple):
    """A call in the kernels' ``[T, M]`` layout and what is needed to map results back."""
    x: Tensor  # [T, M]
    states: list[Tensor]  # each [M]
    coefs: list[Tensor]  # each [M], or one element (layer-wide, no gradient; the kernel broadcasts it)
    cmask: int  # bit k: coefficient k is one element
    pshape: torch.Size  # [T, B, *] in the kernel's dim order
    perm: list[int]  # the kernel's dim order (identity unless the input was permuted-dense)


def flatten_call(xs: Tensor, state: Any, coefs: list[Any], in_memory_order: bool = True) -> Flat:
    """``xs [T, B, *]``, the state and per-neuron coefficients as ``[T, M]`` / ``[M]`` arrays.

    With ``in_memory_order`` a permuted-dense input (channels-last) runs as it lies in memory (a
    view); without it the neuron order is always row-major ``[B, *]`` (a copy for strided inputs),
    for kernels whose rounding depends on an element's position in a contiguous tensor.
    """
    shape = xs.shape  # [T, B, *]
    T = shape[0]
    perm = memory_order(xs) if in_memory_order else list(range(xs.dim()))
    permuted = perm != sorted(perm)
    xp = xs.permute(perm) if permuted else xs  # [T, B, *] in the kernel's order
    x2 = xp.reshape(T, -1).contiguous()  # [T, M], M = B * prod(*)
    M = x2.shape[1]
    sperm = [d - 1 for d in perm[1:]]  # the same order for one step's [B, *]
    flat: list[Tensor] = []
    cmask = 0
    for k, c in enumerate(coefs):
        if not (isinstance(c, Tensor) and c.dtype == xs.dtype and c.device == xs.device):
            c = torch.as_tensor(c, dtype=xs.dtype, device=xs.device)
        if c.numel() == 1 and not c.requires_grad:
            flat.append(c.reshape(1))  # one value for the layer, broadcast by the kernel
            cmask |= 1 << k
            continue
        c = c.expand(shape[1:])  # [B, *]; autograd sums the [M] gradient back
        flat.append((c.permute(sperm) if permuted else c).reshape(M).contiguous())
    states = [(s.permute(sperm) if permuted else s).reshape(M).contiguous() for s in state]
    return Flat(x2, states, flat, cmask, xp.shape, perm)


def unflatten_result(f: Flat, z: Tensor, finals: list[Tensor], state_cls: Any) -> tuple[Tensor, Any]:
    """``(z [T, B, *], state_cls(*finals))`` in the caller's dim order from the kernel's arrays."""
    z = z.view(f.pshape)  # [T, M] -> [T, B, *] in the kernel's order
    outs = [s.view(f.pshape[1:]) for s in finals]  # [M] -> [B, *]
    if f.perm != sorted(f.perm):  # back to the caller's dim order, keeping the input's strides
        inv = [f.perm.index(d) for d in range(len(f.perm))]
        sinv = [d - 1 for d in inv[1:]]
        z, outs = z.permute(inv), [s.permute(sinv) for s in outs]
    return z, state_cls(*outs)


def raise_at(f: Flat, where: str | None, found: tuple[Any, ...]) -> None:
    """Raise the :class:`~spikeforge.numerics.NonFiniteError` of a kernel's ``(t, m, what, value)``."""
    raise_nonfinite_at(found, tuple(f.pshape[1:]), [d - 1 for d in f.perm[1:]], where)


def diagnose(bad: ctypes.Array, x: Tensor, fields: tuple[str, ...], st0: list[Tensor],
             stT: list[Tensor]) -> _NonFiniteAt:
    """What a two-state kernel's ``bad = {t, m, code}`` refers to: code ``1 + slot`` an initial
    state, ``3 + slot`` a state that became non-finite at step ``t`` (by its input if that is)."""
    t, m, code = int(bad[0]), int(bad[1]), int(bad[2])
    if code < 3:
        return _NonFiniteAt(t, m, f"initial state {fields[code - 1]}", float(st0[code - 1][m]))
    xv = float(x[t, m])
    if not math.isfinite(xv):
        return _NonFiniteAt(t, m, "input", xv)
    return _NonFiniteAt(t, m, f"state {fields[code - 3]}", float(stT[code - 3][m]))


def declare(lib: ctypes.CDLL, prefix: str, fwd_extra: list[Any], bwd_extra: list[Any]) -> None:
    """argtypes of ``sf_<prefix>_forward_*`` / ``_backward_*`` (the two-state kernels' common ABI,
    each with model-specific trailing arguments)."""
    P, I, L, D = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_double  # noqa: E741 (C types)
    for suf in ("f32", "f64"):
        f = getattr(lib, f"sf_{prefix}_forward_{suf}")
        f.argtypes = [L, L, P, P, P, P, P, L, I, I, P, *fwd_extra]
        f.restype = I
        b = getattr(lib, f"sf_{prefix}_backward_{suf}")
        b.argtypes = [L, L, P, P, L, L, P, P, P, P, P, L, P, I, I, I, D, I, *bwd_extra]
        b.restype = I


class Config(NamedTuple):
    prefix: str  # kernel symbol prefix: sf_<prefix>_forward_f32 ...
    fields: tuple[str, ...]  # state field names (error messages)
    detach: int
    sg_kind: int
    sg_p: float
    cmask: int
    nthreads: int
    check: int
    extra: tuple[Any, ...] = ()  # model-specific trailing arguments of both kernels


class TwoStateRun(torch.autograd.Function):
    """``(x [T, M], s0 [M], s1 [M], *coefs) -> (z [T, M], s0_T, s1_T)`` through a two-state kernel;
    backward returns gradients of the input, both initial states and every coefficient."""

    @staticmethod
    def forward(ctx: Any, cfg: Config, x: Tensor, a0: Tensor, b0: Tensor, *coefs: Tensor) -> tuple[Tensor, ...]:
        lib = load_library()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        aT, bT = torch.empty_like(a0), torch.empty_like(b0)
        z = _empty_like(x)
        bad = (ctypes.c_int64 * 3)()  # {t, m, code} of the first non-finite value; code 0: none
        rc = getattr(lib, f"sf_{cfg.prefix}_forward_{suf}")(T, M, x.data_ptr(), z.data_ptr(), _ptr_array([a0, b0]),
                                                       _ptr_array([aT, bT]), _ptr_array(list(coefs)), cfg.cmask,
                                                       cfg.nthreads, cfg.check, bad, *cfg.extra)
        if rc != 0:
            raise RuntimeError(f"kernel sf_{cfg.prefix}_forward_{suf} rejected the call")
        if bad[2]:
            raise diagnose(bad, x, cfg.fields, [a0, b0], [aT, bT])
        ctx.cfg = cfg
        ctx.save_for_backward(x, a0, b0, *coefs)
        # an output the loss does not use (the final state of layer(x).sum()) reaches backward as None,
        # not as a zero-filled [M] tensor: the kernel reads a null final-state gradient as zero (issue 17)
        ctx.set_materialize_grads(False)
        return z, aT, bT

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gz: Tensor | None, gaT: Tensor | None, gbT: Tensor | None) -> tuple[Any, ...]:
        cfg: Config = ctx.cfg
        x, a0, b0, *coefs = ctx.saved_tensors
        lib = load_library()
        T, M = x.shape
        suf = "f32" if x.dtype == torch.float32 else "f64"
        gz = _grad_out(gz, x, T, M)
        gT = [None if g is None else g.contiguous() for g in (gaT, gbT)]
        g0 = [torch.empty_like(s) if ctx.needs_input_grad[2 + k] else None for k, s in enumerate((a0, b0))]
        gc = [torch.empty_like(c) if need else None for c, need in zip(coefs, ctx.needs_input_grad[4:])]
        needp = int(any(g is not None for g in gc))
        gx = _empty_like(x)
        rc = getattr(lib, f"sf_{cfg.prefix}_backward_{suf}")(
            T, M, x.data_ptr(), gz.data_ptr(), gz.stride(0), gz.stride(1), gx.data_ptr(), _ptr_array([a0, b0]),
            _ptr_array(gT), _ptr_array(g0), _ptr_array(list(coefs)), cfg.cmask, _ptr_array(gc), needp,
            cfg.detach, cfg.sg_kind, cfg.sg_p, cfg.nthreads, *cfg.extra)
        if rc != 0:
            raise RuntimeError(f"kernel sf_{cfg.prefix}_backward_{suf} rejected the call")
        return (None, gx if ctx.needs_input_grad[1] else None, *g0, *gc)


_declared: set[tuple[int, str]] = set()  # (library id, kernel prefix) whose argtypes are set


def run_two_state(prefix: str, xs: Tensor, state: Any, coefs: list[Any], kwargs: dict[str, Any],
                  where: str | None, in_memory_order: bool = True, extra: tuple[Any, ...] = (),
                  extra_types: tuple[list[Any], list[Any]] = ([], [])) -> tuple[Tensor, Any]:
    """Run the two-state kernel ``sf_<prefix>_*`` over ``xs [T, B, *]``; same contract as
    ``Neuron.run``. ``extra``: trailing arguments of both kernel calls, of ctypes ``extra_types``
    (forward, backward)."""
    lib = load_library()
    if (id(lib), prefix) not in _declared:
        declare(lib, prefix, *extra_types)
        _declared.add((id(lib), prefix))
    f = flatten_call(xs, state, coefs, in_memory_order)
    # a model without a spike (no surrogate) passes kind 0, which its kernel ignores
    sg_kind, sg_p = surrogate_code(kwargs["surrogate"]) if "surrogate" in kwargs else (0, 0.0)  # type: ignore[misc]
    cfg = Config(prefix, type(state)._fields, int(bool(kwargs.get("detach_reset", False))), sg_kind, sg_p,
                 f.cmask, threads_for(f.x.numel()), int(check_finite_enabled()), extra)
    try:
        z, aT, bT = TwoStateRun.apply(cfg, f.x, *f.states, *f.coefs)
        found = None
    except _NonFiniteAt as e:
        found = e.args
    if found is not None:  # raised outside the except block: no chained kernel-internal traceback
        raise_at(f, where, found)
    return unflatten_result(f, z, [aT, bT], type(state))


class TCLIFKernel:
    """The :class:`~spikeforge.kernels.model_kernels.ModelKernel` of ``tc_lif_step``."""

    fields = ("v_d", "v")

    def supports(self, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
        return two_state_unsupported(xs, state, kwargs, self.fields)

    def run(self, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any], where: str | None) -> tuple[Tensor, Any]:
        # the coefficients exactly as tc_lif_step computes them
        s1 = torch.sigmoid(torch.as_tensor(p.beta1))
        s2 = torch.sigmoid(torch.as_tensor(p.beta2))
        return run_two_state("tc_lif", xs, state, [s1, s2, p.gamma, p.v_th], kwargs, where)


TC_LIF_KERNEL = TCLIFKernel()
