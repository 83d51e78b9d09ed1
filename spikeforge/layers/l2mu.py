"""L2MU: a Legendre Memory Unit whose encoder, memory, hidden and output are LIF populations (Leto,
Urgese, Macii, Fra; NICE 2025; repo neuromorphic-polito/nice_2025 — equations as summarised in
``shared/reference/training_conversion_neurons.md`` §4.4; the repo's code was not read, so the
wiring of the memory population below is our reading: the LMU's fixed Legendre (Padé) state matrices
drive a LIF population of ``order × encoder`` neurons)."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..neurons.lif import LIFDecayParams, LIFState, lif_step
from ..surrogate import ATan

__all__ = ["L2MU", "L2MUState", "l2mu_step", "legendre_matrices", "lmu_discretize", "lmu_memory_step"]


def legendre_matrices(order: int, theta: float, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    r"""Continuous LMU matrices divided by the window: :math:`\dot m = A m + B u` with

    .. math:: \theta A_{ij} = (2i+1)\begin{cases}-1 & i < j\\ (-1)^{i-j+1} & i \ge j\end{cases},\qquad
              \theta B_i = (2i+1)(-1)^i

    (Voelker et al., NeurIPS 2019). ``order = 1``: :math:`A = -1/\theta`, :math:`B = 1/\theta`.

    Shapes:
        A ``[d, d]``, B ``[d]``.
    """
    if isinstance(order, bool) or not isinstance(order, int) or order < 1:
        raise ValueError(f"legendre_matrices: order must be a positive int, got {order!r}")
    if not (float(theta) > 0 and math.isfinite(float(theta))):
        raise ValueError(f"legendre_matrices: theta must be > 0, got {theta!r}")
    i = torch.arange(order, dtype=dtype).view(-1, 1)
    j = torch.arange(order, dtype=dtype).view(1, -1)
    sign = torch.where(i < j, torch.full_like(i * j, -1.0), (-1.0) ** (i - j + 1))
    a = (2 * i + 1) * sign / theta
    b = (2 * i.flatten() + 1) * (-1.0) ** i.flatten() / theta
    return a, b


def lmu_discretize(a: Tensor, b: Tensor, dt: float) -> tuple[Tensor, Tensor]:
    r"""Zero-order hold: :math:`\bar A = e^{A\,dt}`, :math:`\bar B = A^{-1}(\bar A - I)B`, computed as one
    matrix exponential of the block matrix :math:`\begin{pmatrix}A & B\\0 & 0\end{pmatrix} dt`."""
    d = a.shape[0]
    block = torch.zeros(d + 1, d + 1, dtype=a.dtype)
    block[:d, :d], block[:d, d] = a, b
    e = torch.linalg.matrix_exp(block * dt)
    return e[:d, :d], e[:d, d]


def lmu_memory_step(m: Tensor, u: Tensor, a_bar: Tensor, b_bar: Tensor) -> Tensor:
    r"""One LMU memory update :math:`m_t = \bar A m_{t-1} + \bar B u_t` for every input channel.

    Shapes:
        m ``[B, C, d]``, u ``[B, C]`` → ``[B, C, d]``.
    """
    return m @ a_bar.T + u.unsqueeze(-1) * b_bar


class L2MUState(NamedTuple):
    u: Tensor  # encoder LIF membranes [B, C]
    m: Tensor  # memory LIF membranes [B, C·d]
    h: Tensor  # hidden LIF membranes [B, H]
    o: Tensor  # output LIF membranes [B, O]
    zm: Tensor  # last memory spikes [B, C·d]
    zh: Tensor  # last hidden spikes [B, H]


class L2MUWeights(NamedTuple):
    e_x: Tensor  # [C, I]
    e_h: Tensor  # [C, H]
    e_m: Tensor  # [C, C·d]
    w_x: Tensor  # [H, I]
    w_h: Tensor  # [H, H]
    w_m: Tensor  # [H, C·d]
    w_o: Tensor  # [O, H]
    a_bar: Tensor  # [d, d] fixed
    b_bar: Tensor  # [d] fixed
    g_m: Tensor  # [C, d] gain on the encoder's drive of the memory population (ours, see L2MU)


def l2mu_step(x: Tensor, state: L2MUState, w: L2MUWeights, pops: tuple[LIFDecayParams, ...],
              surrogate: ATan = ATan()) -> tuple[Tensor, L2MUState]:
    r"""One L2MU step: four populations of discrete-time LIF neurons (``U' = βU + I``, spike and
    subtract ``Θ``, :func:`~spikeforge.neurons.lif.lif_step`) wired as an LMU.

    .. math::
        z^u_t = \mathrm{LIF}_u(e_x x_t + e_h z^h_{t-1} + e_m z^m_{t-1}),\qquad
        z^m_t = \mathrm{LIF}_m(\bar A z^m_{t-1} + (g_m \odot \bar B) z^u_t)\ \text{(per encoder channel)}

        z^h_t = \mathrm{LIF}_h(W_x x_t + W_h z^h_{t-1} + W_m z^m_t),\qquad z^o_t = \mathrm{LIF}_o(W_o z^h_t)

    Shapes:
        x ``[B, I]``; output spikes ``[B, O]``.
    """
    pu, pm, ph, po = pops
    d = w.a_bar.shape[0]
    zu, su = lif_step(x @ w.e_x.T + state.zh @ w.e_h.T + state.zm @ w.e_m.T, LIFState(state.u), pu,
                      integrator="decay", surrogate=surrogate)
    zm_prev = state.zm.unflatten(-1, (-1, d))  # [B, C·d] -> [B, C, d]
    im = lmu_memory_step(zm_prev, zu, w.a_bar, w.g_m * w.b_bar).flatten(-2)  # [B, C, d] -> [B, C·d]
    zm, sm = lif_step(im, LIFState(state.m), pm, integrator="decay", surrogate=surrogate)
    zh, sh = lif_step(x @ w.w_x.T + state.zh @ w.w_h.T + zm @ w.w_m.T, LIFState(state.h), ph,
                      integrator="decay", surrogate=surrogate)
    zo, so = lif_step(zh @ w.w_o.T, LIFState(state.o), po, integrator="decay", surrogate=surrogate)
    return zo, L2MUState(u=su.v, m=sm.v, h=sh.v, o=so.v, zm=zm, zh=zh)


class L2MU(nn.Module):
    r"""L2MU layer; dynamics in :func:`l2mu_step`. The Legendre matrices are fixed buffers; weights,
    and each population's decay β (sigmoid-parametrised) and threshold Θ are learned.

    Args:
        input_size, hidden_size, output_size: I, H, O.
        encoder_size: C, the LMU's input channels (memory population: C·order neurons).
        order, theta: Legendre order d and window θ (in steps).
        beta, v_th: (β, Θ) for the populations u, m, h, o (paper's 7-class Braille defaults).
        memory_gain: initial gain :math:`g_m` on the encoder's drive :math:`\bar B z^u` of the memory
            population, one per memory neuron; ``None`` (default) means ``theta``. **Ours**: the
            reference gives no input scaling for the memory population. Zero-order hold makes
            :math:`|\bar B_i| \approx (2i+1)/\theta` (≤ 0.10 at θ = 64, d = 4), so without a gain a binary
            encoder spike never lifts a memory LIF (β = 0.2, Θ = 0.4) to threshold and the memory
            population is silent; :math:`\theta\bar B \approx B\theta` (the window-free Legendre
            :math:`(2i+1)(-1)^i`) keeps the drive independent of the window. ``memory_gain=1`` restores
            the ungained wiring.
        learn_memory_gain: train :math:`g_m` with the weights (default) or keep it fixed.

    Shapes:
        ``forward(xs [T, B, I]) -> spikes [T, B, O]``.

    Example:
        >>> zs = L2MU(5, hidden_size=8, output_size=3)(torch.rand(12, 2, 5))
    """

    def __init__(self, input_size: int, hidden_size: int = 32, output_size: int = 2, *, encoder_size: int = 4,
                 order: int = 4, theta: float = 10.0,
                 beta: tuple[float, float, float, float] = (0.8, 0.2, 0.45, 0.6),
                 v_th: tuple[float, float, float, float] = (0.2, 0.4, 0.65, 0.15),
                 memory_gain: float | None = None, learn_memory_gain: bool = True) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size),
                        ("encoder_size", encoder_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"L2MU: {name} must be a positive int, got {v!r}")
        if not all(0 < b < 1 for b in beta) or not all(t > 0 for t in v_th):
            raise ValueError(f"L2MU: each beta must be in (0, 1) and each v_th > 0, got {beta!r}, {v_th!r}")
        gain = float(theta) if memory_gain is None else memory_gain
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not math.isfinite(gain):
            raise ValueError(f"L2MU: memory_gain must be a finite number or None, got {memory_gain!r}")
        a, b = legendre_matrices(order, theta)
        a_bar, b_bar = lmu_discretize(a, b, 1.0)
        self.register_buffer("a_bar", a_bar.float())
        self.register_buffer("b_bar", b_bar.float())
        self.input_size, self.order = input_size, order
        cd = encoder_size * order
        sizes = {"e_x": (encoder_size, input_size), "e_h": (encoder_size, hidden_size), "e_m": (encoder_size, cd),
                 "w_x": (hidden_size, input_size), "w_h": (hidden_size, hidden_size), "w_m": (hidden_size, cd),
                 "w_o": (output_size, hidden_size)}
        for name, shape in sizes.items():
            self.register_parameter(name, nn.Parameter(torch.randn(shape) / math.sqrt(shape[1])))
        self.g_m = nn.Parameter(torch.full((encoder_size, order), float(gain)), requires_grad=learn_memory_gain)
        self.beta_raw = nn.Parameter(torch.logit(torch.tensor(beta)))
        self.v_th = nn.Parameter(torch.tensor(v_th))
        self.sizes = (encoder_size, cd, hidden_size, output_size)

    def init_state(self, x: Tensor) -> L2MUState:
        c, cd, h, o = self.sizes
        z = [x.new_zeros(x.shape[0], n) for n in (c, cd, h, o, cd, h)]
        return L2MUState(*z)

    def run(self, xs: Tensor, state: L2MUState | None = None) -> tuple[Tensor, L2MUState]:
        check_sequence(xs, "L2MU")
        if xs.dim() != 3 or xs.shape[-1] != self.input_size:
            raise ValueError(f"L2MU: expected input [T, B, {self.input_size}], got {tuple(xs.shape)}")
        if state is None:
            state = self.init_state(xs[0])
        dt = xs.dtype
        w = L2MUWeights(*(getattr(self, n).to(dt) for n in L2MUWeights._fields))
        beta, th = torch.sigmoid(self.beta_raw).to(dt), self.v_th.to(dt)
        pops = tuple(LIFDecayParams(beta=beta[k], gain=1.0, v_th=th[k]) for k in range(4))
        zs = []
        for x in xs:  # x: [B, I]
            z, state = l2mu_step(x, state, w, pops)
            zs.append(z)
        return torch.stack(zs), state  # [T, B, O]

    def forward(self, xs: Tensor) -> Tensor:
        return self.run(xs)[0]
