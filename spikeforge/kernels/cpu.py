"""The ``"cpp"`` backend: fused multi-step LIF-family kernels for CPU tensors.

One autograd function runs all ``T`` steps of a layer in one call. Forward writes only the
outputs and the final state; backward recomputes the trajectory block by block (see
``kernels/csrc/lif.cpp``) so the only tensors kept for backward are the inputs themselves.
"""

from __future__ import annotations

import ctypes
import functools
import math
import os
import struct
import time
from collections.abc import Callable
from typing import Any, NamedTuple, NoReturn

import torch
from torch import Tensor

from ..numerics import check_finite_enabled, raise_nonfinite
from ..surrogate import (PDSG, ATan, Erf, FastSigmoid, PiecewiseQuadratic, QPseudoSpike, Rectangle, Sigmoid,
                         StraightThrough, Surrogate, Triangle)
from ._build import BackendUnavailableError, load_library
from ._cache import CACHE
from .specs import COEFS, SLOTS, KernelSpec, reset_code

__all__ = ["surrogate_code", "supports", "run_cpp", "threads_for", "memory_order"]

# Surrogate type -> (kernel code, name of its scale parameter or None).
_SURROGATE_CODES: dict[type, tuple[int, str | None]] = {
    StraightThrough: (0, None), Sigmoid: (1, "alpha"), ATan: (2, "alpha"), FastSigmoid: (3, "slope"),
    Triangle: (4, "width"), Rectangle: (5, "width"), Erf: (6, "sigma"), PiecewiseQuadratic: (7, "alpha"),
    PDSG: (8, "sigma"), QPseudoSpike: (9, "q"),
}


def surrogate_code(sg: Surrogate) -> tuple[int, float] | None:
    """``(code, scale)`` of a built-in surrogate (exact type), or ``None`` (e.g. ``Custom``)."""
    entry = _SURROGATE_CODES.get(type(sg))
    if entry is None:
        return None
    code, attr = entry
    return code, float(getattr(sg, attr)) if attr else 0.0


