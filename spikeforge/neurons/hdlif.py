"""HD-LIF: STEP's gated mixture of four spiking neurons (IF, LIF, PLIF, EIF) read out by a threshold.

Not registered in ``NEURONS``, for the same reason as :mod:`~spikeforge.neurons.psn`: the gate of
every step reads the input at *every* step of a fixed-length window (non-causal, fixed ``T``), so
the neuron contract (``step``, runs continued from a returned state, any ``T``) cannot hold.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..surrogate import Sigmoid, Surrogate, get_surrogate
from ._base import check_sequence

__all__ = ["HDLIF", "HDLIFParams", "hdlif_experts", "hdlif_run"]

EXPERTS = ("if", "lif", "plif", "eif")


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


class HDLIF(nn.Module):
    r"""HD-LIF layer for sequences of exactly ``t_steps`` steps of ``features`` channels; see :func:`hdlif_run`.

    Learnable: the gate (``nn.Linear(T·C, 4)``'s default initialisation, STEP's ``Conv1d`` with kernel
    1) and PLIF's rate parameter ``w`` (init :math:`-\log(\tau - 1) = 0`, factor 0.5). In training mode
    the gate mixes all four experts; in eval mode only the top 2 (STEP's inference path).

    Inputs/Outputs:
        ``forward(xs)``: ``xs [T, B, *, C]`` → spikes ``[T, B, *, C]``.

    Example:
        >>> zs = HDLIF(features=16, t_steps=4)(torch.rand(4, 2, 16))
    """

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
        self.surrogate = Sigmoid(alpha=4.0) if surrogate is None else get_surrogate(surrogate)

    def params(self, dtype: torch.dtype) -> HDLIFParams:
        return HDLIFParams(self.gate_weight.to(dtype), self.gate_bias.to(dtype), self.plif_w.to(dtype),
                           v_th=self.v_th, tau=self.tau, v_th_out=self.v_th_out)

    def forward(self, xs: Tensor) -> Tensor:
        check_sequence(xs, "HDLIF")
        return hdlif_run(xs, self.params(xs.dtype), top_k=None if self.training else 2, surrogate=self.surrogate)

    def extra_repr(self) -> str:
        width = self.gate_weight.shape[1]
        return f"gate_inputs={width}, v_th={self.v_th:g}, tau={self.tau:g}, v_th_out={self.v_th_out:g}"
