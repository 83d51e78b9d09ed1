"""Pair-based spike-timing-dependent plasticity with traces (all-to-all or nearest-spike)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._base import PLASTICITY, TRACE_INTEGRATORS, Rule, _additive, pair_traces, zeros
from ._base import weight_dependence as resolve_weight_dependence

__all__ = ["STDP", "STDPParams", "STDPState", "stdp_step", "pair_terms"]


class STDPParams(NamedTuple):
    tau_pre: float = 20e-3  # presynaptic trace time constant tau+ [s]
    tau_post: float = 20e-3  # postsynaptic trace time constant tau- [s]
    eta_plus: float = 1e-2  # potentiation rate
    eta_minus: float = 1e-2  # depression rate
    a_pre: float = 1.0  # presynaptic trace jump per spike
    a_post: float = 1.0  # postsynaptic trace jump per spike
    w_min: float = 0.0  # lower bound used by the weight dependence
    w_max: float = 1.0  # upper bound used by the weight dependence
    mu: float = 1.0  # exponent of the "power" weight dependence


class STDPState(NamedTuple):
    x: Tensor  # presynaptic trace [B, N_in]
    y: Tensor  # postsynaptic trace [B, N_out]


def pair_terms(pre: Tensor, post: Tensor, x: Tensor, y: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    """``(ltp, ltd)`` of one step: ``post ⊗ x`` and ``y ⊗ pre``.

    ``reduce="sum"``/``"mean"``: over the batch, ``[N_out, N_in]`` (one matmul each);
    ``"none"``: per sample, ``[B, N_out, N_in]``.
    """
    if reduce == "none":
        return torch.einsum("bo,bi->boi", post, x), torch.einsum("bo,bi->boi", y, pre)
    ltp = post.transpose(0, 1) @ x  # [O, B] @ [B, I] -> [O, I]
    ltd = y.transpose(0, 1) @ pre
    if reduce == "mean":
        return ltp / pre.shape[0], ltd / pre.shape[0]
    if reduce != "sum":
        raise ValueError(f"reduce must be 'sum', 'mean' or 'none', got {reduce!r}")
    return ltp, ltd


def stdp_step(
    pre: Tensor,
    post: Tensor,
    state: STDPState,
    w: Tensor,
    p: STDPParams,
    *,
    dt: float = 1e-3,
    weight_dependence: Callable[..., tuple[Any, Any]] = _additive,
    nearest: bool = False,
    trace_integrator: str = "exp",
    reduce: str = "sum",
) -> tuple[Tensor, STDPState]:
    r"""One step of pair STDP.

    .. math::
        x' = d_+ x + a_{pre}\,s_{pre},\qquad y' = d_- y + a_{post}\,s_{post}

        \Delta W = \eta_+ A_+(W) \odot (s_{post} \otimes x') - \eta_- A_-(W) \odot (y' \otimes s_{pre})

    with :math:`d_\pm = e^{-dt/\tau_\pm}` (``trace_integrator="exp"``) or :math:`1 - dt/\tau_\pm`
    (``"euler"``), summed (or averaged) over the batch. Traces are incremented *before* they are read, so
    a pre and a post spike in the same step give :math:`+\eta_+A_+ - \eta_-A_-` (SpikingJelly's
    convention). Single pair, exact traces, no bounds: pre at step 0 and post at step k give
    :math:`\Delta w = \eta_+ A_+ a_{pre} e^{-k\,dt/\tau_+}`.

    Shapes:
        pre ``[B, N_in]``, post ``[B, N_out]``, w and dw ``[N_out, N_in]``.

    Example:
        >>> s = STDPState(torch.zeros(1, 3), torch.zeros(1, 2))
        >>> dw, s = stdp_step(torch.ones(1, 3), torch.ones(1, 2), s, torch.zeros(2, 3), STDPParams())
    """
    x, y = pair_traces(pre, post, state.x, state.y, p.tau_pre, p.tau_post, dt, a_pre=p.a_pre, a_post=p.a_post,
                       integrator=trace_integrator, nearest=nearest)
    a_plus, a_minus = weight_dependence(w, p.w_min, p.w_max, p.mu)
    ltp, ltd = pair_terms(pre, post, x, y, reduce)
    dw = p.eta_plus * a_plus * ltp - p.eta_minus * a_minus * ltd
    return dw, STDPState(x=x, y=y)


@PLASTICITY.register("stdp", family="stdp")
class STDP(Rule):
    """Pair-based STDP; dynamics in :func:`stdp_step`.

    Args:
        dt: Time step [s].
        weight_dependence: ``"additive"``, ``"additive_step"``, ``"soft"`` (linear soft bounds),
            ``"power"`` (exponent ``mu``), ``"proportional"`` or a function ``(w, w_min, w_max, mu) -> (A+, A-)``.
        traces: ``"all_to_all"`` (traces add up) or ``"nearest"`` (set to ``a`` on a spike).
        trace_integrator: ``"exp"`` (exact) or ``"euler"``.
        reduce: ``"sum"`` or ``"mean"`` over the batch.
        **params: fields of :class:`STDPParams`.

    Example:
        >>> rule = STDP(tau_pre=20e-3, tau_post=20e-3, eta_plus=1e-2, eta_minus=1.05e-2)
        >>> dw, s = rule.step(torch.ones(4, 10), torch.zeros(4, 3), None, torch.rand(3, 10))
        >>> dw.shape
        torch.Size([3, 10])
    """

    params_cls = STDPParams
    state_cls = STDPState
    step_fn = staticmethod(stdp_step)
    positive = ("tau_pre", "tau_post")

    def __init__(self, *, dt: float = 1e-3, weight_dependence: str | Callable[..., Any] = "additive",
                 traces: str = "all_to_all", trace_integrator: str = "exp", reduce: str = "sum",
                 **params: Any) -> None:
        super().__init__(dt=dt, **params)
        self.weight_dependence = resolve_weight_dependence(weight_dependence)
        if traces not in ("all_to_all", "nearest"):
            raise ValueError(f"STDP: traces must be 'all_to_all' or 'nearest', got {traces!r}")
        self.nearest = traces == "nearest"
        if trace_integrator not in TRACE_INTEGRATORS:
            raise ValueError(f"trace integrator must be 'exp' or 'euler', got {trace_integrator!r}")
        if trace_integrator == "euler":
            for name in ("tau_pre", "tau_post"):
                if dt > getattr(self.params, name):
                    raise ValueError(f"STDP: Euler traces need dt <= {name}, got dt={dt:g} s > "
                                     f"{name}={getattr(self.params, name):g} s; use trace_integrator='exp'")
        self.trace_integrator = trace_integrator
        if reduce not in ("sum", "mean"):
            raise ValueError(f"STDP: reduce must be 'sum' or 'mean', got {reduce!r}")
        self.reduce = reduce
        if self.params.w_max < self.params.w_min:
            raise ValueError(f"STDP: w_max ({self.params.w_max}) must be >= w_min ({self.params.w_min})")

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "weight_dependence": self.weight_dependence, "nearest": self.nearest,
                "trace_integrator": self.trace_integrator, "reduce": self.reduce}

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> STDPState:
        return STDPState(x=zeros(pre), y=zeros(post))

