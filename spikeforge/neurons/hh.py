"""Hodgkin–Huxley neuron (Hodgkin & Huxley, J. Physiol. 1952), exponential Euler."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..surrogate import ATan, Surrogate
from ._base import NEURONS, Neuron

__all__ = ["HH", "HHParams", "HHState", "hh_step", "hh_rates"]


class HHParams(NamedTuple):
    # Hodgkin & Huxley (1952), squid axon at 6.3 °C, voltages relative to rest (rest = 0 mV)
    c_m: Tensor | float = 1.0  # membrane capacitance [µF/cm²]
    g_na: Tensor | float = 120.0  # maximal sodium conductance [mS/cm²]
    g_k: Tensor | float = 36.0  # maximal potassium conductance [mS/cm²]
    g_l: Tensor | float = 0.3  # leak conductance [mS/cm²]
    e_na: Tensor | float = 115.0  # sodium reversal [mV]
    e_k: Tensor | float = -12.0  # potassium reversal [mV]
    e_l: Tensor | float = 10.6  # leak reversal [mV]
    v_th: Tensor | float = 50.0  # spike detection level [mV] (an upward crossing is a spike)


class HHState(NamedTuple):
    v: Tensor  # membrane potential relative to rest [mV] [B, *]
    m: Tensor  # sodium activation [B, *]
    h: Tensor  # sodium inactivation [B, *]
    n: Tensor  # potassium activation [B, *]


def _x_over_expm1(u: Tensor) -> Tensor:
    """``u / (e^u - 1)``, continuous at ``u = 0`` (value 1) and with a finite gradient there."""
    small = u.abs() < 1e-6
    safe = torch.where(small, torch.ones_like(u), u)
    return torch.where(small, 1 - u / 2, safe / torch.expm1(safe))


def _relax(q: Tensor, a: Tensor, b: Tensor, k: float) -> Tensor:
    """Exact step of ``dq/dt = a (1 - q) - b q`` over ``k`` ms with ``a``, ``b`` held.

    ``q_inf + (q - q_inf) e^{-k(a+b)}``, ``q_inf = a / (a + b)``.
    """
    q_inf = a / (a + b)
    return q_inf + (q - q_inf) * torch.exp(-k * (a + b))


def hh_rates(v: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    r"""Opening and closing rates [1/ms] at ``v`` [mV, rest = 0] (Hodgkin & Huxley 1952, eqs. 12, 13, 20, 21, 23, 24).

    .. math::
        \alpha_m = \frac{0.1(25 - v)}{e^{(25 - v)/10} - 1},\ \beta_m = 4 e^{-v/18},\
        \alpha_h = 0.07 e^{-v/20},\ \beta_h = \frac{1}{e^{(30 - v)/10} + 1},

        \alpha_n = \frac{0.01(10 - v)}{e^{(10 - v)/10} - 1},\ \beta_n = 0.125 e^{-v/80}

    Returns ``(alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n)``.
    """
    a_m = _x_over_expm1((25 - v) / 10)
    b_m = 4 * torch.exp(-v / 18)
    a_h = 0.07 * torch.exp(-v / 20)
    b_h = torch.sigmoid((v - 30) / 10)  # 1 / (e^{(30 - v)/10} + 1)
    a_n = 0.1 * _x_over_expm1((10 - v) / 10)
    b_n = 0.125 * torch.exp(-v / 80)
    return a_m, b_m, a_h, b_h, a_n, b_n


def hh_step(
    x: Tensor,
    state: HHState,
    p: HHParams,
    *,
    dt: float = 1e-5,
    surrogate: Surrogate = ATan(alpha=0.1),
) -> tuple[Tensor, HHState]:
    r"""Advance Hodgkin–Huxley neurons by one exponential-Euler step (time in ms inside the model).

    .. math::
        C_m \dot v = x - \bar g_{Na} m^3 h (v - E_{Na}) - \bar g_K n^4 (v - E_K) - g_L (v - E_L)

        \dot q = \alpha_q(v)(1 - q) - \beta_q(v)\,q,\qquad q \in \{m, h, n\}

        z = H(v' - v_{th})\cdot[v < v_{th}] \qquad \text{(upward crossing; no reset: the channels repolarise)}

    ``x`` is a current density [µA/cm²]; ``dt`` is in seconds and converted to ms (``k = 1000 dt``).
    Discretisation: exponential Euler (Rush–Larsen), each equation solved exactly over the step
    with the other variables held at their old values. With :math:`G = \bar g_{Na} m^3 h + \bar g_K n^4 + g_L`
    and :math:`v_\infty = (x + \bar g_{Na} m^3 h E_{Na} + \bar g_K n^4 E_K + g_L E_L)/G`:

    .. math::
        v' = v_\infty + (v - v_\infty)\,e^{-k G / C_m},\qquad
        q' = q_\infty + (q - q_\infty)\,e^{-k(\alpha_q + \beta_q)},\ q_\infty = \frac{\alpha_q}{\alpha_q + \beta_q}

    (rates at the old ``v``). Unlike forward Euler it keeps the gates in [0, 1] and stays bounded
    for any ``dt`` (forward Euler diverges at ``dt = 0.1 ms``, or at 0.05 ms under a hyperpolarising
    current); accuracy still needs ``dt`` ≲ 0.1 ms. The gradient of
    ``z`` flows through ``surrogate(v' - v_th)``; the crossing mask is a constant. Rates:
    :func:`hh_rates`. The reference (``transformers.md`` §7) only names HH in STEP's list (STEP takes
    it from BrainCog); the equations are the 1952 paper's, in its convention (rest = 0 mV,
    depolarisation positive).

    Shapes:
        x, state.v, state.m, state.h, state.n, z: ``[B, *]``
    """
    k = dt * 1e3
    v, m, h, n = state
    a_m, b_m, a_h, b_h, a_n, b_n = hh_rates(v)
    g_na, g_k = p.g_na * m**3 * h, p.g_k * n**4  # open conductances at the old gates
    g = g_na + g_k + p.g_l
    v_inf = (x + g_na * p.e_na + g_k * p.e_k + p.g_l * p.e_l) / g
    v_new = v_inf + (v - v_inf) * torch.exp(-k * g / p.c_m)
    m = _relax(m, a_m, b_m, k)
    h = _relax(h, a_h, b_h, k)
    n = _relax(n, a_n, b_n, k)
    z = surrogate(v_new - p.v_th) * (v < p.v_th).to(v.dtype)
    return z, HHState(v=v_new, m=m, h=h, n=n)


@NEURONS.register("hh")
class HH(Neuron[HHParams, HHState]):
    r"""Layer of Hodgkin–Huxley neurons; dynamics in :func:`hh_step`.

    .. math:: C_m \dot v = x - \bar g_{Na} m^3 h (v - E_{Na}) - \bar g_K n^4 (v - E_K) - g_L (v - E_L)

    Starts at rest (``v = 0``, gates at their steady state :math:`q_\infty = \alpha_q/(\alpha_q + \beta_q)`
    there). Default ``dt = 0.1 ms`` (exponential Euler: bounded for any ``dt``; the first spike at
    10 µA/cm² comes at 2.1 ms vs 1.85 ms with ``dt = 2.5 µs``, so use a smaller ``dt`` for accurate
    spike times; ``tests/neurons/test_step_grid.py``). Input is a
    current density in µA/cm² (repetitive firing above ≈ 6–7 µA/cm²). Own dynamics, no reset.

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *]`` → spikes ``[T, B, *]``; ``step(x, state)`` with ``x [B, *]``.

    Example:
        >>> zs = HH()(torch.full((200, 1, 1), 10.0))   # 20 ms at 10 µA/cm²: a spike train
    """

    params_cls = HHParams
    state_cls = HHState
    step_fn = staticmethod(hh_step)
    state_quant_field = None  # SQUAT levels do not fit this membrane (see no_state_quant)
    no_state_quant = ("its membrane is a biophysical voltage [mV] whose action potential and gating dynamics span "
                      "far beyond a level set in [-v_th(1+lower), v_th(1+upper)]")
    positive = ("c_m",)

    def __init__(self, *, dt: float = 1e-4, surrogate: Any = ATan(alpha=0.1), **kwargs: Any) -> None:
        if kwargs.get("reset", "subtract") != "subtract":
            raise ValueError("HH has no reset (its channels repolarise the membrane); do not pass reset=")
        kwargs.pop("reset", None)
        super().__init__(dt=dt, surrogate=surrogate, **kwargs)

    def validate(self) -> None:
        super().validate()
        for name in ("g_na", "g_k", "g_l"):
            if not bool(torch.all(getattr(self, name) >= 0)):
                raise ValueError(f"HH: conductance {name} must be >= 0, got {getattr(self, name)}")

    def step_kwargs(self) -> dict[str, Any]:
        return {"dt": self.dt, "surrogate": self.surrogate}

    def init_state(self, x: Tensor) -> HHState:
        v = x.new_zeros(x.shape)
        a_m, b_m, a_h, b_h, a_n, b_n = hh_rates(v)
        return HHState(v=v, m=a_m / (a_m + b_m), h=a_h / (a_h + b_h), n=a_n / (a_n + b_n))
