"""L2MU: a Legendre Memory Unit whose encoder, memory, hidden and output are LIF populations (Leto,
Urgese, Macii, Fra; NICE 2025). Wiring, initialisation, neuron model and read-out follow the authors'
code (neuromorphic-polito/L2MU-Braille, ``architecture/full_precision``: read for the facts, none of
it copied); ``shared/reference/training_conversion_neurons.md`` §4.4 has the equations and defaults.
Where we differ from that code, the docstring of :class:`L2MU` says so."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite
from ..surrogate import ATan, Surrogate

__all__ = ["L2MU", "L2MUState", "l2mu_step", "legendre_matrices", "lmu_discretize", "lmu_memory_step",
           "leaky_delayed_step"]


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


def leaky_delayed_step(i: Tensor, v: Tensor, beta: Tensor, v_th: Tensor,
                       surrogate: Surrogate = ATan()) -> tuple[Tensor, Tensor]:
    r"""One step of the discrete leaky neuron the L2MU populations use (snnTorch's ``Leaky`` with its
    defaults: subtractive reset applied one step late, reset spike detached):

    .. math:: U_t = \beta U_{t-1} + I_t - \Theta\,H(U_{t-1} - \Theta),\qquad S_t = H(U_t - \Theta)

    The membrane is kept *before* the reset, so the subtracted threshold is not decayed by β (unlike
    :func:`~spikeforge.neurons.lif.lif_step`, which subtracts at once: :math:`\beta(U - \Theta)`).
    The gradient reaches Θ through the reset term but not through the reset spike.

    Shapes:
        i, v ``[B, N]`` → spikes, new membrane ``[B, N]``.
    """
    reset = (v > v_th).to(v.dtype)  # S_{t-1}, no gradient (a comparison)
    v = beta * v + i - reset * v_th
    return surrogate(v - v_th), v


class L2MUState(NamedTuple):
    u: Tensor  # encoder membranes (before reset) [B, C]
    m: Tensor  # memory membranes [B, C·d]
    h: Tensor  # hidden membranes [B, H]
    o: Tensor  # output membranes [B, O]
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
    b_o: Tensor  # [O]
    a_bar: Tensor  # [d, d] fixed; the matrix applied to the memory spikes (Ā, or Āᵀ as the repo does)
    b_bar: Tensor  # [d] fixed
    g_m: Tensor  # [C, d] gain on B̄ (1 in the paper; ours when ≠ 1, see L2MU)


class L2MUPopulation(NamedTuple):
    beta: Tensor  # decay β, scalar
    v_th: Tensor  # threshold Θ, scalar


def l2mu_step(x: Tensor, state: L2MUState, w: L2MUWeights, pops: tuple[L2MUPopulation, ...],
              surrogate: Surrogate = ATan()) -> tuple[Tensor, L2MUState]:
    r"""One L2MU step: four populations of :func:`leaky_delayed_step` neurons wired as an LMU.

    .. math::
        z^u_t = \mathrm{LIF}_u(e_x x_t + e_h z^h_{t-1} + e_m z^m_{t-1}),\qquad
        z^m_t = \mathrm{LIF}_m(\bar A z^m_{t-1} + (g_m \odot \bar B) z^u_t)\ \text{(per encoder channel)}

        z^h_t = \mathrm{LIF}_h(W_x x_t + W_h z^h_{t-1} + W_m z^m_t),\qquad
        z^o_t = \mathrm{LIF}_o(W_o z^h_t + b_o)

    The memory population holds ``C × d`` neurons, one per (encoder channel, Legendre order); it
    receives its own last spikes through the fixed Ā and the encoder's spikes through the fixed B̄.
    Spikes are 0/1, so a negative Legendre coefficient can only inhibit: no population represents
    negative memory values (as in the authors' code).

    Shapes:
        x ``[B, I]``; output spikes ``[B, O]``.
    """
    pu, pm, ph, po = pops
    d = w.a_bar.shape[0]
    zu, vu = leaky_delayed_step(x @ w.e_x.T + state.zh @ w.e_h.T + state.zm @ w.e_m.T, state.u,
                                pu.beta, pu.v_th, surrogate)
    zm_prev = state.zm.unflatten(-1, (-1, d))  # [B, C·d] -> [B, C, d]
    im = lmu_memory_step(zm_prev, zu, w.a_bar, w.g_m * w.b_bar).flatten(-2)  # [B, C, d] -> [B, C·d]
    zm, vm = leaky_delayed_step(im, state.m, pm.beta, pm.v_th, surrogate)
    zh, vh = leaky_delayed_step(x @ w.w_x.T + state.zh @ w.w_h.T + zm @ w.w_m.T, state.h, ph.beta, ph.v_th,
                                surrogate)
    zo, vo = leaky_delayed_step(zh @ w.w_o.T + w.b_o, state.o, po.beta, po.v_th, surrogate)
    return zo, L2MUState(u=vu, m=vm, h=vh, o=vo, zm=zm, zh=zh)


class L2MU(nn.Module):
    r"""L2MU layer; dynamics in :func:`l2mu_step`. The Legendre matrices are fixed buffers (θ fixed);
    weights, and each population's decay β and threshold Θ (one scalar each) are learned. The logits
    of a classifier are the output population's spike counts (the authors sum over time into a
    cross-entropy loss).

    From the authors' code (full-precision model): the wiring of :func:`l2mu_step`; snnTorch
    ``Leaky`` neurons (:func:`leaky_delayed_step`, arctan surrogate) with learned β and Θ; no biases
    except the output layer's; initialisation :math:`e_x, e_h` LeCun-uniform, :math:`e_m = 0`,
    :math:`W_x, W_h, W_m` Xavier-normal, :math:`W_o, b_o` PyTorch's ``nn.Linear`` default.

    Where we differ: by default β is parametrised by a sigmoid (snnTorch learns β directly and clamps
    it to [0, 1]; ``clamp_beta=True`` reproduces that); the memory applies Ā as the LMU equations say,
    while the authors' code applies Āᵀ (its ``nn.Linear`` weight is the transposed ZOH matrix) —
    ``transpose_a=True`` reproduces that.

    Input: the paper feeds events (0/1); on permuted sequential digits the layer learns from a binary
    code of each pixel (8-level thermometer: 0.18–0.26 test accuracy) but stays silent at chance on
    the analog pixel, and its memory population fires little (silent at θ = 64). The 0/1 memory
    spikes are what limits it there: the same network reading the LMU memory as a value (not the
    paper; ``tools/l2mu_diagnosis.py float-memory``) gains 9 points over its paired spiking control —
    measurements and the diagnosis in ``docs/research_neurons.md``.

    Args:
        input_size, hidden_size, output_size: I, H, O.
        encoder_size: C, the LMU's input channels (the authors' ``memory_size``; the memory population
            has C·order neurons).
        order, theta: Legendre order d and window θ (in steps).
        beta, v_th: initial (β, Θ) for the populations u, m, h, o (paper's 7-class Braille defaults).
        transpose_a: apply Āᵀ to the memory spikes, as the authors' code does (default: Ā, the paper).
        memory_gain: **ours, not in the paper** (default 1 = the paper): a gain :math:`g_m` (one per
            memory neuron) on :math:`\bar B`. At large θ, :math:`|\bar B_i| \approx (2i+1)/\theta` is too
            small for one encoder spike to lift a memory neuron to Θ_m; ``memory_gain=theta`` makes
            :math:`\theta\bar B \approx (2i+1)(-1)^i`. It did not make the layer learn (see
            ``docs/research_neurons.md``).
        learn_memory_gain: train :math:`g_m` (default: fixed).
        clamp_beta: learn β itself and use :math:`\mathrm{clamp}(\beta, 0, 1)`, as snnTorch's ``Leaky``
            in the authors' code (``beta_raw`` then holds β). Default: :math:`\beta = \sigma(\beta_{raw})`
            (ours; keeps β in (0, 1) with a gradient everywhere, but Adam then moves β by
            :math:`\sigma'` ≤ ¼ of the step it takes in ``beta_raw``).

    Shapes:
        ``forward(xs [T, B, I]) -> spikes [T, B, O]``.

    Example:
        >>> zs = L2MU(5, hidden_size=8, output_size=3)(torch.rand(12, 2, 5))
    """

    def __init__(self, input_size: int, hidden_size: int = 32, output_size: int = 2, *, encoder_size: int = 4,
                 order: int = 4, theta: float = 10.0,
                 beta: tuple[float, float, float, float] = (0.8, 0.2, 0.45, 0.6),
                 v_th: tuple[float, float, float, float] = (0.2, 0.4, 0.65, 0.15),
                 transpose_a: bool = False, memory_gain: float = 1.0, learn_memory_gain: bool = False,
                 clamp_beta: bool = False) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("output_size", output_size),
                        ("encoder_size", encoder_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"L2MU: {name} must be a positive int, got {v!r}")
        if len(beta) != 4 or len(v_th) != 4:
            raise ValueError(f"L2MU: beta and v_th need one value per population (u, m, h, o), got {beta!r}, {v_th!r}")
        if not all(0 < b < 1 for b in beta) or not all(t > 0 for t in v_th):
            raise ValueError(f"L2MU: each beta must be in (0, 1) and each v_th > 0, got {beta!r}, {v_th!r}")
        if isinstance(memory_gain, bool) or not isinstance(memory_gain, (int, float)) or not math.isfinite(memory_gain):
            raise ValueError(f"L2MU: memory_gain must be a finite number, got {memory_gain!r}")
        a, b = legendre_matrices(order, theta)
        a_bar, b_bar = lmu_discretize(a, b, 1.0)
        self.register_buffer("a_bar", (a_bar.T if transpose_a else a_bar).float())
        self.register_buffer("b_bar", b_bar.float())
        self.input_size, self.order, self.transpose_a = input_size, order, transpose_a
        cd = encoder_size * order
        shapes = {"e_x": (encoder_size, input_size), "e_h": (encoder_size, hidden_size), "e_m": (encoder_size, cd),
                  "w_x": (hidden_size, input_size), "w_h": (hidden_size, hidden_size), "w_m": (hidden_size, cd),
                  "w_o": (output_size, hidden_size)}
        for name, shape in shapes.items():
            self.register_parameter(name, nn.Parameter(torch.empty(shape)))
        self.b_o = nn.Parameter(torch.empty(output_size))
        self.g_m = nn.Parameter(torch.full((encoder_size, order), float(memory_gain)), requires_grad=learn_memory_gain)
        self.clamp_beta = bool(clamp_beta)
        b0 = torch.tensor(beta)
        self.beta_raw = nn.Parameter(b0 if self.clamp_beta else torch.logit(b0))
        self.v_th = nn.Parameter(torch.tensor(v_th))
        self.sizes = (encoder_size, cd, hidden_size, output_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The authors' initialisation (see the class docstring)."""
        p: dict[str, Tensor] = dict(self.named_parameters())
        with torch.no_grad():
            for name in ("e_x", "e_h"):  # LeCun uniform: U(±sqrt(3 / fan_in))
                bound = math.sqrt(3.0 / p[name].shape[1])
                p[name].uniform_(-bound, bound)
            p["e_m"].zero_()
            for name in ("w_x", "w_h", "w_m"):
                nn.init.xavier_normal_(p[name])
            bound = 1.0 / math.sqrt(p["w_o"].shape[1])  # nn.Linear's default for weight and bias
            p["w_o"].uniform_(-bound, bound)
            p["b_o"].uniform_(-bound, bound)

    def beta(self) -> Tensor:
        """The four populations' decays β (u, m, h, o) from ``beta_raw`` (see ``clamp_beta``)."""
        return self.beta_raw.clamp(0.0, 1.0) if self.clamp_beta else torch.sigmoid(self.beta_raw)

    def init_state(self, x: Tensor) -> L2MUState:
        c, cd, h, o = self.sizes
        z = [x.new_zeros(x.shape[0], n) for n in (c, cd, h, o, cd, h)]
        return L2MUState(*z)

    def run(self, xs: Tensor, state: L2MUState | None = None) -> tuple[Tensor, L2MUState]:
        check_sequence(xs, "L2MU")
        if xs.dim() != 3 or xs.shape[-1] != self.input_size:
            raise ValueError(f"L2MU: expected input [T, B, {self.input_size}], got {tuple(xs.shape)}")
        check_finite(xs, "L2MU")
        if state is None:
            state = self.init_state(xs[0])
        dt = xs.dtype
        w = L2MUWeights(*(getattr(self, n).to(dt) for n in L2MUWeights._fields))
        beta, th = self.beta().to(dt), self.v_th.to(dt)
        pops = tuple(L2MUPopulation(beta=beta[k], v_th=th[k]) for k in range(4))
        zs = []
        for x in xs:  # x: [B, I]
            z, state = l2mu_step(x, state, w, pops)
            zs.append(z)
        return torch.stack(zs), state  # [T, B, O]

    def forward(self, xs: Tensor) -> Tensor:
        return self.run(xs)[0]