def supports(spec: KernelSpec | None, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
    """``None`` if the ``cpp`` backend can run this call exactly, else the reason it cannot."""
    if spec is None:
        return "no fused kernel for this neuron model"
    if xs.device.type != "cpu":
        return f"the 'cpp' backend runs on CPU tensors, got device {xs.device}"
    return call_unsupported(spec, xs, state, kwargs, "cpp")


def call_unsupported(spec: KernelSpec, xs: Tensor, state: Any, kwargs: dict[str, Any], backend: str) -> str | None:
    """What no fused backend (``cpp``, ``triton``) can run exactly — dtype, state quantization, a
    custom reset or surrogate, an unexpected state — as the reason, or ``None``. Device checks are
    each backend's own."""
    if xs.dtype not in (torch.float32, torch.float64):
        return f"the '{backend}' backend supports float32/float64, got {xs.dtype}"
    if kwargs.get("state_quant") is not None:
        return "state quantization (state_quant) has no fused kernel"
    if spec.spiking:
        if reset_code(kwargs.get("reset")) is None:
            return "custom reset functions have no fused kernel"
        if surrogate_code(kwargs["surrogate"]) is None:
            return f"surrogate {type(kwargs.get('surrogate')).__name__} has no fused kernel"
    return state_reason(xs, state, spec.state_fields)


def state_reason(xs: Tensor, state: Any, fields: tuple[str, ...]) -> str | None:
    """Why ``state`` cannot go to a kernel with input ``xs [T, B, *]`` — not a state with ``fields``, or a
    slot that is not a tensor of one input step's shape, dtype and device — or ``None`` if it can."""
    got = getattr(state, "_fields", None)
    if got != tuple(fields):
        return f"unexpected state {type(state).__name__}{got}, expected fields {tuple(fields)}"
    for name, s in zip(fields, state, strict=True):
        if not isinstance(s, Tensor) or s.shape != xs.shape[1:]:
            return f"state {name!r} must be a tensor of one input step's shape {tuple(xs.shape[1:])}"
        if s.dtype != xs.dtype or s.device != xs.device:
            return (f"state {name!r} dtype/device ({s.dtype}, {s.device}) differs from the input's "
                    f"({xs.dtype}, {xs.device})")
    return None


class _Config(NamedTuple):
    kind: int
    reset: int
    detach: int
    sg_kind: int
    sg_p: float
    slots: tuple[int, ...]  # kernel slot of each state field
    coef_slots: tuple[int, ...]  # kernel slot of each coefficient passed in
    nthreads: int
    check: int  # 1: the forward kernel reports the first non-finite input or state


class _NonFiniteAt(Exception):
    """Raised by the forward kernel's wrapper: ``(t, m, what, value)`` of the first non-finite
    input or state, ``m`` a column of the kernel's ``[T, M]`` view; :func:`run_cpp` turns it into
    a :class:`~spikeforge.numerics.NonFiniteError` with the caller's index."""


def _diagnose(bad: ctypes.Array, x: Tensor, st0: list[Tensor | None], stT: list[Tensor | None]) -> _NonFiniteAt:
    """What the kernel's ``bad = {t, m, code}`` refers to (codes in ``csrc/lif.cpp``)."""
    t, m, code = int(bad[0]), int(bad[1]), int(bad[2])
    if code < 4:  # the initial state
        slot = code - 1
        s0 = st0[slot]
        assert s0 is not None
        return _NonFiniteAt(t, m, f"initial state {SLOTS[slot]}", float(s0[m if s0.numel() > 1 else 0]))
    xv = float(x[t, m])
    if not math.isfinite(xv):  # the input made the state non-finite
        return _NonFiniteAt(t, m, "input", xv)
    slot = code - 4
    return _NonFiniteAt(t, m, f"state {SLOTS[slot]}", float(stT[slot][m]))  # type: ignore[index]


def _empty(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype) -> Tensor:
    """``torch.empty`` (CPU, contiguous) for kernel outputs: large ones come from the output cache
    (:mod:`._cache`: reused storages, transparent huge pages) so they are not faulted in anew."""
    return CACHE.empty(shape, dtype)


def _empty_like(x: Tensor) -> Tensor:
    return _empty(x.shape, x.dtype)


PARALLEL_GRAIN = 1 << 20  # elements below which a kernel runs on one thread (measured: [100, 64, 256]
# LIF layers and the [100, 32, 512] case are ~1.5x faster on 2 threads than on 1 on the 2-core VM)
CONTENDED_FACTOR = 8  # on a contended machine the grain is this many times larger (see threads_for)
CONTENDED_LOAD = 1.5  # contended: 1-minute load average above this many runnable tasks per core


class _Load:
    """The 1-minute load average per core, read at most once a second (``os.getloadavg``)."""

    def __init__(self) -> None:
        self.at, self.value = -math.inf, 0.0

    def per_core(self) -> float:
        now = time.monotonic()
        if now - self.at > 1.0:
            try:
                self.value = os.getloadavg()[0] / (os.cpu_count() or 1)
            except OSError:  # no load average on this platform: never contended
                self.value = 0.0
            self.at = now
        return self.value


_LOAD = _Load()


def threads_for(work: int) -> int:
    """Threads for a kernel over ``work`` elements: one below the grain, else torch's thread count.

    Entering a parallel region costs little on an idle machine, but on a shared one every region
    waits until all its threads are scheduled (up to a scheduler time slice); small kernels are
    faster on one thread. The grain is :data:`PARALLEL_GRAIN`, times :data:`CONTENDED_FACTOR` while
    the load average exceeds :data:`CONTENDED_LOAD` per core. Measured at load 9-11 on the 2-core VM
    (LIF forward+backward, one process, kernel threads alternated per step): [100, 32, 512] took
    31 ms (median wall) on one kernel thread and 112 ms on two; [100, 128, 2048] and [8, 64, 16384]
    (both above the contended grain) 1.13x / 1.03x slower on one. The LIF kernels' results do not
    depend on the thread count (each neuron is computed by one thread, in the same order).
    """
    grain = PARALLEL_GRAIN
    if work >= grain and _LOAD.per_core() > CONTENDED_LOAD:
        grain *= CONTENDED_FACTOR
    return 1 if work < grain else torch.get_num_threads()


_PTRS3 = ctypes.c_void_p * 3  # state slots (SLOTS)
STATE_MASK_SHIFT = 16  # bit 16 + slot of the kernels' cmask: that initial state is one value (csrc/lif.cpp, SMASK)
_PTRS_C = ctypes.c_void_p * len(COEFS)  # coefficient slots (COEFS)
_BAD = ctypes.c_int64 * 3  # the forward kernel's {t, m, code} report of a non-finite value


def _ptr_array(tensors: list[Tensor | None]) -> ctypes.Array:
    n = len(tensors)
    cls = _PTRS3 if n == 3 else _PTRS_C if n == len(COEFS) else ctypes.c_void_p * n
    return cls(*[None if t is None else t.data_ptr() for t in tensors])


# One read-only 1-element zero per dtype stands in for every coefficient slot a model does not use
# (the kernels only read coefficients), instead of a fresh allocation in every forward and backward.
_ZEROS: dict[torch.dtype, Tensor] = {}
# Per dtype, the bytes of a coefficient table whose every slot points at that zero: a forward copies it
# (``from_buffer_copy``) and writes only the slots its model uses (issue 17: one ctypes call instead of
# a list, a comprehension and a conversion per slot).
_ZERO_TABLES: dict[torch.dtype, bytes] = {}
_ALL_COEFS_ONE = (1 << len(COEFS)) - 1  # cmask with every coefficient slot one value
# Pointer tables with every slot null, for the gradients a backward does not want: the kernels only read
# these tables (``const`` pointer arrays in csrc/lif.cpp), so one shared instance serves every call.
_NULL3 = _PTRS3()
_NULL_C = _PTRS_C()


def _zero(dtype: torch.dtype) -> Tensor:
    zero = _ZEROS.get(dtype)
    if zero is None:
        zero = _ZEROS[dtype] = torch.zeros(1, dtype=dtype)  # [1], CPU: the cpp kernels' tensors
    return zero


def _coef_table(coef_slots: tuple[int, ...], coefs: Any, dtype: torch.dtype) -> tuple[ctypes.Array, int]:
    """The kernel's coefficient pointer table and its broadcast mask: bit ``k`` is set when slot ``k``
    holds one value for every neuron (a 1-element tensor, or a slot the model does not use, pointing
    at a 1-element zero), which the kernel broadcasts itself instead of reading an ``[M]`` array.
    The caller keeps ``coefs`` alive while the table is in use."""
    template = _ZERO_TABLES.get(dtype)
    if template is None:
        template = _ZERO_TABLES[dtype] = bytes(_PTRS_C(*[_zero(dtype).data_ptr()] * len(COEFS)))
    table = _PTRS_C.from_buffer_copy(template)
    cmask = _ALL_COEFS_ONE
    for slot, t in zip(coef_slots, coefs):
        table[slot] = t.data_ptr()
        if t.numel() != 1:
            cmask &= ~(1 << slot)
    return table, cmask


def _grad_out(gz: Tensor | None, like: Tensor, rows: int, M: int) -> Tensor:
    """The spike gradient as every backward kernel reads it: ``[rows, M]`` with unit or zero stride
    along ``M`` (a broadcast zero when autograd passes ``None``)."""
    if gz is None:
        return like.new_zeros(()).expand(rows, M)
    return gz.contiguous() if gz.dim() != 2 or gz.stride(1) not in (0, 1) else gz


def _coef_grads(coef_slots: Any, coefs: Any, needs: Any) -> tuple[list[Tensor | None], list[Tensor | None]]:
    """Gradient buffers of the coefficients whose ``needs`` flag is set: per kernel slot (the
    kernel's table; ``None`` where none is wanted) and in argument order (for autograd)."""
    gc: list[Tensor | None] = [None] * len(COEFS)
    ordered: list[Tensor | None] = []
    for slot, t, need in zip(coef_slots, coefs, needs):
        if need:
            gc[slot] = torch.empty_like(t)
        ordered.append(gc[slot])
    return gc, ordered


class _FusedRun(torch.autograd.Function):
    """``x [T, *]`` contiguous (``[T, M]`` or the caller's ``[T, B, *]`` in memory order), states
    and coefficients ``[M]`` (or 1-element coefficients) -> ``(z [T, *], *finals [*])``. Taking and
    returning the caller's shape, rather than ``[T, M]`` views of it, keeps two view nodes (and
    their reshapes in backward) out of every step's autograd graph."""

    @staticmethod
    def forward(ctx: Any, cfg: _Config, x: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        n_state = len(cfg.slots)
        states, coefs = rest[:n_state], rest[n_state:]
        lib = load_library()
        T = x.shape[0]
        M = x.numel() // T if T else 0
        # Small long-lived outputs first, the large one last: a large block freed at the top of the
        # heap is reused, whereas one freed below a surviving small block fragments it.
        finals = [torch.empty(x.shape[1:], dtype=s.dtype) for s in states]  # [*], the layout of [M]
        z = _empty_like(x)
        ctable, cmask = _coef_table(cfg.coef_slots, coefs, x.dtype)
        st0, stT = _PTRS3(), _PTRS3()  # state slots (SLOTS); the tensors stay referenced until backward
        for slot, s, f in zip(cfg.slots, states, finals):
            st0[slot], stT[slot] = s.data_ptr(), f.data_ptr()
            if s.numel() == 1:  # one initial value for every neuron (a resting state): read once
                cmask |= 1 << (STATE_MASK_SHIFT + slot)
        bad = _BAD()  # {t, m, code} of the first non-finite value; code 0: none
        fwd = lib.sf_forward_f32 if x.dtype == torch.float32 else lib.sf_forward_f64
        rc = fwd(cfg.kind, cfg.reset, T, M, x.data_ptr(), z.data_ptr(), st0, stT, ctable, cfg.nthreads, cfg.check,
                 bad, cmask)
        if rc != 0:
            raise RuntimeError(f"fused kernel rejected kind={cfg.kind} reset={cfg.reset}")
        if bad[2]:
            raise _diagnose(bad, x.view(T, M), *_by_slot(cfg.slots, states, [f.view(M) for f in finals]))
        ctx.cfg = cfg
        # backward reuses the coefficient table and the initial-state table: their tensors are saved below
        ctx.ctable, ctx.cmask, ctx.st0 = ctable, cmask, st0
        # An output nobody used (the final state, usually) gets None in backward, not a zero-filled
        # [*] tensor the kernel would then read: the kernel treats a null slot as a -0.0 gradient
        # (the identity of a sum: the reference adds no term), so 2 x 4 MB less traffic per
        # [8, 64, 16384] step (issue 17).
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x, *states, *coefs)
        return (z, *finals)

    @staticmethod
    def backward(ctx: Any, gz: Tensor | None, *gfinals: Tensor | None) -> tuple[Any, ...]:
        # The engine runs a backward with grad mode off unless create_graph=True: only then is torch's
        # once_differentiable guard (a no_grad block, then outputs that refuse a second backward)
        # needed; skipping it otherwise saves its context manager on every step (issue 17).
        if torch.is_grad_enabled():
            return _fused_backward_once(ctx, gz, *gfinals)
        return _fused_backward(ctx, gz, *gfinals)


def _by_slot(slots: tuple[int, ...], *groups: Any) -> list[list[Tensor | None]]:
    """Each group of per-state tensors laid out by kernel slot (``SLOTS``; ``None`` where unused)."""
    out: list[list[Tensor | None]] = []
    for group in groups:
        row: list[Tensor | None] = [None] * len(SLOTS)
        for slot, t in zip(slots, group):
            row[slot] = t
        out.append(row)
    return out


def _fused_backward(ctx: Any, gz: Tensor | None, *gfinals: Tensor | None) -> tuple[Any, ...]:
    """:meth:`_FusedRun.backward` proper (grad mode off)."""
    cfg: _Config = ctx.cfg
    x, *rest = ctx.saved_tensors  # unpacking checks that no saved tensor was modified in place
    n_state = len(cfg.slots)
    states, coefs = rest[:n_state], rest[n_state:]
    needs = ctx.needs_input_grad
    lib = load_library()
    T = x.shape[0]
    M = x.numel() // T if T else 0
    # [T, *] -> [T, M]: a view for any gradient whose neuron dims merge (a broadcast zero-stride
    # gz from loss = z.sum() stays a broadcast); only an irregular layout is copied. Spikes the loss
    # does not reach (None) are a broadcast -0.0, the identity of a sum: the reference adds no term
    # for them, and +0.0 would turn a -0.0 gradient into +0.0 (tests/kernels/test_absent_gradients.py)
    gz = _grad_out(gz.reshape(T, M), x, T, M) if gz is not None else x.new_full((), -0.0).expand(T, M)
    gstT, gst0 = _NULL3, _NULL3  # null slots: no gradient flows in / none is wanted (the kernel skips them)
    keep: list[Tensor] = []  # contiguous copies of final-state gradients, alive during the kernel call
    gstates: list[Tensor | None] = []
    for k, (slot, s, g) in enumerate(zip(cfg.slots, states, gfinals)):
        if g is not None:
            g = g.contiguous()
            keep.append(g)
            if gstT is _NULL3:
                gstT = _PTRS3()
            gstT[slot] = g.data_ptr()
        # the kernel skips a null slot: no [M] buffer for an initial state without gradient
        g0 = torch.empty_like(s) if needs[2 + k] else None
        if g0 is not None:
            if gst0 is _NULL3:
                gst0 = _PTRS3()
            gst0[slot] = g0.data_ptr()
        gstates.append(g0)
    gc, gcoefs = _coef_grads(cfg.coef_slots, coefs, needs[2 + n_state:])
    needp = int(any(g is not None for g in gcoefs))
    gctable = _ptr_array(gc) if needp else _NULL_C
    gx = _empty_like(x)  # large and short-lived: allocated after the small ones (see forward)
    bwd = lib.sf_backward_f32 if x.dtype == torch.float32 else lib.sf_backward_f64
    rc = bwd(cfg.kind, cfg.reset, cfg.detach, cfg.sg_kind, cfg.sg_p, T, M, x.data_ptr(), gz.data_ptr(),
             gz.stride(0), gz.stride(1), gx.data_ptr(), ctx.st0, gstT, gst0, ctx.ctable, gctable, needp,
             cfg.nthreads, ctx.cmask)
    if rc != 0:
        raise RuntimeError(f"fused kernel rejected kind={cfg.kind} reset={cfg.reset}")
    return (None, gx if needs[1] else None, *gstates, *gcoefs)


_fused_backward_once = torch.autograd.function.once_differentiable(_fused_backward)


def run_cpp(spec: KernelSpec, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any],
            where: str | None = None, checked: bool = False) -> tuple[Tensor, Any]:
    """Run a whole ``[T, B, *]`` sequence through the fused kernel; same contract as ``Neuron.run``.

    While :func:`~spikeforge.numerics.check_finite_enabled`, a NaN/inf input or state raises
    :class:`~spikeforge.numerics.NonFiniteError` naming ``where`` (e.g. the module's class), the
    time step and the index in ``[B, *]``; the kernel detects it in its time loop (no extra pass).
    Otherwise NaN/inf propagate exactly as in the reference. ``checked``: the caller has just
    called :func:`supports` on these arguments and loaded the library (``backend="auto"``), so
    neither is repeated.
    """
    if not checked:
        why = supports(spec, xs, state, kwargs)
        if why is not None:
            raise BackendUnavailableError(why)
        load_library()  # build errors surface here, before autograd is involved

    def launch(fields: dict[str, Any], x2: Tensor, states: list[Tensor], flat: list[Tensor]) -> Any:
        cfg = _Config(**fields, nthreads=threads_for(x2.numel()))
        return _FusedRun.apply(cfg, x2, *states, *flat)

    return run_elementwise(spec, xs, state, p, kwargs, where, launch, scalar_coefs=True, keep_shape=True)


