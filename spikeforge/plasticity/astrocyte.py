r"""Astrocyte unit: a slow leaky integrator of population activity that sets a plasticity rate (or a threshold).

NALSM's astrocyte (Ivanov & Michmizos 2021; reference §3.2, §3.4), one Euler step of ``dt``:

.. math:: A \leftarrow A + \frac{dt}{\tau_A}\big(w_A\,x + b - A\big)

with ``x`` the population activity it senses — in NALSM the liquid's spike count minus the input's spike
count in this step — ``w_A`` its weight and ``b`` its bias (the rest value: ``A → b`` when ``x = 0``).
NALSM uses ``A`` as the STDP depression rate (:mod:`spikeforge.reservoir.nalsm`); the unit knows nothing of
that and can modulate anything (thresholds, learning rates). It is a leaky integrator with a bias, like
:class:`spikeforge.neurons.LI`, kept here with its own parameters because ``τ_A`` is in plasticity time.

:class:`AstroSTDP` (registered as ``"astro_stdp"``) is that use as a plasticity rule for any layer: pair STDP
(:func:`~.stdp.stdp_step`) whose depression rate is the astrocyte's output, the astrocyte sensing
``Σ post − Σ pre`` spikes of each step (batch mean) — NALSM's "liquid minus input".
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ._base import PLASTICITY, Rule, zeros
from .stdp import STDPParams, STDPState, stdp_step

__all__ = ["AstroSTDP", "AstroSTDPParams", "AstroSTDPState", "Astrocyte", "AstrocyteParams", "AstrocyteState",
           "astro_stdp_step", "astrocyte_step"]


class AstrocyteParams(NamedTuple):
    tau: float = 100e-3  # integration time constant τ_A [s] (NALSM: 100 steps of 1 ms)
    w: float = 0.015  # weight w_A of the sensed activity (NALSM: 0.015 for 1000-neuron liquids)
    bias: float = 0.15  # rest value b


class AstrocyteState(NamedTuple):
    a: Tensor  # astrocyte output A, same shape as the sensed activity [B, *]


def astrocyte_step(x: Tensor, state: AstrocyteState, p: AstrocyteParams, *, dt: float = 1e-3
                   ) -> tuple[Tensor, AstrocyteState]:
    """One Euler step of the module equation; ``x [B, *]`` sensed activity, returns ``(A, state)``."""
    a = state.a + dt / p.tau * (p.w * x + p.bias - state.a)
    return a, AstrocyteState(a=a)


class Astrocyte(nn.Module):
    """Astrocyte over a sequence: ``forward(xs [T, B, *], state=None) -> (A [T, B, *], state)``.

    Starts at rest (``A = b``) unless a state is given.

    Example:
        >>> astro = Astrocyte(tau=100e-3, w=0.015, bias=0.15)
        >>> a, s = astro(torch.full((500, 1, 1), 10.0))   # constant activity 10 per step
        >>> round(float(a[-1]), 3)                        # -> b + w·x = 0.3 with time constant τ
        0.299
    """

    def __init__(self, *, tau: float = 100e-3, w: float = 0.015, bias: float = 0.15, dt: float = 1e-3) -> None:
        super().__init__()
        if not (tau > 0 and dt > 0 and dt <= tau):
            raise ValueError(f"Astrocyte: need 0 < dt <= tau (Euler), got tau={tau}, dt={dt}")
        self.params = AstrocyteParams(tau=float(tau), w=float(w), bias=float(bias))
        self.dt = float(dt)

    def init_state(self, x: Tensor) -> AstrocyteState:
        return AstrocyteState(a=torch.full_like(x, self.params.bias))

    def step(self, x: Tensor, state: AstrocyteState | None = None) -> tuple[Tensor, AstrocyteState]:
        return astrocyte_step(x, self.init_state(x) if state is None else state, self.params, dt=self.dt)

    def forward(self, xs: Tensor, state: AstrocyteState | None = None) -> tuple[Tensor, AstrocyteState]:
        if xs.ndim < 2:
            raise ValueError(f"Astrocyte: input must be [T, B, *], got shape {tuple(xs.shape)}")
        out = []
        for x in xs:
            a, state = self.step(x, state)
            out.append(a)
        return torch.stack(out), state  # type: ignore[return-value]


class AstroSTDPParams(NamedTuple):
    tau_pre: float = 10e-3  # presynaptic trace time constant [s]
    tau_post: float = 10e-3  # postsynaptic trace time constant [s]
    eta_plus: float = 0.15  # fixed potentiation rate
    a_pre: float = 0.1  # trace jump per presynaptic spike
    a_post: float = 0.1  # trace jump per postsynaptic spike
    tau_astro: float = 100e-3  # astrocyte time constant τ_A [s]
    w_astro: float = 0.015  # astrocyte weight w_A
    bias: float = 0.15  # astrocyte rest value b (= the depression rate at rest)


class AstroSTDPState(NamedTuple):
    x: Tensor  # presynaptic trace [B, N_in]
    y: Tensor  # postsynaptic trace [B, N_out]
    a: Tensor  # astrocyte output A (scalar tensor)


def astro_stdp_step(pre: Tensor, post: Tensor, state: AstroSTDPState, w: Tensor, p: AstroSTDPParams, *,
                    dt: float = 1e-3) -> tuple[Tensor, AstroSTDPState]:
    r"""Astrocyte update, then pair STDP with depression rate ``A``:

    .. math:: A' = A + \frac{dt}{\tau_A}\Big(w_A \frac{1}{B}\big(\textstyle\sum post - \sum pre\big) + b - A\Big),
        \qquad \Delta W = \eta_+\,post \otimes x' - A'\,y' \otimes pre

    (traces as in :func:`~.stdp.stdp_step`, summed over the batch). Shapes: pre ``[B, N_in]``, post
    ``[B, N_out]``, w and dw ``[N_out, N_in]``.
    """
    sensed = (post.sum() - pre.sum()) / pre.shape[0]
    a, astro = astrocyte_step(sensed.to(state.a.dtype), AstrocyteState(a=state.a),
                              AstrocyteParams(tau=p.tau_astro, w=p.w_astro, bias=p.bias), dt=dt)
    sp = STDPParams(tau_pre=p.tau_pre, tau_post=p.tau_post, eta_plus=p.eta_plus, eta_minus=float(a),
                    a_pre=p.a_pre, a_post=p.a_post)
    dw, tr = stdp_step(pre, post, STDPState(x=state.x, y=state.y), w, sp, dt=dt)
    return dw, AstroSTDPState(x=tr.x, y=tr.y, a=astro.a)


@PLASTICITY.register("astro_stdp", family="stdp")
class AstroSTDP(Rule):
    """STDP whose depression rate is set by an astrocyte sensing ``Σ post − Σ pre`` (NALSM); see
    :func:`astro_stdp_step`.

    Example:
        >>> rule = AstroSTDP(w_astro=0.015)
        >>> dw, s = rule.step(torch.ones(2, 5), torch.ones(2, 3), None, torch.rand(3, 5))
        >>> dw.shape, round(float(s.a), 4)     # 3 - 5 = -2 spikes sensed: A = 0.15 + 0.01·(0.015·(-2))
        (torch.Size([3, 5]), 0.1497)
    """

    params_cls = AstroSTDPParams
    state_cls = AstroSTDPState
    step_fn = staticmethod(astro_stdp_step)
    positive = ("tau_pre", "tau_post", "tau_astro")

    def __init__(self, *, dt: float = 1e-3, **params: Any) -> None:
        super().__init__(dt=dt, **params)
        if dt > self.params.tau_astro:
            raise ValueError(f"AstroSTDP: the astrocyte's Euler step needs dt <= tau_astro, got dt={dt:g} s > "
                             f"tau_astro={self.params.tau_astro:g} s")

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> AstroSTDPState:
        return AstroSTDPState(x=zeros(pre), y=zeros(post), a=torch.tensor(self.params.bias, dtype=w.dtype))
