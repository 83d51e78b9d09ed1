r"""The liquid state machine of Maass, Natschläger & Markram (2002), event-driven.

**Network** (:func:`build_maass`, parameters in :class:`MaassConfig`). ``N = 15·3·3 = 135`` neurons on
a grid, 20 % inhibitory at random; ``pre → post`` connected with probability
:math:`C_{pp'}\,e^{-(D/\lambda)^2}` (:func:`~.connectivity.grid_mask`). Every synapse has an amplitude
``A`` (gamma-distributed, mean per population pair, sign by Dale's law), a transmission delay, and
Tsodyks–Markram parameters ``U, D, F`` drawn from Gaussians with SD 50 % of the pair's mean
(:mod:`.stp`).

**Neuron** ``j`` (units: mV, nA, MΩ, s), frozen for ``t_ref`` after a spike:

.. math::
    \tau_m \dot v_j = -v_j + R\,(I_b + I^{ext}_j + I^E_j + I^I_j + I^{in}_j),\qquad
    \dot I^E_j = -I^E_j/\tau_E,\ \ \dot I^I_j = -I^I_j/\tau_I,\ \ \dot I^{in}_j = -I^{in}_j/\tau^{in}_j

spike when :math:`v_j > V_{thr}`, then :math:`v_j = V_{reset}`. A spike of ``i`` at time ``t`` adds
:math:`A_s\,e_s` to :math:`I^E_j` (``i`` excitatory) or :math:`I^I_j` (inhibitory) at :math:`t + d_s`,
where :math:`e_s` is the synapse's Tsodyks–Markram efficacy (``e_s = 1`` with ``stp=False``); an input
spike on channel ``k`` adds :math:`W^{in}_{jk}` to :math:`I^{in}_j` at once.

**Step** ``t`` of :func:`maass_step` (the order of Brian2's schedule, so both simulate the same thing):

1. integrate over ``dt`` exactly (the linear ODEs above, currents constant-free between events):
   :math:`v' = v\,e^{-dt/\tau_m} + R(I_b + I^{ext})(1 - e^{-dt/\tau_m}) + \sum_c R\,I_c\,\kappa(\tau_c)`,
   :math:`\kappa(\tau) = \frac{\tau}{\tau - \tau_m}(e^{-dt/\tau} - e^{-dt/\tau_m})`, :math:`I_c \leftarrow
   I_c e^{-dt/\tau_c}`; ``v`` stays frozen for refractory neurons;
2. threshold (non-refractory neurons only);
3. spikes update the dynamic synapses of their outgoing rows only (relaxed over the time since the
   neuron's previous spike, :func:`~.stp.tm_step`) and schedule ``A·e`` in a ring buffer ``d`` steps ahead;
4. the currents arriving at ``t`` (recurrent, and this step's input spikes) are added;
5. reset; a neuron spiking at ``t`` may fire again at ``t + round(t_ref/dt)``.

A delay of ``d`` steps is a physical delay ``d·dt`` (Brian2's ``delay``).

Values from the reference (§3.1, read in Brian2's ``frompapers`` reproduction) unless tagged. Tagged
**[S]** (that reproduction, not re-read in the paper): gamma ``A`` with SD = mean (``a_cv = 1``),
input currents decaying with 3 ms (onto E) / 6 ms (onto I), input to every neuron, static input synapses.
Tagged **[R]** (recalled, not verified): non-positive ``U, D, F`` draws (and ``U > 1``) are redrawn
uniformly in ``(0, 2·mean)`` (capped at 1 for ``U``). The paper's noise current is not in the reference;
pass your own through ``current``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..numerics import check_finite
from ..sim.engine import _expand
from ..sim.graph import SparseGraph, from_edges
from .connectivity import grid_mask
from .stp import TMParams, TMState, tm_step

__all__ = ["LSM", "LSMState", "MaassConfig", "MaassNetwork", "PerPair", "build_maass", "maass_init_state",
           "maass_step"]


class PerPair(NamedTuple):
    """One value per population pair; first letter = presynaptic (``ei``: E → I)."""

    ee: float
    ei: float
    ie: float
    ii: float


@dataclass(frozen=True)
class MaassConfig:
    """Maass et al. (2002) liquid; defaults are the published values (reference §3.1)."""

    shape: tuple[int, int, int] = (15, 3, 3)  # grid; N = product
    frac_inh: float = 0.2  # fraction of inhibitory neurons
    lam: float = 2.0  # λ of C·exp(−(D/λ)²) (the paper also uses 4, 8)
    c: PerPair = PerPair(0.3, 0.2, 0.4, 0.1)  # C per pair
    a: PerPair = PerPair(30.0, 60.0, -19.0, -19.0)  # mean amplitude A [nA]; sign = Dale's law
    a_cv: float = 1.0  # SD/mean of the gamma-distributed |A| [S]
    U: PerPair = PerPair(0.5, 0.05, 0.25, 0.32)  # utilisation
    D: PerPair = PerPair(1.1, 0.125, 0.7, 0.144)  # recovery time constant [s]
    F: PerPair = PerPair(0.05, 1.2, 0.02, 0.06)  # facilitation time constant [s]
    udf_cv: float = 0.5  # SD/mean of the Gaussian U, D, F draws
    stp: bool = True  # Tsodyks–Markram synapses (False: static, efficacy 1)
    tau_syn: tuple[float, float] = (3e-3, 6e-3)  # synaptic current decay, from E / from I [s]
    delay: PerPair = PerPair(1.5e-3, 0.8e-3, 0.8e-3, 0.8e-3)  # transmission delay [s]
    tau_mem: float = 30e-3  # membrane time constant [s]
    r_in: float = 1.0  # input resistance [MΩ]
    i_b: float = 13.5  # background current [nA]
    v_th: float = 15.0  # threshold [mV]
    v_reset: float = 13.5  # reset [mV]
    t_ref: tuple[float, float] = (3e-3, 2e-3)  # refractory period of E / I neurons [s]
    v0: tuple[float, float] = (13.5, 15.0)  # initial membrane ~ U(lo, hi) [mV]
    a_in: tuple[float, float] = (18.0, 9.0)  # input amplitude onto E / onto I [nA]
    tau_in: tuple[float, float] = (3e-3, 6e-3)  # input current decay onto E / onto I [s] [S]
    input_density: float = 1.0  # fraction of (neuron, input channel) pairs connected [S]
    dt: float = 1e-4  # step [s]

    def __post_init__(self) -> None:
        if self.dt <= 0:
            raise ValueError(f"MaassConfig: dt must be > 0, got {self.dt}")
        for name in ("tau_syn", "tau_in", "t_ref"):
            if min(getattr(self, name)) < 0 or (name != "t_ref" and min(getattr(self, name)) == 0):
                raise ValueError(f"MaassConfig: {name} must be positive, got {getattr(self, name)}")
        if self.tau_mem <= 0 or self.r_in <= 0:
            raise ValueError("MaassConfig: tau_mem and r_in must be > 0")
        if min(self.delay) < self.dt * (1 - 1e-9):
            raise ValueError(f"MaassConfig: delays must be at least one step dt={self.dt}, got {self.delay}")
        if min(self.D) <= 0 or min(self.F) < 0 or not all(0 < u <= 1 for u in self.U):
            raise ValueError("MaassConfig: need U in (0, 1], D > 0, F >= 0")
        if any(a < 0 for a in (self.a.ee, self.a.ei)) or any(a > 0 for a in (self.a.ie, self.a.ii)):
            raise ValueError(f"MaassConfig: Dale's law: a.ee, a.ei must be >= 0 and a.ie, a.ii <= 0, got {self.a}")
        if self.a_cv <= 0 or self.udf_cv < 0 or not 0 <= self.input_density <= 1:
            raise ValueError("MaassConfig: need a_cv > 0, udf_cv >= 0, input_density in [0, 1]")


class MaassNetwork(NamedTuple):
    """A drawn liquid; per-synapse arrays are in the graph's CSR (presynaptic-major) order."""

    graph: SparseGraph  # w = signed amplitude A [nA], delay in steps
    target: Tensor  # [S] index into the [2N] currents: post (from E) or N + post (from I)
    U: Tensor  # [S]
    D: Tensor  # [S] [s]
    F: Tensor  # [S] [s]
    is_inh: Tensor  # [N] bool
    pos: Tensor  # [N, 3] grid coordinates
    w_in: Tensor  # [N, n_in] input amplitudes [nA]
    n_ref: Tensor  # [N] steps held after a spike: round(t_ref/dt) − 1 (≥ 0)
    v0: Tensor  # [N] initial membrane [mV]
    decay_syn: Tensor  # [2N] e^{-dt/τ} of the E-type then I-type currents
    kappa_syn: Tensor  # [2, N] R κ(τ) of the two current types
    decay_in: Tensor  # [N]
    kappa_in: Tensor  # [N]
    cfg: MaassConfig