def run_elementwise(spec: KernelSpec, xs: Tensor, state: Any, p: Any, kwargs: dict[str, Any], where: str | None,
                    launch: Callable[[dict[str, Any], Tensor, list[Tensor], list[Tensor]], Any],
                    scalar_coefs: bool = False, keep_shape: bool = False) -> tuple[Tensor, Any]:
    """The layout work every fused backend shares: flatten ``[T, B, *]`` to ``[T, M]`` in memory
    order, broadcast the coefficients to ``[M]``, encode surrogate/reset, call
    ``launch(config fields, x2 [T, M], states [M]..., coefficients [M]...) -> (z [T, M], *finals [M])``
    (which may raise :class:`_NonFiniteAt`), and map the results and any error index back to the
    caller's dims. With ``scalar_coefs`` a coefficient that is one value for the whole layer and
    needs no gradient is passed as a 1-element tensor (the launcher broadcasts it) rather than
    materialised as ``[M]``: at short ``T`` those arrays cost as much memory traffic as the input;
    likewise a state that is one value expanded over every neuron (a resting state, strides all 0)
    and needs no gradient is passed as 1 element, not written out and read back as ``[M]``.
    With ``keep_shape`` the launcher gets the input as ``[T, B, *]`` in memory order (contiguous)
    instead of its ``[T, M]`` view and returns ``z`` in that shape and the finals as ``[B, *]``, so no
    view of the input or the output enters the autograd graph."""
    shape = xs.shape  # [T, B, *]
    T = shape[0]
    # The kernel is elementwise over neurons, so any dense layout (e.g. channels_last from a conv)
    # runs as it lies in memory: permute the neuron dims into memory order, which is a view.
    perm = memory_order(xs)  # xs.permute(perm) is contiguous, or perm is the identity
    permuted = perm != sorted(perm)
    xp = xs.permute(perm) if permuted else xs  # [T, B, *] in memory order
    pshape = xp.shape
    if keep_shape:
        x2 = xp.contiguous()  # [T, B, *] in memory order; xs itself unless xs is strided
        M = x2.numel() // T if T else 0
    else:
        x2 = xp.reshape(T, -1).contiguous()  # [T, M], M = B * prod(*); a view unless xs is strided
        M = x2.shape[1]
    sperm = [d - 1 for d in perm[1:]]  # the same permutation for one step's [B, *]
    names, coefs = _coefficients(spec, p, float(kwargs["dt"]), kwargs.get("integrator", "euler"), xs)
    # Per-neuron coefficients broadcast to every element [M]; autograd sums them back.
    flat: list[Tensor] = []
    for c in coefs:
        if scalar_coefs and c.numel() == 1 and not c.requires_grad:
            flat.append(c)  # one element ([] or [1]), broadcast by the kernel (cmask)
            continue
        c = c.expand(shape[1:])  # [B, *]
        flat.append((c.permute(sperm) if permuted else c).reshape(M).contiguous())
    if spec.spiking:
        sg_kind, sg_p = surrogate_code(kwargs["surrogate"])  # type: ignore[misc]
        reset = reset_code(kwargs["reset"])
        assert reset is not None  # the backend's supports() checked it
        detach = int(bool(kwargs.get("detach_reset", False)))
    else:
        sg_kind, sg_p, reset, detach = 0, 0.0, 3, 1
    slots, coef_slots = _slots(spec.state_fields, tuple(names))
    fields = {"kind": spec.kind, "reset": int(reset), "detach": detach, "sg_kind": sg_kind, "sg_p": sg_p,
              "slots": slots, "coef_slots": coef_slots, "check": int(check_finite_enabled())}
    states = [s.as_strided((1,), (1,)) if scalar_coefs and _one_value(s) else  # [1]: broadcast by the kernel
              (s.permute(sperm) if permuted else s).reshape(M).contiguous() for s in state]
    try:
        z, *finals = launch(fields, x2, states, flat)
        found = None
    except _NonFiniteAt as e:
        found = e.args
    if found is not None:  # raised outside the except block: no chained kernel-internal traceback
        raise_nonfinite_at(found, tuple(pshape[1:]), sperm, where)
    if not keep_shape:
        z = z.view(pshape)  # [T, M] -> [T, B, *] in memory order
        finals = [f.view(pshape[1:]) for f in finals]
    if permuted:  # back to the caller's dim order, keeping the input's strides
        inv = [perm.index(d) for d in range(len(perm))]
        sinv = [d - 1 for d in inv[1:]]
        z, finals = z.permute(inv), [f.permute(sinv) for f in finals]
    return z, type(state)(*finals)


