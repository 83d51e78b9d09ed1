"""ELM: the expressive leaky memory neuron (Spieler, Rahaman, Martius, Schölkopf, Levina; ICLR 2024,
arXiv 2306.16922; equations as in the authors' AaronSpieler/elmneuron ``src``, read for
``shared/reference/training_conversion_neurons.md`` §4.1).

A continuous-output recurrent cell, not a spiking neuron: leaky synaptic (branch) traces feed a
small MLP, whose scaled-tanh output drives ``d_m`` leaky memory units with log-spaced time
constants; a linear read-out of the memory is the output. Count MACs for it, not SynOps.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite

__all__ = ["ELM", "ELMParams", "ELMState", "elm_memory_update", "elm_step"]

TANH_GAIN, TANH_SLOPE = 1.7159, 2.0 / 3.0  # LeCun's scaled tanh, part of the model


class ELMParams(NamedTuple):
    w_syn: Tensor  # non-negative synaptic weights [S] (ReLU of the stored parameter)
    kappa_b: Tensor  # branch-trace decay exp(-dt / tau_b) [Nb]
    kappa_m: Tensor  # memory decay exp(-dt / tau_m) [M]
    kappa_lam: Tensor  # memory input gain source exp(-lam dt / tau_m) [M]
    w1: Tensor  # MLP hidden weight [H, Nb + M]
    b1: Tensor  # [H]
    w2: Tensor  # MLP output weight [M, H]
    b2: Tensor  # [M]
    w_out: Tensor  # read-out [O, M]
    b_out: Tensor  # [O]


class ELMState(NamedTuple):
    b: Tensor  # branch traces [B, Nb]
    m: Tensor  # memory units [B, M]


def elm_memory_update(m: Tensor, dm: Tensor, kappa_m: Tensor, kappa_lam: Tensor) -> Tensor:
    r"""ELM v2 memory update :math:`m_t = \kappa_m \odot m_{t-1} + (1 - \kappa_\lambda) \odot \Delta m_t`.

    With :math:`\lambda = 1` (:math:`\kappa_\lambda = \kappa_m`) and a constant drive :math:`c` the
    memory relaxes to :math:`c` (reference check 15).
    """
    return kappa_m * m + (1 - kappa_lam) * dm


def elm_step(x: Tensor, state: ELMState, p: ELMParams) -> tuple[Tensor, ELMState]:
    r"""One step of the ELM neuron (Branch-ELM / v2 form).

    .. math::
        b_t = \kappa_b \odot b_{t-1} + R\,(w_s \odot x_t),\qquad \kappa = e^{-\Delta t/\tau}

        \Delta m_t = 1.7159\,\tanh\!\big(\tfrac23\,\mathrm{MLP}([b_t;\ \kappa_m \odot m_{t-1}])\big),
        \quad \mathrm{MLP}(z) = W_2\,\mathrm{ReLU}(W_1 z + b_1) + b_2

        m_t = \kappa_m \odot m_{t-1} + (1 - \kappa_\lambda) \odot \Delta m_t,\quad
        \kappa_\lambda = e^{-\lambda\Delta t/\tau_m},\qquad y_t = W_y m_t + b_y

    ``R`` sums the synapses of each branch (contiguous groups of ``S / Nb``); with one synapse per
    branch :math:`b_t` is the v1 synaptic trace :math:`s_t = \kappa_s s_{t-1} + w_s \odot x_t`.

    Shapes:
        x: ``[B, S]``; state.b: ``[B, Nb]``; state.m: ``[B, M]``; y: ``[B, O]``.
    """
    drive = (x * p.w_syn).unflatten(-1, (p.kappa_b.shape[0], -1)).sum(-1)  # [B, S] -> [B, Nb, S/Nb] -> [B, Nb]
    b = p.kappa_b * state.b + drive
    decayed = p.kappa_m * state.m  # [B, M]
    hidden = F.relu(torch.cat([b, decayed], dim=-1) @ p.w1.T + p.b1)  # [B, Nb + M] -> [B, H]
    dm = TANH_GAIN * torch.tanh(TANH_SLOPE * (hidden @ p.w2.T + p.b2))  # [B, M]
    m = elm_memory_update(state.m, dm, p.kappa_m, p.kappa_lam)
    return m @ p.w_out.T + p.b_out, ELMState(b=b, m=m)


class ELM(nn.Module):
    r"""Expressive leaky memory neuron layer; dynamics in :func:`elm_step`.

    Args:
        input_size: synapses S.
        memory_size: memory units d_m (paper default 100).
        output_size: read-out width O.
        branches: branches Nb (``None``: one per synapse, the v1 trace); must divide S.
        hidden_size: MLP width (default ``2 d_m``).
        tau_b: branch/synapse time constant [s] (paper: 5 steps).
        tau_m_range: memory time constants, log-spaced over this range [s] (paper: 1…1000 steps).
        lam: λ of the memory input gain (paper: 5).
        dt: step [s]; the paper's Δt = 1 is one step, so defaults are the paper's in ms.
        learn_tau_m: train the memory time constants (scaled-sigmoid reparametrisation inside
            ``tau_m_range``; the paper's default keeps them fixed).

    Shapes:
        ``forward(xs [T, B, S]) -> ys [T, B, O]``; ``run(xs, state)`` also returns :class:`ELMState`.

    Example:
        >>> ys = ELM(8, memory_size=10, output_size=3)(torch.rand(20, 2, 8))
    """

    def __init__(self, input_size: int, memory_size: int = 100, output_size: int = 1, *,
                 branches: int | None = None, hidden_size: int | None = None, tau_b: float = 5e-3,
                 tau_m_range: tuple[float, float] = (1e-3, 1.0), lam: float = 5.0, dt: float = 1e-3,
                 learn_tau_m: bool = False) -> None:
        super().__init__()
        branches = input_size if branches is None else branches
        hidden_size = 2 * memory_size if hidden_size is None else hidden_size
        for name, v in (("input_size", input_size), ("memory_size", memory_size), ("output_size", output_size),
                        ("branches", branches), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"ELM: {name} must be a positive int, got {v!r}")
        if input_size % branches:
            raise ValueError(f"ELM: branches={branches} must divide input_size={input_size}")
        lo, hi = float(tau_m_range[0]), float(tau_m_range[1])
        if not (0 < lo <= hi and math.isfinite(hi)):
            raise ValueError(f"ELM: tau_m_range must be 0 < min <= max, got {tau_m_range!r}")
        for pname, pv in (("tau_b", tau_b), ("lam", lam), ("dt", dt)):
            if not (float(pv) > 0 and math.isfinite(float(pv))):
                raise ValueError(f"ELM: {pname} must be a positive number, got {pv!r}")
        self.dt, self.lam = float(dt), float(lam)
        self.tau_m_range: tuple[float, float] = (lo, hi)
        self.input_size, self.memory_size, self.branches = input_size, memory_size, branches
        self.tau_b: Tensor
        self.w_syn_raw = nn.Parameter(torch.full((input_size,), 0.5))
        self.register_buffer("tau_b", torch.full((branches,), float(tau_b)))
        tau_m = torch.logspace(math.log10(lo), math.log10(hi), memory_size)
        # scaled sigmoid: tau_m = lo + (hi - lo) sigmoid(raw); the end points are nudged inside
        frac = ((tau_m - lo) / max(hi - lo, 1e-30)).clamp(1e-6, 1 - 1e-6)
        raw = torch.logit(frac) if hi > lo else torch.zeros(memory_size)
        if learn_tau_m:
            self.tau_m_raw = nn.Parameter(raw)
        else:
            self.register_buffer("tau_m_raw", raw)
        self.mlp_in = nn.Linear(branches + memory_size, hidden_size)
        self.mlp_out = nn.Linear(hidden_size, memory_size)
        self.readout = nn.Linear(memory_size, output_size)

    @property
    def tau_m(self) -> Tensor:
        """Memory time constants [s] ``[M]``."""
        lo, hi = self.tau_m_range
        return lo + (hi - lo) * torch.sigmoid(self.tau_m_raw)

    def params(self) -> ELMParams:
        """The step function's parameters (decays computed from the time constants)."""
        tau_m = self.tau_m
        return ELMParams(w_syn=F.relu(self.w_syn_raw), kappa_b=torch.exp(-self.dt / self.tau_b),
                         kappa_m=torch.exp(-self.dt / tau_m), kappa_lam=torch.exp(-self.lam * self.dt / tau_m),
                         w1=self.mlp_in.weight, b1=self.mlp_in.bias, w2=self.mlp_out.weight, b2=self.mlp_out.bias,
                         w_out=self.readout.weight, b_out=self.readout.bias)

    def init_state(self, x: Tensor) -> ELMState:
        return ELMState(b=x.new_zeros(x.shape[0], self.branches), m=x.new_zeros(x.shape[0], self.memory_size))

    def run(self, xs: Tensor, state: ELMState | None = None) -> tuple[Tensor, ELMState]:
        check_sequence(xs, "ELM")
        check_finite(xs, "ELM")
        if xs.dim() != 3 or xs.shape[-1] != self.input_size:
            raise ValueError(f"ELM: expected input [T, B, {self.input_size}], got {tuple(xs.shape)}")
        if state is None:
            state = self.init_state(xs[0])
        p = ELMParams(*(t.to(xs.dtype) for t in self.params()))
        ys = []
        for x in xs:  # x: [B, S]
            y, state = elm_step(x, state, p)
            ys.append(y)
        return torch.stack(ys), state  # [T, B, O]

    def forward(self, xs: Tensor) -> Tensor:
        return self.run(xs)[0]
