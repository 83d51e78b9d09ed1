"""What a fused kernel needs to know about each neuron model: its coefficients.

A spec turns a neuron's ``Params`` (already in the input's dtype) into the coefficients of the
kernel's charge equation (see :mod:`._cpu_source`). The coefficient expressions are the
*same torch expressions* the reference step function evaluates at every step, so they round
identically and the fused forward pass is bit-identical to the reference. Because they are
ordinary differentiable torch expressions, the gradient of a learnable parameter (``tau_mem``,
PLIF's ``w``, ``v_th`` …) flows from the kernel's per-coefficient gradients through autograd.

Specs are keyed by the step function's qualified name: ``kernels`` sits below ``neurons`` in the
dependency order and never imports it. The parity tests in ``tests/kernels`` keep each spec
honest against its step function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

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
    coefs: Callable[[Any, float], dict[str, Tensor]]  # (params, dt) -> {coef name: tensor}
    spiking: bool = True


def _lif(p: Any, dt: float) -> dict[str, Tensor]:
    a = dt / p.tau_mem  # as lif_step
    return {"c1": 1 - a, "c2": a * p.r, "c3": a * p.v_leak, "vth": p.v_th, "vr": p.v_reset}


def _cuba(p: Any, dt: float) -> dict[str, Tensor]:
    a_s = dt / p.tau_syn  # as cuba_lif_step
    a_m = dt / p.tau_mem
    return {"ci1": 1 - a_s, "ci2": a_s * p.w_in, "c1": 1 - a_m, "c2": a_m * p.r,
            "c3": a_m * p.v_leak, "vth": p.v_th, "vr": p.v_reset}


def _alif(p: Any, dt: float) -> dict[str, Tensor]:
    a_m = dt / p.tau_mem  # as alif_step
    return {"c1": 1 - a_m, "c2": a_m * p.r, "c3": a_m * p.v_leak, "vth": p.v_th, "vr": p.v_reset,
            "adapt": p.adapt, "ca": 1 - dt / p.tau_adapt}


def _li(p: Any, dt: float) -> dict[str, Tensor]:
    a = dt / p.tau_mem  # as li_step
    return {"c1": 1 - a, "c2": a * p.r, "c3": a * p.v_leak}


SPECS: dict[str, KernelSpec] = {
    "spikeforge.neurons.lif.lif_step": KernelSpec(LIF, ("v",), _lif),
    "spikeforge.neurons.cuba_lif.cuba_lif_step": KernelSpec(CUBA, ("i", "v"), _cuba),
    "spikeforge.neurons.alif.alif_step": KernelSpec(ALIF, ("v", "a"), _alif),
    "spikeforge.neurons.li.li_step": KernelSpec(LI, ("v",), _li, spiking=False),
}

RESET_CODES: dict[str, int] = {
    "spikeforge.neurons._reset.reset_subtract": 0,
    "spikeforge.neurons._reset.reset_to_value": 1,
    "spikeforge.neurons._reset.reset_zero": 2,
    "spikeforge.neurons._reset.reset_none": 3,
}


def _qualname(fn: Any) -> str:
    fn = getattr(fn, "__func__", fn)
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"


def spec_for(step_fn: Callable[..., Any]) -> KernelSpec | None:
    """The kernel spec of a step function, or ``None`` if no fused kernel implements it."""
    return SPECS.get(_qualname(step_fn))


def reset_code(reset: Any) -> int | None:
    """Kernel code of a reset function, or ``None`` for a custom reset."""
    return RESET_CODES.get(_qualname(reset))