# Coefficients by the values they are computed from, for layers whose parameters are all 0-d tensors
# that need no gradient (the usual fixed scalar decay, threshold, leak): key (coefficient function,
# dt, integrator, dtype, the parameters' bits) -> (names, per name the parameter field it is, or -1
# and the tensor computed once). The key holds everything the coefficients depend on, so nothing can
# go stale: a parameter changed in any way (in place, through ``.data``, replaced, cast) changes the
# bits read on the next call. Saves the torch ops of the coefficient expressions (``1 - beta``,
# ``dt / tau`` ...: 2-4 ops, ~15-25 us per call on the 2-core VM; issue 17). A coefficient that is a
# parameter itself is passed as that tensor, as without the memo (so autograd still saves it).
_COEF_MEMO: dict[tuple[Any, ...], tuple[list[str], tuple[tuple[int, Tensor | None], ...]]] = {}
_COEF_MEMO_MAX = 64


def _coefficients(spec: KernelSpec, p: Any, dt: float, integrator: str, xs: Tensor) -> tuple[list[str], list[Tensor]]:
    """The names (in ``COEFS`` order) and tensors (``xs``'s dtype and device) of ``spec``'s coefficients."""
    key = _value_key(p, xs)
    if key is not None:
        key = (spec.coefs, dt, integrator, *key)
        hit = _COEF_MEMO.get(key)
        if hit is not None:
            names, recipe = hit
            return names, [p[i] if i >= 0 else c for i, c in recipe]  # type: ignore[misc]
    coefs = spec.coefs(p, dt, integrator)
    names = [n for n in COEFS if n in coefs]
    tensors: list[Tensor] = []
    for n in names:
        c = coefs[n]
        if not (isinstance(c, Tensor) and c.dtype == xs.dtype and c.device == xs.device):
            c = torch.as_tensor(c, dtype=xs.dtype, device=xs.device)
        tensors.append(c)
    if key is not None:
        steps: list[tuple[int, Tensor | None]] = []
        for c in tensors:
            i = next((i for i, f in enumerate(p) if f is c), -1)
            if i < 0 and (c._base is not None or c.requires_grad):  # a view (of a parameter?): not kept
                return names, tensors
            steps.append((i, None if i >= 0 else c))
        if len(_COEF_MEMO) >= _COEF_MEMO_MAX:
            _COEF_MEMO.clear()
        _COEF_MEMO[key] = (names, tuple(steps))
    return names, tensors


