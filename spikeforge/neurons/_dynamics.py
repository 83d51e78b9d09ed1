"""Shared sub-steps of the neuron equations (forward Euler), so no model pastes them.

Written in decay form, ``(1 - a) v + (a r) x + a v_leak`` with ``a = dt / tau``: with
``r = tau / dt`` and a decay exact in binary, this performs the same float operations as the
discrete ``beta v + x`` of other libraries (see docs/DESIGN.md).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

__all__ = ["leaky_integrate", "synaptic_filter"]


def leaky_integrate(v: Tensor, x: Tensor, tau: Any, r: Any, v_leak: Any, dt: float) -> Tensor:
    r"""One Euler step of :math:`\tau \dot v = (v_{leak} - v) + r x`."""
    a = dt / tau
    return (1 - a) * v + (a * r) * x + a * v_leak


def synaptic_filter(i: Tensor, x: Tensor, tau_syn: Any, w_in: Any, dt: float) -> Tensor:
    r"""One Euler step of :math:`\tau_{syn} \dot i = -i + w_{in} x`."""
    a = dt / tau_syn
    return (1 - a) * i + (a * w_in) * x