_NET_TENSORS = tuple(f for f in MaassNetwork._fields if f not in ("graph", "cfg"))


class LSMState(NamedTuple):
    v: Tensor  # [B, N] membrane [mV]
    i_syn: Tensor  # [B, 2N] synaptic currents: from E (first N), from I (last N) [nA]
    i_in: Tensor  # [B, N] input current [nA]
    ref: Tensor  # [B, N] int: refractory steps left
    buf: Tensor  # [L, B, 2N] currents arriving in the next L steps (slot t % L is step t)
    u: Tensor  # [B, S] synaptic utilisation
    r: Tensor  # [B, S] synaptic resources
    last: Tensor  # [B, N] int: step of each neuron's last spike
    t: int  # steps simulated


def _kappa(tau: Tensor, tau_m: float, dt: float) -> Tensor:
    """κ(τ) = τ/(τ − τ_m)(e^{−dt/τ} − e^{−dt/τ_m}); the limit (dt/τ_m) e^{−dt/τ_m} at τ = τ_m."""
    em = math.exp(-dt / tau_m)
    same = (tau - tau_m).abs() < 1e-12
    safe = torch.where(same, tau + 1.0, tau)
    return torch.where(same, dt / tau_m * em, safe / (safe - tau_m) * (torch.exp(-dt / safe) - em))


