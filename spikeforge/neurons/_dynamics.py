r"""Discretisation of the neurons' linear leaks, shared so no model pastes it.

Every leaky variable of the LIF family obeys :math:`\tau \dot u = (u_{leak} - u) + g\,x`. Over one
step of ``dt`` its update is affine, :math:`u' = c_1 u + c_2 x + c_3`, and the neuron's
``integrator`` chooses the coefficients:

- ``"euler"`` (default): forward Euler, with :math:`a = dt/\tau`:
  :math:`c_1 = 1 - a,\ c_2 = a g,\ c_3 = a u_{leak}`. The decay :math:`1 - a` turns negative for
  ``dt > tau`` (oscillation, and divergence for ``dt > 2 tau``), so neurons refuse ``dt > tau``.
- ``"exp"``: exact integration with the input held over the step,
  :math:`c_1 = e^{-dt/\tau},\ a = 1 - e^{-dt/\tau},\ c_2 = a g,\ c_3 = a u_{leak}`: the closed-form
  solution at every step, stable for any :math:`\tau > 0`.
- ``"decay"``: discrete time. The module stores the per-step decay and input gain themselves
  (see :data:`DECAY_NAMES`: ``beta``/``gain`` for the membrane, ``alpha``/``gain_syn`` for the
  synaptic current), :math:`c_1 = \beta,\ c_2 = \mathrm{gain},\ c_3 = (1 - \beta) u_{leak}`, so
  ``from_decay(beta)`` computes exactly ``beta * v + x`` with no round trip through ``tau``. The
  equivalent time constants (``tau = dt / (1 - beta)``, ``r = gain / (1 - beta)``: forward Euler's
  reading of the same step) are what ``params()`` reports, e.g. for NIR export.

The coefficient expressions are mirrored in :mod:`spikeforge.kernels.specs` (same torch
expressions, so the fused kernels stay bit-identical; ``tests/kernels`` checks it).

A learnable time constant (or decay) is kept in its stable range during training by projection:
before each ``run``/``step`` a value an optimiser step moved out of range is clamped back in
place (:func:`project_learnable_`), like a constraint applied after the optimiser step.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "INTEGRATORS", "DECAY_NAMES", "EXP_TAU_FLOOR", "step_fractions", "membrane_coefficients",
    "synapse_coefficients", "leaky_integrate", "synaptic_filter", "decay_to_physical", "checked_decay",
    "check_discretisation", "project_learnable_", "EulerUnstableError",
]

INTEGRATORS = ("euler", "exp", "decay")

DECAY_NAMES: dict[str, tuple[str, str, str]] = {
    "tau_mem": ("beta", "r", "gain"),  # membrane: decay beta, gain = (1 - beta) r
    "tau_syn": ("alpha", "w_in", "gain_syn"),  # synaptic current: decay alpha, gain_syn = (1 - alpha) w_in
}
"""Time constant → (its per-step decay, the physical input gain it scales, the per-step input gain)
as stored with ``integrator="decay"``."""

EXP_TAU_FLOOR = 0.1
"""Lower bound (in steps, ``tau >= EXP_TAU_FLOOR * dt``) a *learnable* time constant is projected to
with ``integrator="exp"``; its decay is then ``<= e^-10``: the variable is memoryless and ``tau``
would get no gradient to recover by."""


def step_fractions(tau: Any, dt: float, integrator: str) -> tuple[Any, Any]:
    r"""``(decay, a)`` of one step of :math:`\tau \dot u = -u + \dots`: ``u' = decay u + a (…)``."""
    if integrator == "euler":
        a = dt / tau
        return 1 - a, a
    if integrator == "exp":
        q = dt / tau
        if isinstance(q, Tensor):
            return torch.exp(-q), -torch.expm1(-q)
        return math.exp(-q), -math.expm1(-q)
    raise ValueError(f"unknown integrator {integrator!r} for a time constant; valid: 'euler', 'exp'")


