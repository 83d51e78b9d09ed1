r"""NALSM: a LIF liquid whose STDP depression rate is set by an astrocyte (Ivanov & Michmizos 2021; reference §3.2).

**Liquid** (one step of ``dt``, per neuron; refractory neurons are held at 0):

.. math::
    i(t) = e^{-dt/\tau_s}\,i(t-1) + W z(t-1) + g_{in} W_{in} u(t), \qquad
    v(t) = v(t-1) + \frac{dt}{\tau_v}\big(-v(t-1) + R\,i(t)\big), \qquad z(t) = [v(t) \ge V_{th}]

then ``v ← 0`` and ``ref_steps`` refractory steps after a spike. ``W [N, N]`` is a 3-D grid
(:func:`~.connectivity.grid_mask`, ``C·exp(−(D/λ)²)``) with Dale signs; ``τ_s`` is 1 or 2 ms per neuron.

**Astrocyte-modulated STDP** (phase 1, :meth:`NALSM.organize`): one
:class:`~spikeforge.plasticity.astrocyte.Astrocyte` senses
``x = Σ liquid spikes − Σ input spikes`` of each step (batch mean) and its output ``A`` is the depression
rate of :func:`spikeforge.plasticity.stdp_step` (exact traces, ``τ = 10`` ms, jump ``a = 0.1``):

- excitatory and input synapses: ``ΔW = η₊ (post ⊗ x_pre) − A (y_post ⊗ pre)``;
- inhibitory synapses, roles swapped: ``ΔW = −A (post ⊗ x_pre) + η₊ (y_post ⊗ pre)``;

then ``W_E ∈ [0, w_max]``, ``W_I ∈ [−w_max, 0]``, ``W_in ∈ [−w_in_max, w_in_max]`` (clipped; absent synapses
stay absent). Without the astrocyte (``astrocyte=False``) ``A`` stays at its rest value ``b``: plain STDP.
A presynaptic liquid spike of step t−1 is paired with the postsynaptic spikes of step t (it arrives then).

**Phase 2** (:meth:`NALSM.spike_counts`): the liquid is frozen; the readout is trained on spike counts
(:class:`~.readout.Ridge` here; NALSM trains one layer by gradient descent).

Our parameters follow the NALSM code where the reference gives them (τ_v = 64 ms, R = 64, V_th = 20,
2 ms refractory, τ_s ∈ {1, 2} ms, C = (0.2, 0.1, 0.3, 0.05), λ = 3, input density 0.15, bounds 3, η₊ = 0.15,
τ_A = 100 ms, w_A = 0.015); the initial weights, the input gain and the astrocyte rest value ``b`` are not
given by the reference and are our choices (:class:`NALSMConfig`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..plasticity import STDPParams, STDPState, stdp_step
from ..plasticity.astrocyte import AstrocyteParams, AstrocyteState, astrocyte_step
from .connectivity import grid_mask, input_projection

__all__ = ["NALSM", "NALSMConfig", "NALSMState", "nalsm_step", "OrganizeLog"]


@dataclass(frozen=True)
class NALSMConfig:
    shape: tuple[int, int, int] = (10, 10, 10)  # grid; N = 1000 (NALSM's smallest liquid)
    frac_inh: float = 0.2  # inhibitory fraction
    lam: float = 3.0  # connection length λ
    c: tuple[float, float, float, float] = (0.2, 0.1, 0.3, 0.05)  # C for EE, EI, IE, II (first = presynaptic)
    w_exc: float = 1.0  # initial excitatory magnitude, U(0, 2·w_exc) (our choice)
    w_inh: float = 1.0  # initial inhibitory magnitude, U(0, 2·w_inh) (our choice)
    w_max: float = 3.0  # |W| bound for liquid synapses
    input_density: float = 0.15  # fraction of (neuron, input) pairs connected, random sign
    w_in_max: float = 3.0  # |W_in| bound; initial W_in ~ U(-w_in_max, w_in_max)
    input_gain: float = 1.0  # current per input spike and unit weight (our choice)
    tau_mem: float = 64e-3  # τ_v [s]
    r: float = 64.0  # membrane resistance R
    v_th: float = 20.0  # threshold V_th
    ref_steps: int = 2  # refractory period in steps
    tau_syn: tuple[float, float] = (1e-3, 2e-3)  # synaptic τ_s, drawn uniformly per neuron [s]
    dt: float = 1e-3  # step [s]
    eta_plus: float = 0.15  # fixed potentiation rate η₊
    tau_trace: float = 10e-3  # STDP trace time constant [s]
    a_trace: float = 0.1  # trace jump per spike (NALSM code)
    astro_tau: float = 100e-3  # τ_A [s]
    astro_w: float = 0.015  # w_A
    astro_bias: float = 0.15  # rest value b of A (our choice: = η₊, so A = η₊ when liquid and input counts match)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dt <= 0 or self.tau_mem < self.dt or min(self.tau_syn) <= 0:
            raise ValueError(f"NALSMConfig: need 0 < dt <= tau_mem and tau_syn > 0, got dt={self.dt}, "
                             f"tau_mem={self.tau_mem}, tau_syn={self.tau_syn}")
        if not 0.0 <= self.frac_inh <= 1.0 or not 0.0 <= self.input_density <= 1.0:
            raise ValueError("NALSMConfig: frac_inh and input_density must be in [0, 1]")


class NALSMState(NamedTuple):
    v: Tensor  # [B, N] membrane
    i: Tensor  # [B, N] synaptic current
    ref: Tensor  # [B, N] refractory steps left
    z: Tensor  # [B, N] spikes of the last step


class OrganizeLog(NamedTuple):
    astrocyte: Tensor  # [T] A per step
    rate: Tensor  # [T] mean liquid spikes per neuron per step
    spikes: Tensor  # [T, B, N] liquid spikes (for the branching factor)


def nalsm_step(u: Tensor, state: NALSMState, w: Tensor, w_in: Tensor, decay_syn: Tensor,
               cfg: NALSMConfig) -> tuple[Tensor, NALSMState]:
    """One liquid step (module docstring): ``u [B, n_in]`` input spikes -> ``z [B, N]``, new state."""
    i = decay_syn * state.i + state.z @ w.T + cfg.input_gain * (u @ w_in.T)  # [B, N]
    v = state.v + cfg.dt / cfg.tau_mem * (cfg.r * i - state.v)
    refractory = state.ref > 0
    v = torch.where(refractory, torch.zeros_like(v), v)
    z = (v >= cfg.v_th).to(v.dtype)
    v = torch.where(z > 0, torch.zeros_like(v), v)
    ref = torch.where(z > 0, torch.full_like(state.ref, float(cfg.ref_steps)), (state.ref - 1).clamp(min=0))
    return z, NALSMState(v=v, i=i, ref=ref, z=z)


class NALSM(nn.Module):
    """Neuron-astrocyte liquid state machine; ``forward(u [T, B, n_in]) -> spikes [T, B, N]`` (frozen liquid).

    Example:
        >>> lsm = NALSM(8, NALSMConfig(shape=(4, 4, 4)))
        >>> u = (torch.rand(40, 2, 8, generator=torch.Generator().manual_seed(0)) < 0.2).float()
        >>> log = lsm.organize(u)                  # phase 1: astrocyte-modulated STDP, in place
        >>> lsm.spike_counts(u).shape              # phase 2 features: spike counts per neuron
        torch.Size([2, 64])
    """

    w: Tensor  # [N, N] liquid weights, Dale-signed columns
    w_in: Tensor  # [N, n_in]
    mask: Tensor  # [N, N] bool, existing liquid synapses
    mask_in: Tensor  # [N, n_in] bool, existing input synapses
    is_inh: Tensor  # [N] bool; neurons are numbered excitatory first (``n_exc`` of them), then inhibitory
    decay_syn: Tensor  # [N] e^{-dt/τ_s}

    def __init__(self, n_in: int, cfg: NALSMConfig | None = None) -> None:
        super().__init__()
        cfg = NALSMConfig() if cfg is None else cfg
        g = torch.Generator()
        g.manual_seed(cfg.seed)
        c = dict(zip(("EE", "EI", "IE", "II"), cfg.c))
        mask, is_inh, _ = grid_mask(cfg.shape, frac_inh=cfg.frac_inh, lam=cfg.lam, c=c, seed=g)
        order = torch.argsort(is_inh.to(torch.int8), stable=True)  # excitatory neurons first, then inhibitory
        mask, is_inh = mask[order][:, order], is_inh[order]  # [N, N] relabelled; the graph is unchanged
        n = mask.shape[0]
        u01 = torch.rand(n, n, generator=g)
        mag = torch.where(is_inh[None, :], -2 * cfg.w_inh * u01, 2 * cfg.w_exc * u01)
        self.register_buffer("w", (mag * mask).clamp(-cfg.w_max, cfg.w_max))
        w_in = input_projection(n, n_in, density=cfg.input_density, scale=cfg.w_in_max, seed=g).float()
        self.register_buffer("w_in", w_in)
        self.register_buffer("mask", mask)
        self.register_buffer("mask_in", w_in != 0)
        self.register_buffer("is_inh", is_inh)
        taus = torch.tensor(cfg.tau_syn)[torch.randint(0, len(cfg.tau_syn), (n,), generator=g)]
        self.register_buffer("decay_syn", torch.exp(-cfg.dt / taus))
        self.cfg, self.n, self.n_in, self.n_exc = cfg, n, n_in, int((~is_inh).sum())

    def init_state(self, batch: int) -> NALSMState:
        z = torch.zeros(batch, self.n, dtype=self.w.dtype, device=self.w.device)
        return NALSMState(v=z, i=z.clone(), ref=z.clone(), z=z.clone())

    def _check(self, u: Tensor) -> Tensor:
        if u.ndim != 3 or u.shape[-1] != self.n_in:
            raise ValueError(f"NALSM: input must be [T, B, {self.n_in}], got {tuple(u.shape)}")
        if not bool(((u == 0) | (u == 1)).all()):
            raise ValueError("NALSM: input must be binary spikes (0 or 1)")
        return u.to(self.w.dtype)

    def forward(self, u: Tensor, state: NALSMState | None = None) -> Tensor:
        u = self._check(u)
        state = self.init_state(u.shape[1]) if state is None else state
        out = []
        for t in range(u.shape[0]):
            z, state = nalsm_step(u[t], state, self.w, self.w_in, self.decay_syn, self.cfg)
            out.append(z)
        return torch.stack(out)

    @torch.no_grad()
    def spike_counts(self, u: Tensor) -> Tensor:
        """Phase-2 features: spikes per neuron over the presentation, ``[B, N]`` (liquid from rest)."""
        return self(u).sum(0)

    def _stdp_params(self, a: float) -> tuple[STDPParams, STDPParams]:
        cfg = self.cfg
        common = {"tau_pre": cfg.tau_trace, "tau_post": cfg.tau_trace, "a_pre": cfg.a_trace, "a_post": cfg.a_trace}
        exc = STDPParams(eta_plus=cfg.eta_plus, eta_minus=a, **common)
        inh = STDPParams(eta_plus=-a, eta_minus=-cfg.eta_plus, **common)  # roles swapped on inhibitory synapses
        return exc, inh

    @torch.no_grad()
    def organize(self, u: Tensor, *, astrocyte: bool = True, state: NALSMState | None = None) -> OrganizeLog:
        """Phase 1: run ``u [T, B, n_in]`` with astrocyte-modulated STDP (module docstring), changing ``w`` and
        ``w_in`` in place. ``dw`` is summed over the batch (each sample counts as if presented alone); the
        astrocyte senses the batch-mean counts. Returns the per-step log."""
        u = self._check(u)
        cfg, ne, b = self.cfg, self.n_exc, u.shape[1]
        state = self.init_state(b) if state is None else state
        w_e, w_i = self.w[:, :ne], self.w[:, ne:]  # views: excitatory and inhibitory columns
        m_e, m_i = self.mask[:, :ne].to(self.w.dtype), self.mask[:, ne:].to(self.w.dtype)
        m_in = self.mask_in.to(self.w.dtype)
        zeros = torch.zeros(b, self.n, dtype=self.w.dtype)
        tr_e = STDPState(x=zeros[:, :ne].clone(), y=zeros.clone())
        tr_i = STDPState(x=zeros[:, ne:].clone(), y=zeros.clone())
        tr_in = STDPState(x=torch.zeros(b, self.n_in, dtype=self.w.dtype), y=zeros.clone())
        astro_p = AstrocyteParams(tau=cfg.astro_tau, w=cfg.astro_w, bias=cfg.astro_bias)
        astro = AstrocyteState(a=torch.tensor(cfg.astro_bias, dtype=torch.float64))
        a_log, rate_log, spikes = [], [], []
        for t in range(u.shape[0]):
            z_prev = state.z
            z, state = nalsm_step(u[t], state, self.w, self.w_in, self.decay_syn, cfg)
            if astrocyte:
                sensed = (z.sum() - u[t].sum()) / b  # liquid minus input spikes this step (batch mean)
                _, astro = astrocyte_step(sensed.to(torch.float64), astro, astro_p, dt=cfg.dt)
            a_val = float(astro.a)
            p_exc, p_inh = self._stdp_params(a_val)
            dw_e, tr_e = stdp_step(z_prev[:, :ne], z, tr_e, w_e, p_exc, dt=cfg.dt, reduce="sum")
            dw_i, tr_i = stdp_step(z_prev[:, ne:], z, tr_i, w_i, p_inh, dt=cfg.dt, reduce="sum")
            dw_in, tr_in = stdp_step(u[t], z, tr_in, self.w_in, p_exc, dt=cfg.dt, reduce="sum")
            w_e.add_(dw_e * m_e).clamp_(0.0, cfg.w_max)
            w_i.add_(dw_i * m_i).clamp_(-cfg.w_max, 0.0)
            self.w_in.add_(dw_in * m_in).clamp_(-cfg.w_in_max, cfg.w_in_max)
            a_log.append(a_val)
            rate_log.append(float(z.mean()))
            spikes.append(z)
        if not all(math.isfinite(x) for x in a_log):
            raise FloatingPointError("NALSM.organize: astrocyte output became non-finite")
        return OrganizeLog(astrocyte=torch.tensor(a_log), rate=torch.tensor(rate_log), spikes=torch.stack(spikes))
