r"""E/I self-adapting rate reservoir (Srinivasan, Plenz & Girvan 2025; reference §3.3, checks 24–25).

.. math::
    v(t+1) = \Lambda v(t) + (A^E - A^I)\,r(t) + W_{in}u(t), \qquad r = \varphi(v - \theta),
    \qquad \varphi(x) = \frac{1}{1 + e^{-c x}}

``A^E, A^I ≥ 0`` ``[N_post, N_pre]``: excitatory columns live in ``A^E`` only and inhibitory columns in
``A^I`` only (Dale's law), ``Λ = diag(leak)``. Global balance :math:`\beta = \frac1N 1^\top(A^E - A^I)1`
(:func:`balance`; β < 0 is inhibition-dominated).

**Local inhibitory plasticity** (:func:`inhibitory_plasticity`): every existing inhibitory synapse onto
neuron *i* grows when *i* fires above its target rate :math:`\rho_i` and shrinks below it,
:math:`A^I \mathrel{+}= \delta\,M^I \odot (r - \rho)\,1^\top` (batch mean of ``r``), clipped at 0 so the
signs stay (Dale). Targets may differ per neuron (heterogeneous). The rule is an integral controller of
each neuron's rate; ``δ`` too large oscillates.

**One-shot variant** (:func:`one_shot_inhibition`): rescale row *i* of ``A^I`` by
:math:`\omega_i = [(A^E\rho)_i + (W_{in}\langle u\rangle)_i - (1 - \lambda_i)(\theta_i + \varphi^{-1}(\rho_i))]
/ (A^I\rho)_i`, which makes ``r = ρ`` the fixed point for the constant input ``⟨u⟩`` (derived here from the
update at a fixed point; the paper's exact form is not available to us, reference [—]).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .connectivity import input_projection

__all__ = ["EIParams", "EIState", "EIReservoir", "balance", "ei_step", "inhibitory_plasticity",
           "one_shot_inhibition"]


class EIParams(NamedTuple):
    leak: Tensor | float = 0.5  # λ_i in v(t+1) = λ v(t) + ...; in [0, 1)
    theta: Tensor | float = 0.0  # threshold θ of the sigmoid
    gain: float = 1.0  # slope c of φ(x) = 1 / (1 + exp(-c x))


class EIState(NamedTuple):
    v: Tensor  # [B, N] potential
    r: Tensor  # [B, N] rate φ(v - θ)


def ei_step(u: Tensor, state: EIState, a_exc: Tensor, a_inh: Tensor, w_in: Tensor,
            p: EIParams) -> tuple[Tensor, EIState]:
    """One step of the module-docstring update: ``u [B, n_in]`` -> rates ``[B, N]`` and the new state."""
    v = p.leak * state.v + state.r @ (a_exc - a_inh).T + u @ w_in.T  # [B, N]
    r = torch.sigmoid(p.gain * (v - p.theta))
    return r, EIState(v=v, r=r)


def inhibitory_plasticity(r: Tensor, target: Tensor, mask_inh: Tensor, delta: float) -> Tensor:
    r"""``ΔA^I [N, N] = δ · M^I ⊙ (r̄ − ρ) 1ᵀ`` with ``r̄`` the batch mean of ``r [B, N]``."""
    err = r.mean(0) - target  # [N] postsynaptic rate error
    return delta * mask_inh * err[:, None]


def balance(a_exc: Tensor, a_inh: Tensor) -> float:
    r""":math:`\beta = \frac1N \sum_{ij}(A^E - A^I)_{ij}` (negative: inhibition-dominated)."""
    return float((a_exc - a_inh).sum() / a_exc.shape[0])


def _logit(rho: Tensor, gain: float) -> Tensor:
    return torch.log(rho / (1 - rho)) / gain  # φ⁻¹


def one_shot_inhibition(a_exc: Tensor, a_inh: Tensor, w_in: Tensor, u_mean: Tensor, target: Tensor,
                        p: EIParams) -> Tensor:
    """Per-row factors ``ω [N]`` that make ``r = ρ`` the fixed point for constant input ``u_mean [n_in]``."""
    lam = torch.as_tensor(p.leak, dtype=a_exc.dtype)
    theta = torch.as_tensor(p.theta, dtype=a_exc.dtype)
    num = a_exc @ target + w_in @ u_mean - (1 - lam) * (theta + _logit(target, p.gain))
    den = a_inh @ target
    if bool((den <= 0).any()):
        raise ValueError(f"one_shot_inhibition: {int((den <= 0).sum())} neuron(s) receive no inhibition "
                         "(row of A^I is zero); they cannot be rescaled")
    omega = num / den
    if bool((omega < 0).any()):
        raise ValueError(f"one_shot_inhibition: {int((omega < 0).sum())} neuron(s) would need negative "
                         "inhibition to reach their target (target above the uninhibited rate)")
    return omega


class EIReservoir(nn.Module):
    """Dale's-law rate reservoir with local inhibitory adaptation; ``forward(u [T, B, n_in]) -> (r [T, B, N], state)``.

    Weights: each ordered pair connected with probability ``density``; magnitudes ``U(0, 1)`` times
    ``exc_scale / (density·N)`` (E columns) or ``inh_scale / (density·N)`` (I columns); the first
    ``round((1 − frac_inh)·N)`` neurons are excitatory; a neuron drawn with no inhibitory input gets one
    (at random), so the local rule can reach every neuron. Input ``W_in`` from
    :func:`~.connectivity.input_projection` (``input_sign``, ``input_scale``). Float64.

    Example:
        >>> res = EIReservoir(40, 1, seed=0)
        >>> target = torch.full((40,), 0.2, dtype=torch.float64)
        >>> u = torch.rand(300, 1, 1, dtype=torch.float64)
        >>> r, s = res.adapt(u, target, delta=0.02)
        >>> r.shape, bool((res.a_inh[:, : res.n_exc] == 0).all())
        (torch.Size([300, 1, 40]), True)
    """

    a_exc: Tensor  # [N, N], nonzero only in excitatory columns
    a_inh: Tensor  # [N, N], nonzero only in inhibitory columns
    mask_inh: Tensor  # [N, N] bool, the inhibitory synapses M^I (fixed: a weight clipped to 0 stays plastic)
    w_in: Tensor  # [N, n_in]

    def __init__(
        self, n: int, n_in: int, *, frac_inh: float = 0.2, density: float = 0.2, exc_scale: float = 2.0,
        inh_scale: float = 2.0, input_scale: float = 1.0, input_sign: str = "bipolar", leak: float = 0.5,
        theta: float = 0.0, gain: float = 1.0, seed: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 < frac_inh < 1.0 or not 0.0 < density <= 1.0:
            raise ValueError(f"EIReservoir: need 0 < frac_inh < 1 and 0 < density <= 1, got {frac_inh}, {density}")
        if not 0.0 <= leak < 1.0:
            raise ValueError(f"EIReservoir: leak must be in [0, 1), got {leak}")
        g = torch.Generator()
        g.manual_seed(seed)
        n_exc = round((1 - frac_inh) * n)
        mask = torch.rand(n, n, generator=g, dtype=torch.float64) < density
        mask.fill_diagonal_(False)
        exc_col = torch.arange(n) < n_exc
        # every neuron gets at least one inhibitory input, so the local rule can reach it
        lonely = ~(mask & ~exc_col[None, :]).any(1)  # [N]
        pick = n_exc + torch.randint(0, n - n_exc, (n,), generator=g)
        pick = torch.where(pick == torch.arange(n), n_exc + (pick - n_exc + 1) % (n - n_exc), pick)  # no autapse
        mask[torch.arange(n)[lonely], pick[lonely]] = True
        mag = torch.rand(n, n, generator=g, dtype=torch.float64) / (density * n)
        self.register_buffer("a_exc", torch.where(mask & exc_col[None, :], mag * exc_scale, 0.0))
        self.register_buffer("a_inh", torch.where(mask & ~exc_col[None, :], mag * inh_scale, 0.0))
        self.register_buffer("mask_inh", mask & ~exc_col[None, :])
        self.register_buffer("w_in", input_projection(n, n_in, scale=input_scale, sign=input_sign, seed=g))
        self.params = EIParams(leak=float(leak), theta=float(theta), gain=float(gain))
        self.n, self.n_in, self.n_exc = n, n_in, n_exc

    def init_state(self, batch: int) -> EIState:
        z = torch.zeros(batch, self.n, dtype=torch.float64, device=self.a_exc.device)
        return EIState(v=z, r=torch.sigmoid(self.params.gain * (z - self.params.theta)))

    def _check(self, u: Tensor) -> Tensor:
        if u.ndim != 3 or u.shape[-1] != self.n_in:
            raise ValueError(f"EIReservoir: input must be [T, B, {self.n_in}], got {tuple(u.shape)}")
        return u.to(torch.float64)

    def forward(self, u: Tensor, state: EIState | None = None) -> tuple[Tensor, EIState]:
        u = self._check(u)
        state = self.init_state(u.shape[1]) if state is None else state
        out = []
        for t in range(u.shape[0]):
            r, state = ei_step(u[t], state, self.a_exc, self.a_inh, self.w_in, self.params)
            out.append(r)
        return torch.stack(out), state

    @torch.no_grad()
    def adapt(self, u: Tensor, target: Tensor, *, delta: float, state: EIState | None = None) -> tuple[Tensor, EIState]:
        """Run ``u [T, B, n_in]`` applying :func:`inhibitory_plasticity` after every step (in place, ``A^I ≥ 0``).

        ``target``: per-neuron rates ``ρ [N]`` (or a scalar), each in (0, 1).
        """
        u = self._check(u)
        rho = torch.as_tensor(target, dtype=torch.float64).expand(self.n)
        if not bool(((rho > 0) & (rho < 1)).all()):
            raise ValueError("EIReservoir.adapt: target rates must lie in (0, 1) (sigmoid rates)")
        if not math.isfinite(delta) or delta < 0:
            raise ValueError(f"EIReservoir.adapt: delta must be a finite number >= 0, got {delta}")
        mask = self.mask_inh.to(torch.float64)
        state = self.init_state(u.shape[1]) if state is None else state
        out = []
        for t in range(u.shape[0]):
            r, state = ei_step(u[t], state, self.a_exc, self.a_inh, self.w_in, self.params)
            self.a_inh.add_(inhibitory_plasticity(r, rho, mask, delta)).clamp_(min=0.0)
            out.append(r)
        return torch.stack(out), state

    @torch.no_grad()
    def rescale_inhibition(self, target: Tensor, u_mean: Tensor) -> Tensor:
        """One-shot variant: ``A^I ← diag(ω) A^I`` with :func:`one_shot_inhibition`; returns ``ω [N]``."""
        rho = torch.as_tensor(target, dtype=torch.float64).expand(self.n)
        omega = one_shot_inhibition(self.a_exc, self.a_inh, self.w_in, torch.as_tensor(u_mean, dtype=torch.float64),
                                    rho, self.params)
        self.a_inh.mul_(omega[:, None])
        return omega
