"""HD-LIF: STEP's gated mixture of four spiking neurons (IF, LIF, PLIF, EIF) read out by a threshold.

Registered in :data:`~spikeforge.neurons.SEQUENCE_NEURONS` (``"hdlif"``), not in ``NEURONS``, for the
same reason as :mod:`~spikeforge.neurons.psn`: the gate of every step reads the input at *every*
step of a fixed-length window (non-causal, fixed ``T``), so the neuron contract (``step``, runs
continued from a returned state, any ``T``) cannot hold. Its gate also fixes the channel count ``C``
of the last axis (``needs_features``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from ..surrogate import Sigmoid, Surrogate, get_surrogate
from ._sequence import SEQUENCE_NEURONS, SequenceNeuron

__all__ = ["HDLIF", "HDLIFParams", "hdlif_experts", "hdlif_run"]

EXPERTS = ("if", "lif", "plif", "eif")

# Elementary operations per neuron element and step (one channel of one position), counted from
# hdlif_experts / hdlif_run (training mode: every expert mixed):
#   IF  u + x (1); compare (1); reset u'(1 - s): 1 - s, × (2)                                   = 4
#   LIF u + (x - u)/τ: −, ×, + (3); compare (1); reset (2)                                     = 6
#   PLIF as LIF with σ(w) a per-call constant                                                  = 6
#   EIF u + (x - u + Δ e^{(u - θ)/Δ})/τ: −θ, /Δ, exp, ×Δ, x − u, +, /τ, + (8); compare (1);
#       reset u'(1 - s) + s v_reset: 1 − s, ×, s·v_reset, + (4)                                = 13
#   read a zero membrane as v_th: compare, select per expert (2 × 4)                           = 8
#   mix Σ_e g_e ũ_e: 4 ×, 3 + (7); output threshold M > v_th_out (1)                           = 8
HDLIF_OPS_PER_ELEMENT = 4 + 6 + 6 + 13 + 8 + 8  # = 45
# The gate, once per position (a [T·C] vector): E·T·C multiplies and E·T·C adds (bias included), then
# softmax over E: E exp, E − 1 adds, E divides (3E − 1).


class HDLIFParams(NamedTuple):
    gate_weight: Tensor  # [E, T·C] gate logits from the whole input sequence of one position
    gate_bias: Tensor  # [E]
    plif_w: Tensor  # [] PLIF's rate parameter, factor sigmoid(w)
    v_th: float = 0.5  # every expert's threshold; also what a membrane that is exactly 0 is read as
    tau: float = 2.0  # LIF / EIF time constant in steps
    delta_t: float = 1.0  # EIF sharpness Δ_T
    theta_rh: float = 0.8  # EIF rheobase θ_rh
    v_reset_eif: float = -0.1  # EIF reset value (and its rest state)
    v_th_out: float = 0.2  # threshold of the mixed membrane


def hdlif_experts(xs: Tensor, p: HDLIFParams) -> Tensor:
    r"""Post-reset membranes of the four experts, each driven by ``xs`` from its rest state.

    .. math::
        \text{IF: } u' = u + x,\qquad \text{LIF: } u' = u + (x - u)/\tau,\qquad
        \text{PLIF: } u' = u + \sigma(w)(x - u),

        \text{EIF: } u' = u + \big(x - u + \Delta_T e^{(u - \theta_{rh})/\Delta_T}\big)/\tau,

    then :math:`s = H(u' - v_{th})` and a hard reset with the spike detached,
    :math:`u = u'(1 - s)` (EIF: :math:`u = u'(1 - s) + s\,v_{reset}`). IF, LIF, PLIF start at 0,
    EIF at :math:`v_{reset}`.

    Shapes:
        ``xs [T, B, *] -> [T, E = 4, B, *]``.
    """
    rate = torch.sigmoid(p.plif_w)
    u = [torch.zeros_like(xs[0]) for _ in range(3)] + [torch.full_like(xs[0], p.v_reset_eif)]
    out = []
    for x in xs:  # x: [B, *]
        pre = [u[0] + x,
               u[1] + (x - u[1]) / p.tau,
               u[2] + (x - u[2]) * rate,
               u[3] + (x - u[3] + p.delta_t * torch.exp((u[3] - p.theta_rh) / p.delta_t)) / p.tau]
        spikes = [(v > p.v_th).to(v.dtype) for v in pre]  # detached: gradients flow through the membranes only
        u = [v * (1 - s) for v, s in zip(pre[:3], spikes[:3], strict=True)]
        u.append(pre[3] * (1 - spikes[3]) + spikes[3] * p.v_reset_eif)
        out.append(torch.stack(u))  # [E, B, *]
    return torch.stack(out)  # [T, E, B, *]


def hdlif_run(xs: Tensor, p: HDLIFParams, *, top_k: int | None = None,
              surrogate: Surrogate = Sigmoid(alpha=4.0)) -> Tensor:
    r"""Spikes of HD-LIF for a whole sequence of ``T`` steps with ``C`` channels on the last axis.

    .. math::
        g = \mathrm{softmax}\big(W_g\,[x_1; \dots; x_T] + b_g\big) \in \mathbb{R}^{E},\qquad
        \tilde u_{e,t} = \begin{cases} v_{th} & u_{e,t} = 0 \\ u_{e,t} & \text{else}\end{cases},

        s_t = H\Big(\sum_e g_e\,\tilde u_{e,t} - v_{th}^{out}\Big)

    with :math:`u_{e,t}` the post-reset membranes of :func:`hdlif_experts`. The gate is computed per
    position (every index of ``*`` for the channel vector ``[x_1; …; x_T]`` of ``T·C`` values, time
    outer) and shared by the position's ``C`` channels and ``T`` steps. ``top_k`` (STEP's inference
    mode, 2) keeps the ``k`` largest gate logits and renormalises among them; ``None`` (training) keeps
    all ``E``. The spike has the ``surrogate``'s gradient (STEP: sigmoid, ``k = 4``).

    Source: STEP (Fancyssc/STEP ``cls/models/utils/node.py``, ``HDLIFNode``, "AKA MoE-IFNode of
    Spiking Point Transformer, AAAI 2025"), read for this file; the project reference
    (``transformers.md`` §7) only names HD-LIF. Where a membrane is exactly 0 (a neuron that just
    reset, or one never driven) STEP reads it as ``v_th``; kept. STEP's output spike is
    ``M >= v_th_out``; ours is ``M > v_th_out`` (differs only on exact ties).

    Shapes:
        ``xs [T, B, *, C] -> [T, B, *, C]`` with ``T·C = gate_weight.shape[1]``.
    """
    steps, channels = xs.shape[0], xs.shape[-1]
    n_exp, width = p.gate_weight.shape
    if steps * channels != width:
        raise ValueError(f"HD-LIF was built for T·C = {width} gate inputs, got T = {steps} steps of C = {channels} "
                         f"channels ({tuple(xs.shape)}); HD-LIF cannot run other lengths or continue")
    seq = xs.movedim(0, -2).flatten(-2)  # [T, B, *, C] -> [B, *, T, C] -> [B, *, T·C] (time outer)
    logits = seq @ p.gate_weight.T + p.gate_bias  # [B, *, E]
    if top_k is not None:
        if not 1 <= top_k <= n_exp:
            raise ValueError(f"HD-LIF: top_k must be in 1..{n_exp}, got {top_k!r}")
        keep = logits.topk(top_k, dim=-1).indices  # [B, *, k]
        mask = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, keep, True)
        logits = logits.masked_fill(~mask, -math.inf)
    gate = torch.softmax(logits, dim=-1)  # [B, *, E]
    mem = hdlif_experts(xs, p)  # [T, E, B, *, C]
    mem = torch.where(mem == 0, torch.full_like(mem, p.v_th), mem)
    mixed = (mem * gate.movedim(-1, 0).unsqueeze(-1)).sum(1)  # [T, E, B, *, C] · [E, B, *, 1] -> [T, B, *, C]
    return surrogate(mixed - p.v_th_out)


@SEQUENCE_NEURONS.register("hdlif")
class HDLIF(SequenceNeuron):
    r"""HD-LIF layer for sequences of exactly ``t_steps`` steps of ``features`` channels; see :func:`hdlif_run`.

    A :class:`~spikeforge.neurons.SequenceNeuron` (non-causal, fixed ``T`` and ``C``): ``step``, a run
    given a state and a sequence of another length raise a ``ValueError``.

    Learnable: the gate (``nn.Linear(T·C, 4)``'s default initialisation, STEP's ``Conv1d`` with kernel
    1) and PLIF's rate parameter ``w`` (init :math:`-\log(\tau - 1) = 0`, factor 0.5). In training mode
    the gate mixes all four experts; in eval mode only the top 2 (STEP's inference path).

    Operations per call (:meth:`op_count`, training mode): 45 per neuron element and step from the four
    experts, the zero reading, the mix and the output threshold (``HDLIF_OPS_PER_ELEMENT``), plus the gate
    per position, ``2·E·T·C + 3E − 1`` with ``E = 4``.

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *, C]`` → spikes ``[T, B, *, C]``.

    Example:
        >>> zs = HDLIF(features=16, t_steps=4)(torch.rand(4, 2, 16))
    """

    needs_features = True
    # TrainConfig's tau_mem maps to the experts' tau (LIF, EIF; PLIF's initial rate); reset does not map
    refused_settings: ClassVar[dict[str, str]] = {
        "reset": "HD-LIF's experts have a fixed hard reset (IF, LIF, PLIF to 0, EIF to v_reset = -0.1, as "
                 "STEP's HDLIFNode), which no single reset mode describes"}

    @classmethod
    def setting_kwargs(cls, *, tau_mem: float | None, dt: float) -> dict[str, Any]:
        """``tau_mem`` [s] as the experts' time constant in steps, ``tau = tau_mem / dt`` (STEP's ``tau``
        is in steps; LIF and EIF leak by ``1/tau`` per step, PLIF starts at ``w = -log(tau - 1)``);
        ``None`` keeps ``tau = 2`` (STEP's default, i.e. ``tau_mem = 2 dt``)."""
        if tau_mem is None:
            return {}
        tau = float(tau_mem) / float(dt)
        if not tau > 1.0:
            raise ValueError(f"HD-LIF's tau = tau_mem / dt = {tau_mem!r} / {dt!r} = {tau:g} steps must be > 1 "
                             "(PLIF's w = -log(tau - 1)); use tau_mem > dt")
        return {"tau": tau}

    def __init__(self, features: int, t_steps: int, *, v_th: float = 0.5, tau: float = 2.0,
                 v_th_out: float = 0.2, surrogate: Any = None, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        for name, value in (("features", features), ("t_steps", t_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"HDLIF: {name} must be a positive int, got {value!r}")
        if not tau > 1.0:
            raise ValueError(f"HDLIF: tau must be > 1 (PLIF's w = -log(tau - 1)), got {tau!r}")
        gate = nn.Linear(features * t_steps, len(EXPERTS), dtype=dtype, device=device)
        self.gate_weight = nn.Parameter(gate.weight.detach().clone())  # [E, T·C]
        self.gate_bias = nn.Parameter(gate.bias.detach().clone())  # [E]
        self.plif_w = nn.Parameter(torch.tensor(-math.log(tau - 1.0), dtype=gate.weight.dtype, device=device))
        self.v_th, self.tau, self.v_th_out = float(v_th), float(tau), float(v_th_out)
        self._t_steps = int(t_steps)
        self.surrogate = Sigmoid(alpha=4.0) if surrogate is None else get_surrogate(surrogate)

    def params(self, dtype: torch.dtype) -> HDLIFParams:
        return HDLIFParams(self.gate_weight.to(dtype), self.gate_bias.to(dtype), self.plif_w.to(dtype),
                           v_th=self.v_th, tau=self.tau, v_th_out=self.v_th_out)

    @property
    def t_steps(self) -> int:
        return self._t_steps

    @property
    def features(self) -> int:
        return int(self.gate_weight.shape[1]) // self._t_steps

    def _map(self, xs: Tensor) -> Tensor:
        if xs.shape[-1] != self.features:
            raise ValueError(f"HDLIF was built for C = {self.features} channels on the last axis, got "
                             f"{xs.shape[-1]} (shape {tuple(xs.shape)}); its gate reads T·C values per position")
        return hdlif_run(xs, self.params(xs.dtype), top_k=None if self.training else 2, surrogate=self.surrogate)

    def op_count(self, xs: Tensor) -> int:
        steps, channels, n_exp = int(xs.shape[0]), int(xs.shape[-1]), len(EXPERTS)
        positions = xs.numel() // (steps * channels)  # B·(*) gate vectors of T·C values
        return xs.numel() * HDLIF_OPS_PER_ELEMENT + positions * (2 * n_exp * steps * channels + 3 * n_exp - 1)

    def extra_repr(self) -> str:
        width = self.gate_weight.shape[1]
        return f"gate_inputs={width}, v_th={self.v_th:g}, tau={self.tau:g}, v_th_out={self.v_th_out:g}"
