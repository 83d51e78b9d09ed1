"""What a fused kernel needs to know about each neuron model: its coefficients.

A spec turns a neuron's ``Params`` (already in the input's dtype) into the coefficients of the
kernel's charge equation (see ``kernels/csrc/lif.cpp``). The coefficient expressions are the
*same torch expressions* the reference step function evaluates at every step, so they round
identically and the fused forward pass is bit-identical to the reference. Because they are
ordinary differentiable torch expressions, the gradient of a learnable parameter (``tau_mem``,
PLIF's ``w``, ``v_th`` …) flows from the kernel's per-coefficient gradients through autograd.

The step function's ``integrator`` keyword (``"euler"``, ``"exp"``, ``"decay"``; see
``spikeforge/neurons/_dynamics.py``) only changes the coefficients, so every integrator runs on
the same kernels; :func:`_fractions` and :func:`_membrane` mirror ``_dynamics`` expression for
expression.

Specs are keyed by the step function's qualified name: ``kernels`` sits below ``neurons`` in the
dependency order and never imports it. The parity tests in ``tests/kernels`` keep each spec
honest against its step function.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["KernelSpec", "SPECS", "RESET_CODES", "spec_for", "reset_code"]

# Kind codes of the C++ kernel.
LIF, CUBA, ALIF, LI = 0, 1, 2, 3
# Coefficient slots of the C++ kernel, in order.
COEFS = ("c1", "c2", "c3", "vth", "vr", "ci1", "ci2", "adapt", "ca")
# State slots of the C++ kernel.
SLOTS = ("i", "v", "a")


class KernelSpec(NamedTuple):
    kind: int  # kernel kind code
    state_fields: tuple[str, ...]  # the State NamedTuple's fields, each one of SLOTS
    coefs: Callable[[Any, float, str], dict[str, Tensor]]  # (params, dt, integrator) -> {coef name: tensor}
    spiking: bool = True


def _fractions(tau: Any, dt: float, integrator: str) -> tuple[Any, Any]:
    """``(decay, a)`` per step, as ``_dynamics.step_fractions``."""
    if integrator == "euler":
        a = dt / tau
        return 1 - a, a
    if integrator == "exp":
        q = dt / tau
        return torch.exp(-q), -torch.expm1(-q)
    raise ValueError(f"no kernel coefficients for integrator {integrator!r}")


def _membrane(p: Any, dt: float, integrator: str) -> dict[str, Tensor]:
    """``c1, c2, c3`` of ``v1 = (c1 v + c2 drive) + c3``, as ``_dynamics.membrane_coefficients``."""
    if integrator == "decay":
        return {"c1": p.beta, "c2": p.gain, "c3": (1 - p.beta) * p.v_leak}
    decay, a = _fractions(p.tau_mem, dt, integrator)
    return {"c1": decay, "c2": a * p.r, "c3": a * p.v_leak}


def _lif(p: Any, dt: float, integrator: str = "euler") -> dict[str, Tensor]:
    return {**_membrane(p, dt, integrator), "vth": p.v_th, "vr": p.v_reset}  # as lif_step


def _cuba(p: Any, dt: float, integrator: str = "euler") -> dict[str, Tensor]:
    if integrator == "decay":  # as cuba_lif_step (_dynamics.synapse_coefficients)
        ci1, ci2 = p.alpha, p.gain_syn
    else:
        ci1, a_s = _fractions(p.tau_syn, dt, integrator)
        ci2 = a_s * p.w_in
    return {"ci1": ci1, "ci2": ci2, **_membrane(p, dt, integrator), "vth": p.v_th, "vr": p.v_reset}


def _alif(p: Any, dt: float, integrator: str = "euler") -> dict[str, Tensor]:
    return {**_membrane(p, dt, integrator), "vth": p.v_th, "vr": p.v_reset,  # as alif_step
            "adapt": p.adapt, "ca": _fractions(p.tau_adapt, dt, integrator)[0]}


def _if(p: Any, dt: float, integrator: str = "euler") -> dict[str, Any]:
    # as if_step: v' = v + (dt r) x is the LIF kind with c1 = 1, c3 = 0 (1 * v + c2 x + 0 rounds to
    # exactly v + c2 x: the kernel is built without FMA contraction)
    return {"c1": 1.0, "c2": dt * p.r, "c3": 0.0, "vth": p.v_th, "vr": p.v_reset}


def _li(p: Any, dt: float, integrator: str = "euler") -> dict[str, Tensor]:
    return _membrane(p, dt, integrator)  # as li_step


def _integrator(p: Any, dt: float, integrator: str = "euler") -> dict[str, Any]:
    # as integrator_step: v' = v + (dt r) x is the LI kind with c1 = 1, c3 = 0, exact as for _if
    return {"c1": 1.0, "c2": dt * p.r, "c3": 0.0}


SPECS: dict[str, KernelSpec] = {
    "spikeforge.neurons.lif.lif_step": KernelSpec(LIF, ("v",), _lif),
    "spikeforge.neurons.cuba_lif.cuba_lif_step": KernelSpec(CUBA, ("i", "v"), _cuba),
    "spikeforge.neurons.alif.alif_step": KernelSpec(ALIF, ("v", "a"), _alif),
    "spikeforge.neurons.li.li_step": KernelSpec(LI, ("v",), _li, spiking=False),
    "spikeforge.neurons.if_.if_step": KernelSpec(LIF, ("v",), _if),
    "spikeforge.neurons.integrator.integrator_step": KernelSpec(LI, ("v",), _integrator, spiking=False),
}

RESET_CODES: dict[str, int] = {
    "spikeforge.neurons._reset.reset_subtract": 0,
    "spikeforge.neurons._reset.reset_to_value": 1,
    "spikeforge.neurons._reset.reset_zero": 2,
    "spikeforge.neurons._reset.reset_none": 3,
}


# Qualified name of each plain function looked up so far: every fused call asks for its step
# function's spec and its reset's code (a few per call), so the name is built once per function.
# Only ``FunctionType`` objects are remembered (hashed by identity, few: the library's step and reset
# functions plus any custom reset), never bound methods or callable objects.
_QUALNAMES: dict[FunctionType, str] = {}


def _qualname(fn: Any) -> str:
    fn = getattr(fn, "__func__", fn)
    name = _QUALNAMES.get(fn) if isinstance(fn, FunctionType) else None
    if name is None:
        name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
        if isinstance(fn, FunctionType) and len(_QUALNAMES) < 1024:
            _QUALNAMES[fn] = name
    return name


def spec_for(step_fn: Callable[..., Any]) -> KernelSpec | None:
    """The kernel spec of a step function, or ``None`` if no fused kernel implements it."""
    return SPECS.get(_qualname(step_fn))


def reset_code(reset: Any) -> int | None:
    """Kernel code of a reset function, or ``None`` for a custom reset."""
    return RESET_CODES.get(_qualname(reset))
