r"""Fused SLTT step on the CPU kernels (``csrc/sltt.cpp``): one time step of a LIF-family layer
whose backward is SLTT's spatial-only gradient.

SLTT (Meng et al., ICCV 2023) detaches the state carried into each step, so the gradient of step
``t`` reaches only ``x_t`` (and the coefficients) through that step's spike:

.. math:: g_x = g_z \cdot SG(v_1 - \theta) \cdot c_2 \quad (\text{CubaLIF: } \cdot\, c_{i2};\ \text{LI: } g_x = g_z c_2)

The forward is lif.cpp's step, bit-identical to the step function (optionally with a
:class:`~spikeforge.quant.StateQuant` membrane, as :mod:`.quant_lif`); it also writes the factor
``dg_x/dg_z`` per neuron, the only tensor saved for backward when no neuron parameter is learnable
(``[B, *]`` per layer and step, whatever ``T`` is), so backward is one multiplication per neuron,
without the generic kernel's recomputation of the step. With learnable parameters it saves the
surrogate derivative, the input, the state before the step and the coefficients, and also returns
the per-neuron coefficient gradients (summed back to the parameters by autograd) and the gradient
of a state that has a gradient route into the step (the resting state ``v_leak`` of a learnable
``v_leak`` at ``t = 0``, as in the reference loop).

The new state is returned without a gradient route (``mark_non_differentiable``): that *is* the
cut temporal route, so this step is for SLTT/OTTT loops only (``learning.online`` uses it when the
neuron's backend resolves to the C++ kernels). :func:`run_sltt_step` returns ``None`` whenever it
cannot run a call exactly; the caller then runs the neuron's ordinary ``run``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._build import BackendUnavailableError
from ._policy import fused_available, resolve_backend
from ..numerics import check_finite_enabled, raise_nonfinite
from .cpu import (_coef_grads, _diagnose, _empty_like, _grad_out, _NonFiniteAt, _ptr_array, _unravel,
                  run_elementwise, supports, surrogate_code, threads_for)
from .model_kernels import kernel_library
from .quant_lif import quant_levels, quant_supports
from .specs import COEFS, SLOTS, reset_code, spec_for

__all__ = ["run_sltt_step", "sltt_supports"]


def sltt_supports(spec: Any, xs: Tensor, state: Any, kwargs: dict[str, Any]) -> str | None:
    """``None`` if the SLTT step kernel can run this call exactly, else the reason."""
    if xs.dim() < 2 or xs.shape[0] != 1:
        return f"the SLTT step kernel runs one step [1, B, *], got {tuple(xs.shape)}"
    if kwargs.get("state_quant") is not None:
        return quant_supports(spec, xs, state, kwargs)
    return supports(spec, xs, state, kwargs)


class _Config(NamedTuple):
    kind: int
    reset: int
    sg_kind: int
    sg_p: float
    slots: tuple[int, ...]
    coef_slots: tuple[int, ...]
    nthreads: int
    check: int
    cs: int = 1  # coefficient stride: 0 when every coefficient is one value shared by all neurons


def _lib() -> ctypes.CDLL:
    return kernel_library("sltt", "IIIDLPPPPPLPIPPLIIP", "ILPLPPPPPPPII")


class _SLTTStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, cfg: _Config, levels: Tensor | None, mids: Tensor | None, x: Tensor,
                *rest: Tensor) -> tuple[Tensor, ...]:
        n_state = len(cfg.slots)
        states, coefs = rest[:n_state], rest[n_state:]
        lib = _lib()
        M = x.shape[1]  # x: [1, M]
        suf = "f32" if x.dtype == torch.float32 else "f64"
        fold = int(not any(ctx.needs_input_grad[4:]))  # no coefficient or state gradient wanted
        if cfg.cs == 0 and not fold:
            raise RuntimeError("SLTT step: shared coefficients are only passed when no coefficient needs a gradient")
        finals = [torch.empty_like(s) for s in states]
        z = _empty_like(x)
        d = torch.empty_like(states[0])
        st0: list[Tensor | None] = [None] * len(SLOTS)
        stT: list[Tensor | None] = [None] * len(SLOTS)
        for slot, s, f in zip(cfg.slots, states, finals):
            st0[slot], stT[slot] = s, f
        dummy = x.new_zeros(M if cfg.cs else 1)
        c: list[Tensor | None] = [dummy] * len(COEFS)
        for slot, t in zip(cfg.coef_slots, coefs):
            c[slot] = t
        bad = (ctypes.c_int64 * 3)()
        rc = getattr(lib, f"sf_sltt_forward_{suf}")(
            cfg.kind, cfg.reset, cfg.sg_kind, cfg.sg_p, M, x.data_ptr(), z.data_ptr(), _ptr_array(st0),
            _ptr_array(stT), _ptr_array(c), cfg.cs, d.data_ptr(), fold, None if levels is None else levels.data_ptr(),
            None if mids is None else mids.data_ptr(), 0 if levels is None else levels.numel(), cfg.nthreads,
            cfg.check, bad)
        if rc != 0:
            raise RuntimeError(f"SLTT step kernel rejected kind={cfg.kind} reset={cfg.reset}")
        if bad[2]:
            raise _diagnose(bad, x, st0, stT)
        ctx.cfg, ctx.fold = cfg, fold
        if fold:
            ctx.save_for_backward(d)  # dgx/dgz [M]: all backward needs
        else:
            ctx.save_for_backward(d, x, *states, *coefs)
        ctx.mark_non_differentiable(*finals)  # SLTT: no gradient through the carried state
        return (z, *finals)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gz: Tensor | None, *gfinals: Tensor | None) -> tuple[Any, ...]:
        cfg: _Config = ctx.cfg
        n_state = len(cfg.slots)
        saved = ctx.saved_tensors
        d = saved[0]
        M = d.shape[0]
        lib = _lib()
        suf = "f32" if d.dtype == torch.float32 else "f64"
        gz = _grad_out(gz, d, 1, M)
        gx = torch.empty(1, M, dtype=d.dtype)
        nones: list[None] = [None] * n_state
        if ctx.fold:
            rc = getattr(lib, f"sf_sltt_backward_{suf}")(cfg.kind, M, gz.data_ptr(), gz.stride(1), d.data_ptr(),
                                                         None, None, None, gx.data_ptr(), None, None, 1, cfg.nthreads)
            if rc != 0:
                raise RuntimeError(f"SLTT step kernel rejected kind={cfg.kind}")
            return (None, None, None, gx, *nones, *[None] * len(cfg.coef_slots))
        x, states, coefs = saved[1], saved[2:2 + n_state], saved[2 + n_state:]
        st0: list[Tensor | None] = [None] * len(SLOTS)
        gst0: list[Tensor | None] = [None] * len(SLOTS)
        gstates: list[Tensor | None] = []
        for k, (slot, s) in enumerate(zip(cfg.slots, states)):
            st0[slot] = s
            if ctx.needs_input_grad[4 + k]:  # e.g. the resting state v_leak at t = 0
                gst0[slot] = torch.empty_like(s)
            gstates.append(gst0[slot])
        c: list[Tensor | None] = [x.new_zeros(M)] * len(COEFS)
        for slot, t in zip(cfg.coef_slots, coefs):
            c[slot] = t
        gc, gcoefs = _coef_grads(cfg.coef_slots, coefs, ctx.needs_input_grad[4 + n_state:])
        rc = getattr(lib, f"sf_sltt_backward_{suf}")(cfg.kind, M, gz.data_ptr(), gz.stride(1), d.data_ptr(),
                                                     x.data_ptr(), _ptr_array(st0), _ptr_array(c), gx.data_ptr(),
                                                     _ptr_array(gc), _ptr_array(gst0), 0, cfg.nthreads)
        if rc != 0:
            raise RuntimeError(f"SLTT step kernel rejected kind={cfg.kind}")
        return (None, None, None, gx if ctx.needs_input_grad[3] else None, *gstates, *gcoefs)


def run_sltt_step(backend: str, step_fn: Callable[..., Any], xs: Tensor, state: Any, p: Any,
                  kwargs: dict[str, Any], where: str | None = None) -> tuple[Tensor, Any] | None:
    """One step ``xs [1, B, *]`` of ``step_fn`` from ``state`` with the SLTT gradient, or ``None``.

    Runs when ``backend`` (after ``SPIKEFORGE_BACKEND``) is ``"cpp"`` or ``"auto"``, the tensors are
    on the CPU and the kernels cover the call (:func:`sltt_supports`); otherwise returns ``None`` and
    the caller runs the neuron's ``run`` (which raises for a named backend that cannot run it).
    Returns ``(z [1, B, *], new state)``; the new state has no gradient route.
    """
    spec = spec_for(step_fn)
    backend = resolve_backend(backend, has_kernel=spec is not None)
    if backend not in ("auto", "cpp") or xs.device.type != "cpu" or spec is None:
        return None
    if sltt_supports(spec, xs, state, kwargs) is not None:
        return None
    from . import _tracing  # the package imports this module

    if _tracing() or (backend == "auto" and not fused_available()):
        return None
    try:
        _lib()
    except BackendUnavailableError:
        return None
    q = kwargs.get("state_quant")
    found = None if q is None else quant_levels(q, xs.dtype)
    levels, mids = (None, None) if found is None else found
    coefs = spec.coefs(p, float(kwargs["dt"]), kwargs.get("integrator", "euler"))
    shared = all(torch.as_tensor(v).dim() == 0 for v in coefs.values())
    if shared and not any(torch.as_tensor(v).requires_grad for v in coefs.values()) \
            and not any(s.requires_grad for s in state):
        return _run_shared(spec, xs, state, coefs, kwargs, where, levels, mids)

    def launch(fields: dict[str, Any], x2: Tensor, states: list[Tensor], flat: list[Tensor]) -> Any:
        cfg = _Config(kind=fields["kind"], reset=fields["reset"], sg_kind=fields["sg_kind"], sg_p=fields["sg_p"],
                      slots=fields["slots"], coef_slots=fields["coef_slots"], nthreads=threads_for(x2.numel()),
                      check=fields["check"])
        return _SLTTStep.apply(cfg, levels, mids, x2, *states, *flat)

    return run_elementwise(spec, xs, state, p, kwargs, where, launch)


def _run_shared(spec: Any, xs: Tensor, state: Any, coefs: dict[str, Any], kwargs: dict[str, Any],
                where: str | None, levels: Tensor | None, mids: Tensor | None) -> tuple[Tensor, Any]:
    """The step with every coefficient one value for all neurons and none learnable: the kernel reads
    them with stride 0 (no ``[M]`` copies per step) and backward needs only the saved factor."""
    shape = xs.shape  # [1, B, *]
    x2 = xs.reshape(1, -1).contiguous()  # [1, M]: a view for a contiguous step
    states = [s.reshape(-1).contiguous() for s in state]  # [M] each
    names = [n for n in COEFS if n in coefs]
    flat = [torch.as_tensor(coefs[n], dtype=xs.dtype).reshape(1) for n in names]  # [1] each
    sg_kind, sg_p = surrogate_code(kwargs["surrogate"]) if spec.spiking else (0, 0.0)  # type: ignore[misc]
    reset = reset_code(kwargs["reset"]) if spec.spiking else 3
    assert reset is not None  # sltt_supports checked it
    cfg = _Config(kind=spec.kind, reset=int(reset), sg_kind=sg_kind, sg_p=sg_p,
                  slots=tuple(SLOTS.index(f) for f in spec.state_fields),
                  coef_slots=tuple(COEFS.index(n) for n in names), nthreads=threads_for(x2.numel()),
                  check=int(check_finite_enabled()), cs=0)
    try:
        z, *finals = _SLTTStep.apply(cfg, levels, mids, x2, *states, *flat)
        found = None
    except _NonFiniteAt as e:
        found = e.args
    if found is not None:  # raised outside the except block: no chained kernel-internal traceback
        t, m, what, value = found
        raise_nonfinite(where or "fused kernel", what, (t, *_unravel(m, tuple(shape[1:]))), value)
    return z.view(shape), type(state)(*(f.view(shape[1:]) for f in finals))
