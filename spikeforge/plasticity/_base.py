"""What every local plasticity rule shares: the registry, the rule base class, traces, weight dependence.

A rule follows the neuron pattern: a ``Params`` NamedTuple, a ``State`` NamedTuple of traces, one pure
``<name>_step(pre, post, state, w, p, *, dt, ...) -> (dw, state)`` and a thin object (:class:`Rule`)
that holds the parameters and options. Shapes are those of a dense layer:

    pre  [B, N_in]   presynaptic spikes (or rates) of this step
    post [B, N_out]  postsynaptic spikes (or rates) of this step
    w    [N_out, N_in]
    dw   [N_out, N_in]  summed over the batch (``reduce="sum"``) or averaged (``"mean"``)

Convolutions and sparse connections are mapped onto these shapes by :mod:`.attach`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

from .._registry import Registry
from ..numerics import check_finite_enabled, first_nonfinite, raise_nonfinite

__all__ = ["PLASTICITY", "TRACE_INTEGRATORS", "WEIGHT_DEPENDENCE", "Rule", "check_spikes", "check_shapes",
           "decay_factor", "pair_traces", "trace_update", "weight_dependence"]

PLASTICITY: Registry[type[Rule]] = Registry("plasticity rule")
"""Registry of plasticity rule classes (``PLASTICITY.create("stdp", tau_pre=20e-3)``)."""


TRACE_INTEGRATORS = ("exp", "euler")


def decay_factor(tau: float | Tensor, dt: float, integrator: str = "exp") -> Tensor | float:
    r"""Per-step decay of a trace with time constant ``tau``.

    ``"exp"``: :math:`e^{-dt/\tau}` (exact); ``"euler"``: :math:`1 - dt/\tau` (requires ``dt <= tau``).
    """
    if integrator == "exp":
        return torch.exp(-dt / tau) if isinstance(tau, Tensor) else math.exp(-dt / tau)
    if integrator == "euler":
        return 1 - dt / tau
    raise ValueError(f"trace integrator must be 'exp' or 'euler', got {integrator!r}")


def trace_update(x: Tensor, s: Tensor, decay: Tensor | float, a: Tensor | float = 1.0,
                 nearest: bool = False) -> Tensor:
    r"""Decay a trace and add this step's spikes.

    All-to-all: :math:`x' = d\,x + a\,s`. Nearest-spike: :math:`x' = a` where :math:`s = 1`, else
    :math:`d\,x` (each spike pairs only with its nearest partner).
    """
    if nearest:
        return torch.where(s > 0, torch.as_tensor(a, dtype=x.dtype, device=x.device) * s, decay * x)
    return decay * x + a * s


def pair_traces(pre: Tensor, post: Tensor, x: Tensor, y: Tensor, tau_pre: float, tau_post: float, dt: float, *,
                a_pre: float = 1.0, a_post: float = 1.0, integrator: str = "exp",
                nearest: bool = False) -> tuple[Tensor, Tensor]:
    """This step's presynaptic and postsynaptic traces ``(x', y')`` (decayed, then this step's spikes added)."""
    return (trace_update(x, pre, decay_factor(tau_pre, dt, integrator), a_pre, nearest),
            trace_update(y, post, decay_factor(tau_post, dt, integrator), a_post, nearest))


# --- weight dependence A+(w), A-(w) (Gütig et al. 2003 family) -----------------------------------
WEIGHT_DEPENDENCE: Registry[Callable[..., tuple[Any, Any]]] = Registry("weight dependence")


@WEIGHT_DEPENDENCE.register("additive")
def _additive(w: Tensor, w_min: float, w_max: float, mu: float) -> tuple[Any, Any]:
    """A+ = A- = 1 (bimodal weights; use with hard bounds)."""
    return 1.0, 1.0


@WEIGHT_DEPENDENCE.register("additive_step")
def _additive_step(w: Tensor, w_min: float, w_max: float, mu: float) -> tuple[Any, Any]:
    """A+ = H(w_max - w), A- = H(w - w_min): additive, but no change past a bound."""
    return (w < w_max).to(w.dtype), (w > w_min).to(w.dtype)


@WEIGHT_DEPENDENCE.register("soft")
def _soft(w: Tensor, w_min: float, w_max: float, mu: float) -> tuple[Any, Any]:
    """Linear soft bounds: A+ = relu(w_max - w), A- = relu(w - w_min) (multiplicative)."""
    return torch.relu(w_max - w), torch.relu(w - w_min)


@WEIGHT_DEPENDENCE.register("power")
def _power(w: Tensor, w_min: float, w_max: float, mu: float) -> tuple[Any, Any]:
    """Power law: A+ = (w_max - w)^mu, A- = (w - w_min)^mu (clamped at 0 before the power)."""
    return torch.relu(w_max - w) ** mu, torch.relu(w - w_min) ** mu


@WEIGHT_DEPENDENCE.register("proportional")
def _proportional(w: Tensor, w_min: float, w_max: float, mu: float) -> tuple[Any, Any]:
    """A+ = A- = w (SpikingJelly's default ``f_pre = f_post = identity``)."""
    return w, w


def weight_dependence(spec: str | Callable[..., tuple[Any, Any]]) -> Callable[..., tuple[Any, Any]]:
    """Resolve a weight dependence by name or accept ``fn(w, w_min, w_max, mu) -> (A+, A-)``."""
    if isinstance(spec, str):
        return WEIGHT_DEPENDENCE.get(spec)
    if callable(spec):
        return spec
    raise TypeError(f"weight dependence must be a name or a function, got {type(spec).__name__}")


# --- validation ------------------------------------------------------------------------------------
def check_shapes(name: str, pre: Tensor, post: Tensor, w: Tensor) -> None:
    """Refuse mismatched ``pre [B, N_in]``, ``post [B, N_out]``, ``w [N_out, N_in]`` with a clear error."""
    for what, t in (("pre", pre), ("post", post), ("w", w)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {what} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 2:
            raise ValueError(f"{name}: {what} must be 2-D, got shape {tuple(t.shape)}")
    if pre.shape[0] != post.shape[0]:
        raise ValueError(f"{name}: pre batch {pre.shape[0]} != post batch {post.shape[0]}")
    if w.shape != (post.shape[1], pre.shape[1]):
        raise ValueError(
            f"{name}: weight of shape {tuple(w.shape)} does not connect pre {tuple(pre.shape)} to "
            f"post {tuple(post.shape)}; expected [N_out, N_in] = [{post.shape[1]}, {pre.shape[1]}]"
        )


def check_spikes(name: str, what: str, s: Tensor) -> None:
    """Refuse non-binary spikes for rules whose math assumes spikes in {0, 1}."""
    if not bool(((s == 0) | (s == 1)).all()):
        bad = s[(s != 0) & (s != 1)].flatten()[:3].tolist()
        raise ValueError(f"{name}: {what} must be binary spikes (0 or 1), got values such as {bad}")


class Rule:
    """A plasticity rule: parameters and options around a pure step function.

    Subclasses set ``params_cls``, ``state_cls`` and ``step_fn`` and define :meth:`init_state`.
    ``positive`` names parameters that must be > 0 (time constants).

    Args:
        dt: Time step in seconds.
        **params: Values for the fields of ``params_cls``.
    """

    params_cls: ClassVar[type[Any]]
    state_cls: ClassVar[type[Any]]
    step_fn: ClassVar[Callable[..., tuple[Tensor, Any]]]
    positive: ClassVar[tuple[str, ...]] = ()
    needs_spikes: ClassVar[bool] = True  # rule math assumes binary pre/post
    uses_modulator: ClassVar[bool] = False  # three-factor rules take a reward/modulator per step

    def __init__(self, *, dt: float = 1e-3, **params: Any) -> None:
        dt = float(dt)
        if not (dt > 0 and math.isfinite(dt)):
            raise ValueError(f"{type(self).__name__}: dt must be a positive number of seconds, got {dt!r}")
        self.dt = dt
        fields = self.params_cls._fields
        unknown = sorted(set(params) - set(fields))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown parameter(s) {unknown}; valid: {list(fields)}")
        self.params = self.params_cls(**params)
        for name in fields:
            value = getattr(self.params, name)
            if isinstance(value, (int, float)) and not math.isfinite(float(value)):
                raise ValueError(f"{type(self).__name__}: {name} must be finite, got {value!r}")
        for name in self.positive:
            if not float(getattr(self.params, name)) > 0:
                raise ValueError(f"{type(self).__name__}: {name} must be > 0, got {getattr(self.params, name)!r}")

    def step_kwargs(self) -> dict[str, Any]:
        """Keyword arguments passed to ``step_fn`` besides ``(pre, post, state, w, params)``."""
        return {"dt": self.dt}

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> Any:
        """Empty traces for one step's ``pre [B, N_in]`` and ``post [B, N_out]``."""
        raise NotImplementedError

    def step(self, pre: Tensor, post: Tensor, state: Any, w: Tensor, modulator: Any = None) -> tuple[Tensor, Any]:
        """One step: ``(dw [N_out, N_in], new state)``; ``state=None`` starts from empty traces."""
        name = type(self).__name__
        check_shapes(name, pre, post, w)
        if self.needs_spikes:
            check_spikes(name, "pre", pre)
            check_spikes(name, "post", post)
        if state is None:
            state = self.init_state(pre, post, w)
        kwargs = self.step_kwargs()
        if self.uses_modulator:
            if modulator is None:
                raise ValueError(f"{name} is a three-factor rule: pass modulator= (reward) at every step")
            kwargs["modulator"] = modulator
        elif modulator is not None:
            raise ValueError(f"{name} takes no modulator")
        dw, new_state = type(self).step_fn(pre, post, state, w, self.params, **kwargs)
        if check_finite_enabled() and first_nonfinite(dw) is not None:
            _raise_nonfinite_update(name, dw, pre=pre, post=post, w=w, modulator=kwargs.get("modulator"), state=state)
        return dw, new_state

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in zip(self.params._fields, self.params))
        return f"{type(self).__name__}({fields}, dt={self.dt:g})"


def _raise_nonfinite_update(name: str, dw: Tensor, **inputs: Any) -> None:
    """A step produced a non-finite ``dw``: name the first non-finite input (``pre``, ``post``, ``w``,
    the modulator, a trace of the state), else the update itself (an overflow of the rule's math)."""
    state = inputs.pop("state")
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        inputs.update({f"state {f}": v for f, v in zip(state._fields, state)})
    for what, t in inputs.items():
        t = torch.as_tensor(t) if isinstance(t, (int, float)) else t
        if isinstance(t, Tensor) and (idx := first_nonfinite(t)) is not None:
            raise_nonfinite(name, what, idx, float(t.detach()[idx]), time_major=False)
    idx = first_nonfinite(dw)
    assert idx is not None
    raise_nonfinite(name, "weight update dw (every input finite: the rule's parameters overflow)", idx,
                    float(dw.detach()[idx]), time_major=False)


def zeros(like: Tensor) -> Tensor:
    """An empty trace: zeros of ``like``'s shape, dtype and device."""
    return torch.zeros_like(like)