def _draw_positive(rng: np.random.Generator, mean: np.ndarray, cv: float, hi: float = math.inf) -> np.ndarray:
    """Gaussian(mean, cv·mean); draws outside (0, hi] are redrawn from U(0, min(2·mean, hi)) [R]."""
    x = rng.normal(mean, cv * mean)
    bad = (x <= 0) | (x > hi)
    x[bad] = rng.uniform(0.0, np.minimum(2 * mean[bad], hi))
    return x


def build_maass(n_in: int, cfg: MaassConfig = MaassConfig(), *, seed: int = 0,
                dtype: torch.dtype = torch.float64) -> MaassNetwork:
    """Draw a liquid (connectivity, amplitudes, delays, U/D/F, input weights, initial membrane)."""
    if n_in < 1:
        raise ValueError(f"build_maass: n_in must be >= 1, got {n_in}")
    g = torch.Generator().manual_seed(seed)
    c = {k.upper(): v for k, v in cfg.c._asdict().items()}  # {"EE": .., "EI": .., ...}
    mask, is_inh, pos = grid_mask(cfg.shape, frac_inh=cfg.frac_inh, lam=cfg.lam, c=c, seed=g)
    rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=g)))
    n = mask.shape[0]
    pre, post = mask.T.nonzero(as_tuple=True)  # presynaptic-major = CSR order
    kind = (2 * is_inh[pre].long() + is_inh[post].long()).numpy()  # 0 EE, 1 EI, 2 IE, 3 II
    pick = (lambda pp: np.asarray(pp, dtype=np.float64)[kind])  # noqa: E731  per-synapse value of a PerPair
    a_mean = pick(cfg.a)
    shape_k = 1.0 / cfg.a_cv**2  # gamma with mean |a| and SD a_cv·|a|
    amp = np.sign(a_mean) * rng.gamma(shape_k, np.abs(a_mean) / shape_k)
    U = _draw_positive(rng, pick(cfg.U), cfg.udf_cv, hi=1.0)
    D = _draw_positive(rng, pick(cfg.D), cfg.udf_cv)
    F = _draw_positive(rng, pick(cfg.F), cfg.udf_cv) if min(cfg.F) > 0 else pick(cfg.F)
    delay = np.rint(pick(cfg.delay) / cfg.dt).astype(np.int64)
    graph = from_edges(pre, post, n, w=torch.from_numpy(amp).to(dtype), delay=torch.from_numpy(delay), dtype=dtype)
    if not torch.equal(graph.col, post):
        raise AssertionError("build_maass: synapse order differs from CSR order")
    inh_f = is_inh.to(dtype)
    in_mask = torch.rand(n, n_in, generator=g, dtype=torch.float64) < cfg.input_density
    w_in = in_mask.to(dtype) * torch.where(is_inh, cfg.a_in[1], cfg.a_in[0]).to(dtype)[:, None]  # [N, n_in]
    n_ref = torch.where(is_inh, round(cfg.t_ref[1] / cfg.dt), round(cfg.t_ref[0] / cfg.dt))
    v0 = cfg.v0[0] + (cfg.v0[1] - cfg.v0[0]) * torch.rand(n, generator=g, dtype=torch.float64)
    tau_syn = torch.tensor(cfg.tau_syn, dtype=torch.float64).repeat_interleave(n)  # [2N]
    tau_in = cfg.tau_in[0] + (cfg.tau_in[1] - cfg.tau_in[0]) * inh_f.double()  # [N]
    return MaassNetwork(
        graph=graph, target=post + n * is_inh[pre].long(),
        U=torch.from_numpy(U).to(dtype), D=torch.from_numpy(D).to(dtype), F=torch.from_numpy(F).to(dtype),
        is_inh=is_inh, pos=pos, w_in=w_in, n_ref=(n_ref - 1).clamp_min(0).to(torch.int32), v0=v0.to(dtype),
        decay_syn=torch.exp(-cfg.dt / tau_syn).to(dtype),
        kappa_syn=(cfg.r_in * _kappa(tau_syn, cfg.tau_mem, cfg.dt)).reshape(2, n).to(dtype),  # [2N] -> [2, N]
        decay_in=torch.exp(-cfg.dt / tau_in).to(dtype),
        kappa_in=(cfg.r_in * _kappa(tau_in, cfg.tau_mem, cfg.dt)).to(dtype), cfg=cfg)