def membrane_coefficients(p: Any, dt: float, integrator: str) -> tuple[Any, Any, Any]:
    """``(c1, c2, c3)`` of the membrane update ``v' = c1 v + c2 drive + c3`` of a LIF-family ``Params``."""
    if integrator == "decay":
        return p.beta, p.gain, (1 - p.beta) * p.v_leak
    decay, a = step_fractions(p.tau_mem, dt, integrator)
    return decay, a * p.r, a * p.v_leak


def synapse_coefficients(p: Any, dt: float, integrator: str) -> tuple[Any, Any]:
    """``(ci1, ci2)`` of the synaptic current update ``i' = ci1 i + ci2 x``."""
    if integrator == "decay":
        return p.alpha, p.gain_syn
    decay, a = step_fractions(p.tau_syn, dt, integrator)
    return decay, a * p.w_in


def leaky_integrate(v: Tensor, drive: Tensor, p: Any, dt: float, integrator: str = "euler") -> Tensor:
    r"""One step of :math:`\tau_{mem}\dot v = (v_{leak} - v) + r\,\mathrm{drive}` (see the module docstring)."""
    c1, c2, c3 = membrane_coefficients(p, dt, integrator)
    return c1 * v + c2 * drive + c3


def synaptic_filter(i: Tensor, x: Tensor, p: Any, dt: float, integrator: str = "euler") -> Tensor:
    r"""One step of :math:`\tau_{syn}\dot i = -i + w_{in} x` (see the module docstring)."""
    ci1, ci2 = synapse_coefficients(p, dt, integrator)
    return ci1 * i + ci2 * x


def decay_to_physical(stored: Any, params_cls: Any, dt: float) -> Any:
    """The ``params_cls`` (time constants) equivalent to decay-form parameters ``stored``.

    ``tau = dt / (1 - decay)`` and ``gain_phys = gain / (1 - decay)``, computed in float64 and
    rounded once to the stored dtype (forward Euler's reading of the same step; what NIR export
    writes).
    """
    out = {}
    for name in params_cls._fields:
        if name in DECAY_NAMES:
            d = getattr(stored, DECAY_NAMES[name][0])
            out[name] = (dt / (1 - d.double())).to(d.dtype)
            continue
        owner = next((k for k, (_, g, _) in DECAY_NAMES.items() if g == name), None)
        if owner is not None:
            d_name, _, g_name = DECAY_NAMES[owner]
            d, g = getattr(stored, d_name), getattr(stored, g_name)
            out[name] = (g.double() / (1 - d.double())).to(g.dtype)
            continue
        out[name] = getattr(stored, name)
    return params_cls(**out)


def checked_decay(value: float | Tensor, name: str = "beta") -> float | Tensor:
    """A ``from_decay`` argument (float or per-neuron tensor) checked to lie in [0, 1)."""
    t = torch.as_tensor(value.detach() if isinstance(value, Tensor) else float(value))
    if not bool(torch.all((t >= 0) & (t < 1))):
        raise ValueError(f"decay {name} must be in [0, 1), got {value!r}")
    return value if isinstance(value, Tensor) else float(value)


def _show(t: Tensor) -> str:
    t = t.detach()
    return f"{t.item():g}" if t.numel() == 1 else f"tensor{tuple(t.shape)}[{t.min().item():g}..{t.max().item():g}]"


def _bounds(module: Any, name: str) -> tuple[float, float]:
    """Stable range of stored parameter ``name`` (a time constant or a decay) under the module's integrator."""
    if module.integrator == "decay":
        return 0.0, 1.0
    return (module.dt if module.integrator == "euler" else EXP_TAU_FLOOR * module.dt), math.inf