def _value_key(p: Any, xs: Tensor) -> tuple[Any, ...] | None:
    """``(dtype, inference mode, bits of every parameter)`` when every field of ``p`` is a 0-d CPU tensor of ``xs``'s
    dtype that needs no gradient (and ``xs`` is on the CPU), else ``None``."""
    if not xs.is_cpu or torch._C._are_functorch_transforms_active() or torch.compiler.is_compiling():
        return None  # under a transform or a compiler: computed as before, no values read
    dtype, values = xs.dtype, []
    for t in p:
        if not isinstance(t, Tensor) or t.dim() or t.requires_grad or t.dtype != dtype or not t.is_cpu:
            return None
        values.append(t.item())
    # bits: -0.0 and 0.0 differ, a NaN matches itself; inference mode: an inference tensor cannot be
    # saved for backward outside it
    return dtype, torch.is_inference_mode_enabled(), struct.pack(f"{len(values)}d", *values)


def _one_value(s: Tensor) -> bool:
    """``s`` is one value expanded over all its elements (every stride 0) and needs no gradient."""
    return s.numel() > 1 and not s.requires_grad and not any(s.stride())  # strides are >= 0


@functools.lru_cache(maxsize=64)
def _slots(state_fields: tuple[str, ...], names: tuple[str, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Kernel slots of the state fields and of the coefficients passed in (fixed per model)."""
    return tuple(SLOTS.index(f) for f in state_fields), tuple(COEFS.index(n) for n in names)


def raise_nonfinite_at(found: tuple[Any, ...], dims: tuple[int, ...], order: Any, where: str | None) -> NoReturn:
    """Raise :class:`~spikeforge.numerics.NonFiniteError` for a kernel's ``(t, m, what, value)``: ``m``
    is a flat index of one step laid out as ``dims``, the caller's ``[B, *]`` dims taken in ``order``."""
    t, m, what, value = found
    idx = [0] * len(dims)
    for d, i in zip(order, _unravel(m, dims)):  # back to the caller's dim order
        idx[d] = i
    raise_nonfinite(where or "fused kernel", what, (t, *idx), value)


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Row-major multi-index of element ``flat`` of ``shape``."""
    idx = []
    for n in reversed(shape):
        flat, i = divmod(flat, n)
        idx.append(i)
    return tuple(reversed(idx))


def memory_order(xs: Tensor) -> list[int]:
    """Permutation ``perm`` of ``xs``'s dims with time first such that ``xs.permute(perm)`` is
    contiguous (neuron dims sorted by decreasing stride); the identity if no such order exists.

    >>> x = torch.rand(3, 2, 4, 5, 5).flatten(0, 1).contiguous(memory_format=torch.channels_last)
    >>> memory_order(x.unflatten(0, (3, 2)))  # [T, B, C, H, W] stored as [T, B, H, W, C]
    [0, 1, 3, 4, 2]
    """
    ident = list(range(xs.dim()))
    if xs.is_contiguous() or xs.dim() < 3:
        return ident
    strides = xs.stride()
    rest = sorted(range(1, xs.dim()), key=lambda d: -strides[d])  # stable: ties keep their order
    perm = [0] + rest
    return perm if xs.permute(perm).is_contiguous() else ident
