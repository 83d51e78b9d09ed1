r"""Astrocyte unit: a slow leaky integrator of population activity that sets a plasticity rate (or a threshold).

NALSM's astrocyte (Ivanov & Michmizos 2021; reference §3.2, §3.4), one Euler step of ``dt``:

.. math:: A \leftarrow A + \frac{dt}{\tau_A}\big(w_A\,x + b - A\big)

with ``x`` the population activity it senses — in NALSM the liquid's spike count minus the input's spike
count in this step — ``w_A`` its weight and ``b`` its bias (the rest value: ``A → b`` when ``x = 0``).
NALSM uses ``A`` as the STDP depression rate (:mod:`~.nalsm`); the unit knows nothing of that and can
modulate anything (thresholds, learning rates). It is a leaky integrator with a bias, like
:class:`spikeforge.neurons.LI`, kept here with its own parameters because ``τ_A`` is in plasticity time.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["Astrocyte", "AstrocyteParams", "AstrocyteState", "astrocyte_step"]


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