class EulerUnstableError(ValueError):
    """A time constant ``name`` of module ``who`` is below ``dt`` with forward Euler (``tau`` its smallest
    value). The message advises the Python API (``integrator='exp'`` or a smaller dt); an entry point
    without that argument (a training config, ``spikeforge import --dt``) catches this and gives its own."""

    def __init__(self, who: str, name: str, tau: float, dt: float, message: str) -> None:
        super().__init__(message)
        self.who, self.name, self.tau, self.dt = who, name, tau, dt

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (worker processes send errors back)
        return type(self), (self.who, self.name, self.tau, self.dt, str(self))

    def rule(self) -> str:
        """The stability rule it broke, in words, for an entry point's own message."""
        return f"{self.who} steps by forward Euler, stable only for {self.name} >= dt"

    def shown(self) -> tuple[str, str]:
        """``tau`` and ``dt`` as text, in the fewest significant digits (at least ``:g``'s 6) that tell
        them apart (a float32 ``tau`` of 0.0005 is 0.000499999987 < dt = 0.0005)."""
        for digits in range(6, 18):
            tau, dt = f"{self.tau:.{digits}g}", f"{self.dt:.{digits}g}"
            if tau != dt:
                break
        return tau, dt


def _constrained(module: Any) -> list[str]:
    """Stored parameters whose range the integrator constrains."""
    if module.integrator == "decay":
        return [DECAY_NAMES[t][0] for t in module.time_constants if t in DECAY_NAMES]
    return [t for t in module.time_constants if t in module._stored_cls()._fields]


def check_discretisation(module: Any) -> None:
    """Raise ``ValueError`` if a time constant (or decay) of ``module`` is outside its stable range.

    Forward Euler needs ``dt <= tau`` (a decay ``1 - dt/tau >= 0``); a decay must lie in
    ``[0, 1)``; a learnable time constant of the ``"exp"`` integrator must be at least its
    projection floor (so the first run does not move it).
    """
    who, dt = type(module).__name__, module.dt
    stored = module.stored_params()
    for name in _constrained(module):
        value = torch.as_tensor(getattr(stored, name)).detach()
        if module.integrator == "decay":
            if not bool(torch.all((value >= 0) & (value < 1))):
                raise ValueError(f"{who}: decay {name} must be in [0, 1) (integrator='decay'), got {_show(value)}")
            continue
        if not bool(torch.all(value > 0)):
            continue  # the generic check reports "must be > 0"
        if module.integrator == "euler" and not bool(torch.all(value >= dt)):
            raise EulerUnstableError(
                who, name, value.min().item(), dt,
                f"{who}: forward Euler is unstable for dt > {name}: dt = {dt:g} s but {name} = {_show(value)} s "
                f"(per-step decay 1 - dt/{name} down to {_show(1 - dt / value.min())} < 0: the state oscillates, and "
                f"diverges for dt > 2 {name}); use integrator='exp' (exact for any {name} > 0) or a smaller dt "
                f"(<= {value.min().item():g} s)"
            )
        lo, _ = _bounds(module, name)
        if isinstance(getattr(module, name, None), nn.Parameter) and not bool(torch.all(value >= lo)):
            raise ValueError(f"{who}: learnable {name} must be >= {lo:g} s (dt / {1 / EXP_TAU_FLOOR:g}) with "
                             f"integrator='exp', got {_show(value)} s")


def project_learnable_(module: Any) -> None:
    """Clamp, in place, every learnable time constant (or decay) of ``module`` back into its stable range.

    Called before each ``run``/``step``: ``[dt, inf)`` for Euler, ``[EXP_TAU_FLOOR dt, inf)`` for
    ``"exp"``, ``[0, 1]`` for a decay. Costs one reduction per learnable time constant, and only
    writes (bumping the tensor's version) when a value is out of range. NaN is left alone for the
    non-finite policy (:mod:`spikeforge.numerics`) to report.
    """
    for name in _constrained(module):
        t = getattr(module, name, None)
        if not isinstance(t, nn.Parameter) or t.is_meta:  # meta tensors have no values to clamp
            continue
        lo, hi = _bounds(module, name)
        with torch.no_grad():
            if bool(torch.any((t < lo) | (t > hi))):
                t.clamp_(lo, hi)