def maass_init_state(net: MaassNetwork, batch: int = 1, v0: Tensor | None = None) -> LSMState:
    """Liquid at ``v0`` (default: the drawn ``v0 [N]``; or ``[N]`` / ``[B, N]``), currents 0, synapses at rest."""
    n, s = net.is_inh.numel(), net.graph.n_synapses
    dt, dev = net.v0.dtype, net.v0.device
    v = (net.v0 if v0 is None else v0.to(dev, dt)).expand(batch, n).clone()
    return LSMState(
        v=v, i_syn=torch.zeros(batch, 2 * n, dtype=dt, device=dev), i_in=torch.zeros(batch, n, dtype=dt, device=dev),
        ref=torch.zeros(batch, n, dtype=torch.int32, device=dev),
        buf=torch.zeros(net.graph.max_delay + 1, batch, 2 * n, dtype=dt, device=dev),
        u=torch.zeros(batch, s, dtype=dt, device=dev), r=torch.ones(batch, s, dtype=dt, device=dev),
        last=torch.zeros(batch, n, dtype=torch.long, device=dev), t=0)


def maass_step(x: Tensor | None, state: LSMState, net: MaassNetwork, *, current: Tensor | None = None,
               inplace: bool = False) -> tuple[Tensor, LSMState]:
    """One step (module docstring); returns ``(z [B, N] bool, state)``.

    Args:
        x: Input spikes (or counts) of this step ``[B, n_in]``, or None.
        state: State before the step.
        net: The liquid (:func:`build_maass`).
        current: Extra current ``I^{ext}`` [nA] held over the step, broadcastable to ``[B, N]`` (e.g. noise).
        inplace: Update the ring buffer and synapse state in place (what :class:`LSM` does on its own copy).
    """
    cfg, g = net.cfg, net.graph
    B, N = state.v.shape
    em = math.exp(-cfg.dt / cfg.tau_mem)
    drive = cfg.r_in * cfg.i_b if current is None else cfg.r_in * (cfg.i_b + current)
    syn = (state.i_syn.view(B, 2, N) * net.kappa_syn).sum(1)  # [B, 2N] -> [B, 2, N] -> [B, N]
    v = state.v * em + drive * (1.0 - em) + syn + state.i_in * net.kappa_in
    active = state.ref == 0
    v = torch.where(active, v, state.v)
    z = active & (v > cfg.v_th)
    i_syn = state.i_syn * net.decay_syn
    i_in = state.i_in * net.decay_in
    buf = state.buf if inplace else state.buf.clone()
    u, r, last = (state.u, state.r, state.last) if inplace else (state.u.clone(), state.r.clone(), state.last.clone())
    b, i = z.nonzero(as_tuple=True)
    if i.numel():
        ev, s = _expand(g.crow, i)  # outgoing synapses of the spiking neurons, CSR positions
        bb = b[ev]
        amp = g.w[s]
        if cfg.stp:
            k = bb * u.shape[1] + s  # flat index into [B, S]
            uf, rf = u.view(-1), r.view(-1)
            elapsed = (state.t - last[bb, i[ev]]).to(u.dtype) * cfg.dt  # since the neuron's last spike
            e, new = tm_step(1.0, TMState(uf[k], rf[k]), TMParams(net.U[s], net.D[s], net.F[s]), dt=elapsed)
            uf[k], rf[k] = new.u, new.r
            amp = amp * e
        L = buf.shape[0]
        flat = (((state.t + g.delay[s]) % L) * B + bb) * (2 * N) + net.target[s]  # into [L, B, 2N]
        buf.view(-1).index_add_(0, flat, amp)
        last[b, i] = state.t
    slot = buf[state.t % buf.shape[0]]  # [B, 2N] arriving now
    i_syn = i_syn + slot
    slot.zero_()
    if x is not None:
        i_in = i_in + x.to(i_in.dtype) @ net.w_in.T  # [B, n_in] @ [n_in, N] -> [B, N]
    v = v.masked_fill(z, cfg.v_reset)
    ref = torch.where(z, net.n_ref, (state.ref - 1).clamp_min(0))
    return z, LSMState(v=v, i_syn=i_syn, i_in=i_in, ref=ref, buf=buf, u=u, r=r, last=last, t=state.t + 1)


