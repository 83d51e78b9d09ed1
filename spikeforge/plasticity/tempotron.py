"""The Tempotron (Gütig & Sompolinsky 2006): a LIF-kernel neuron that learns to fire or stay silent."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._base import PLASTICITY, Rule, decay_factor

__all__ = ["Tempotron", "TempotronParams", "TempotronState", "fit_tempotron", "tempotron_kernel", "tempotron_psp",
           "tempotron_step"]


class TempotronParams(NamedTuple):
    tau: float = 15e-3  # membrane time constant of the PSP kernel [s]
    tau_s: float = 3.75e-3  # synaptic time constant of the PSP kernel [s]
    v_th: float = 1.0  # threshold (relative to rest)
    lr: float = 1e-3  # lambda, the learning rate
    momentum: float = 0.0  # mu: dw <- dw + mu * dw_prev (applied by fit_tempotron between trials)


class TempotronState(NamedTuple):
    a: Tensor  # slow PSP trace (tau) per afferent [B, N_in]
    b: Tensor  # fast PSP trace (tau_s) per afferent [B, N_in]
    v_max: Tensor  # maximum (unreset) potential so far [B, N_out]
    psp_at_max: Tensor  # PSP vector at the time of that maximum [B, N_out, N_in]
    dw_so_far: Tensor  # update the trial would get if it ended now [N_out, N_in]


def tempotron_kernel(tau: float, tau_s: float) -> tuple[float, float]:
    r"""``(t_peak, V0)`` of :math:`K(t) = V_0(e^{-t/\tau} - e^{-t/\tau_s})` normalised to a peak of 1.

    :math:`t_{peak} = \tau\tau_s\ln(\tau/\tau_s)/(\tau - \tau_s)`; for 15 / 3.75 ms: 6.9315 ms, 2.11653.
    """
    if not tau > tau_s > 0:
        raise ValueError(f"tempotron kernel needs tau > tau_s > 0, got tau={tau}, tau_s={tau_s}")
    t_peak = tau * tau_s * math.log(tau / tau_s) / (tau - tau_s)
    return t_peak, 1.0 / (math.exp(-t_peak / tau) - math.exp(-t_peak / tau_s))


def tempotron_step(pre: Tensor, target: Tensor, state: TempotronState, w: Tensor, p: TempotronParams, *,
                   dt: float = 1e-3) -> tuple[Tensor, TempotronState]:
    r"""Advance the PSP traces one step and return this step's share of the trial's update.

    .. math::
        \mathrm{psp}_i(t) = V_0(a_i - b_i),\quad a' = e^{-dt/\tau}a + s,\ b' = e^{-dt/\tau_s}b + s,\quad
        V(t) = W\,\mathrm{psp}(t)

        \Delta W = \lambda\,(\mathrm{target} - H(V_{max} - V_{th}))\;\mathrm{psp}(t_{max})

    The potential is not reset (the rule reads the unreset maximum), so the neuron fires iff
    :math:`V_{max} > V_{th}`: an error on a ⊕ trial (``target = 1``, silent) adds the PSPs at
    :math:`t_{max}`, an error on a ⊖ trial subtracts them. The returned ``dw`` telescopes: its sum over
    the trial is the Tempotron update of the whole trial, so apply it per sequence. Summed over the batch.

    Shapes:
        pre ``[B, N_in]`` spikes, target ``[B, N_out]`` in {0, 1}, w and dw ``[N_out, N_in]``.

    Example:
        >>> s = Tempotron().init_state(torch.zeros(1, 4), torch.zeros(1, 1), torch.zeros(1, 4))
        >>> dw, s = tempotron_step(torch.ones(1, 4), torch.ones(1, 1), s, torch.zeros(1, 4), TempotronParams())
    """
    _, v0 = tempotron_kernel(p.tau, p.tau_s)
    a = decay_factor(p.tau, dt) * state.a + pre
    b = decay_factor(p.tau_s, dt) * state.b + pre
    psp = v0 * (a - b)  # [B, N_in]
    v = psp @ w.transpose(0, 1)  # [B, N_out]
    new_max = v > state.v_max
    v_max = torch.where(new_max, v, state.v_max)
    psp_at_max = torch.where(new_max.unsqueeze(-1), psp.unsqueeze(1), state.psp_at_max)  # [B, N_out, N_in]
    error = target - (v_max > p.v_th).to(v.dtype)  # +1: should have fired; -1: should not have
    dw_now = p.lr * (error.unsqueeze(-1) * psp_at_max).sum(0)  # [N_out, N_in]
    return dw_now - state.dw_so_far, TempotronState(a=a, b=b, v_max=v_max, psp_at_max=psp_at_max,
                                                    dw_so_far=dw_now)


def tempotron_psp(pres: Tensor, p: TempotronParams, dt: float) -> Tensor:
    """PSP of every afferent over a trial, ``pres [T, B, N_in]`` → ``[T, B, N_in]`` (the step's traces, unrolled).

    The unreset potential is ``psp @ w.T``; the PSPs do not depend on ``w``, so a trainer computes them once.
    """
    _, v0 = tempotron_kernel(p.tau, p.tau_s)
    da, db = decay_factor(p.tau, dt), decay_factor(p.tau_s, dt)
    a = torch.zeros_like(pres[0])
    b = torch.zeros_like(pres[0])
    out = []
    for s in pres:  # s: [B, N_in]
        a = da * a + s
        b = db * b + s
        out.append(v0 * (a - b))
    return torch.stack(out)  # [T, B, N_in]


@PLASTICITY.register("tempotron", family="supervised")
class Tempotron(Rule):
    """The Tempotron rule; dynamics in :func:`tempotron_step`. ``post`` is the trial's target (1 = fire).

    Example:
        >>> rule = Tempotron(tau=15e-3, tau_s=3.75e-3, lr=1e-3)
        >>> rule.kernel[0] * 1e3   # t_peak in ms
        6.931...
    """

    params_cls = TempotronParams
    state_cls = TempotronState
    step_fn = staticmethod(tempotron_step)
    positive = ("tau", "tau_s", "lr")

    def __init__(self, *, dt: float = 1e-3, **params: Any) -> None:
        super().__init__(dt=dt, **params)
        self.kernel = tempotron_kernel(self.params.tau, self.params.tau_s)
        if not 0.0 <= self.params.momentum < 1.0:
            raise ValueError(f"Tempotron: momentum must be in [0, 1), got {self.params.momentum}")

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> TempotronState:
        bsz, n_in, n_out = pre.shape[0], pre.shape[1], post.shape[1]
        z = pre.new_zeros
        return TempotronState(a=z(bsz, n_in), b=z(bsz, n_in), v_max=torch.full((bsz, n_out), -math.inf,
                              dtype=pre.dtype, device=pre.device), psp_at_max=z(bsz, n_out, n_in),
                              dw_so_far=torch.zeros_like(w))


def fit_tempotron(patterns: Tensor, labels: Tensor, *, epochs: int, rule: Tempotron | None = None,
                  w: Tensor | None = None, generator: torch.Generator | None = None) -> tuple[Tensor, list[int]]:
    """Train one Tempotron on ``patterns [P, T, N_in]`` (spikes) with ``labels [P]`` in {0, 1}, trial by trial.

    Each trial is the update of :func:`tempotron_step` summed over the trial with the weights fixed
    (computed from the PSPs, which do not depend on the weights, so they are computed once), plus
    ``momentum`` times the previous trial's change. Returns the weights ``[1, N_in]`` and the number of
    misclassified patterns per epoch (training stops after the first epoch with none).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> pats = (torch.rand(4, 100, 20, generator=g) < 0.01).float()
        >>> w, errors = fit_tempotron(pats, torch.tensor([1, 0, 1, 0]), epochs=3)
    """
    if patterns.dim() != 3:
        raise ValueError(f"fit_tempotron: patterns must be [P, T, N_in], got shape {tuple(patterns.shape)}")
    if labels.shape != (patterns.shape[0],):
        raise ValueError(f"fit_tempotron: labels must be [P] = [{patterns.shape[0]}], got {tuple(labels.shape)}")
    if epochs < 1:
        raise ValueError(f"fit_tempotron: epochs must be >= 1, got {epochs}")
    rule = rule or Tempotron()
    p = rule.params
    psp = tempotron_psp(patterns.transpose(0, 1), p, rule.dt).transpose(0, 1)  # [T, P, N] -> [P, T, N]
    if w is None:
        w = torch.randn(1, patterns.shape[2], generator=generator, dtype=patterns.dtype) * 1e-3
    targets = labels.to(patterns.dtype)
    prev = torch.zeros_like(w)
    history: list[int] = []
    for _ in range(epochs):
        errors = 0
        for k in range(patterns.shape[0]):
            v = psp[k] @ w[0]  # [T]
            t_max = int(torch.argmax(v))
            error = float(targets[k]) - float(v[t_max] > p.v_th)
            errors += int(error != 0)
            step = p.lr * error * psp[k, t_max].unsqueeze(0) + p.momentum * prev  # [1, N]
            w = w + step
            prev = step
        history.append(errors)
        if errors == 0:
            break
    return w, history