class LSM(nn.Module):
    """Maass liquid; ``forward(x [T, B, n_in]) -> (spikes [T, B, N] bool, state)``.

    The drawn network (:func:`build_maass`) is held in buffers (fixed, not trained; they follow
    ``.to()`` and ``state_dict``); ``lsm.net`` returns it as a :class:`MaassNetwork`. ``current``
    (optional ``[T, B, N]`` or broadcastable per step) adds ``I^{ext}``.

    Example:
        >>> lsm = LSM(1, seed=0)
        >>> x = torch.zeros(2000, 1, 1, dtype=torch.float64); x[::200] = 1   # 50 Hz input, 200 ms
        >>> z, state = lsm(x); z.shape, lsm.net.is_inh.sum().item()
        (torch.Size([2000, 1, 135]), 27)
    """

    def __init__(self, n_in: int, cfg: MaassConfig = MaassConfig(), *, seed: int = 0,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        net = build_maass(n_in, cfg, seed=seed, dtype=dtype)
        for name, t in net.graph._asdict().items():
            if isinstance(t, Tensor):
                self.register_buffer(f"graph_{name}", t)
        for name in _NET_TENSORS:
            self.register_buffer(name, getattr(net, name))
        self.cfg, self._n_post = cfg, net.graph.n_post
        self.n_in, self.n = n_in, net.is_inh.numel()

    @property
    def net(self) -> MaassNetwork:
        """The liquid as a :class:`MaassNetwork` (views of the buffers)."""
        g = SparseGraph(**{f: getattr(self, f"graph_{f}") for f in SparseGraph._fields if f != "n_post"},
                        n_post=self._n_post)
        return MaassNetwork(graph=g, cfg=self.cfg, **{f: getattr(self, f) for f in _NET_TENSORS})

    def init_state(self, batch: int = 1, v0: Tensor | None = None) -> LSMState:
        return maass_init_state(self.net, batch, v0)

    def forward(self, x: Tensor, state: LSMState | None = None,
                current: Tensor | None = None) -> tuple[Tensor, LSMState]:
        if x.ndim != 3 or x.shape[-1] != self.n_in:
            raise ValueError(f"LSM: input must be [T, B, {self.n_in}], got {tuple(x.shape)}")
        T, B = x.shape[:2]
        net = self.net
        s = maass_init_state(net, B) if state is None else state
        if s.v.shape[0] != B:
            raise ValueError(f"LSM: state has batch {s.v.shape[0]} but the input has {B}")
        if current is not None:
            if current.ndim == 3 and current.shape[0] != T:
                raise ValueError(f"LSM: current has {current.shape[0]} steps but the input has {T}")
            try:
                (current[0] if current.ndim == 3 else current).expand(B, self.n)
            except RuntimeError:
                raise ValueError(f"LSM: current of shape {tuple(current.shape)} must be [T, B, N] or broadcast "
                                 f"to [B, N] = [{B}, {self.n}]") from None
        check_finite(x, "spikeforge.reservoir.LSM", "input")
        if current is not None:
            check_finite(current, "spikeforge.reservoir.LSM", "current", time_major=current.ndim == 3)
        s = s._replace(buf=s.buf.clone(), u=s.u.clone(), r=s.r.clone(), last=s.last.clone())  # owned copies
        out = torch.zeros(T, B, self.n, dtype=torch.bool, device=x.device)
        for t in range(T):
            c = current[t] if current is not None and current.ndim == 3 else current
            out[t], s = maass_step(x[t], s, net, current=c, inplace=True)
        check_finite(s.v, "spikeforge.reservoir.LSM", "membrane v", time_major=False)
        return out, s
