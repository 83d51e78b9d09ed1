"""SSDP: spike-synchrony-dependent plasticity (Tian et al., arXiv 2505.14841), Gaussian version."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from ._base import PLASTICITY, Rule

__all__ = ["SSDP", "SSDPParams", "SSDPState", "ssdp_step", "ssdp_update"]


class SSDPParams(NamedTuple):
    a_plus: float = 1.5e-4  # potentiation of co-active pairs (the authors' module default)
    a_base: float = 5e-5  # depression of pairs where a side is silent
    sigma: float = 1.0  # width of the synchrony window, in time steps


class SSDPState(NamedTuple):
    t_pre: Tensor  # first spike step per presynaptic unit, -1 while silent [B, N_in]
    t_post: Tensor  # first spike step per postsynaptic unit, -1 while silent [B, N_out]
    steps: Tensor  # steps seen so far (scalar)
    dw_so_far: Tensor  # update if the sequence ended now [N_out, N_in]


def _update(t_pre: Tensor, t_post: Tensor, steps: Tensor | int, p: SSDPParams) -> Tensor:
    """The SSDP update from first-spike steps (-1 = silent, counted as ``steps``)."""
    fired_pre, fired_post = t_pre >= 0, t_post >= 0
    tp = torch.where(fired_pre, t_pre, torch.as_tensor(steps, dtype=t_pre.dtype)).to(torch.float64)
    tq = torch.where(fired_post, t_post, torch.as_tensor(steps, dtype=t_post.dtype)).to(torch.float64)
    delta = tq.unsqueeze(2) - tp.unsqueeze(1)  # [B, N_out, N_in]
    g = torch.exp(-delta * delta / (2 * p.sigma * p.sigma))
    s = (fired_post.unsqueeze(2) & fired_pre.unsqueeze(1)).to(g.dtype)
    return (p.a_plus * s * g - p.a_base * (1 - s) * g).mean(0).clamp(-1.0, 1.0)


def ssdp_step(pre: Tensor, post: Tensor, state: SSDPState, w: Tensor, p: SSDPParams, *,
              dt: float = 1e-3) -> tuple[Tensor, SSDPState]:
    r"""Track first spikes one step; return this step's share of the sequence's SSDP update.

    With first-spike steps :math:`t^{pre}_j, t^{post}_i` (:math:`T` if silent), fired indicators
    :math:`p_j, q_i`, :math:`S_{ij} = q_i p_j` and :math:`G_{ij} = \exp(-(t^{post}_i - t^{pre}_j)^2 / 2\sigma^2)`:

    .. math::
        \Delta W_{ij} = \mathrm{clip}\big(\langle A_+ S_{ij} G_{ij} - A_{base}(1 - S_{ij}) G_{ij}\rangle_B,
        -1, 1\big)

    Pairs that first fire in the same step gain :math:`A_+`; silent–silent pairs (:math:`\Delta t = 0`)
    lose :math:`A_{base}`; a pair with one silent side is ≈ 0 when :math:`T - t \gg \sigma`. The returned
    ``dw`` telescopes: summed over the sequence it is :func:`ssdp_update` of the whole sequence, so apply
    it per sequence (the authors apply it after the optimizer step).

    Example:
        >>> s = SSDP().init_state(torch.zeros(1, 3), torch.zeros(1, 2), torch.zeros(2, 3))
        >>> dw, s = ssdp_step(torch.ones(1, 3), torch.ones(1, 2), s, torch.zeros(2, 3), SSDPParams())
    """
    t = state.steps
    t_pre = torch.where((state.t_pre < 0) & (pre > 0), t, state.t_pre)
    t_post = torch.where((state.t_post < 0) & (post > 0), t, state.t_post)
    steps = t + 1
    dw_now = _update(t_pre, t_post, steps, p).to(w.dtype)
    return dw_now - state.dw_so_far, SSDPState(t_pre=t_pre, t_post=t_post, steps=steps, dw_so_far=dw_now)


def ssdp_update(pres: Tensor, posts: Tensor, p: SSDPParams | None = None) -> Tensor:
    """SSDP update of a whole sequence, ``pres [T, B, N_in]``, ``posts [T, B, N_out]`` → ``[N_out, N_in]``.

    Example:
        >>> dw = ssdp_update(torch.ones(5, 2, 3), torch.ones(5, 2, 4))
        >>> bool(torch.allclose(dw, torch.full((4, 3), 1.5e-4, dtype=dw.dtype)))
        True
    """
    p = p or SSDPParams()
    if pres.dim() != 3 or posts.dim() != 3 or pres.shape[:2] != posts.shape[:2]:
        raise ValueError(f"ssdp_update: expected pres [T, B, N_in] and posts [T, B, N_out] with the same T, B; got "
                         f"{tuple(pres.shape)} and {tuple(posts.shape)}")
    steps = pres.shape[0]

    def first(s: Tensor) -> Tensor:  # first spike step, -1 if silent
        fired = s > 0
        idx = fired.to(torch.int64).argmax(0)  # first True along T
        return torch.where(fired.any(0), idx, torch.full_like(idx, -1))

    return _update(first(pres), first(posts), steps, p).to(pres.dtype)


@PLASTICITY.register("ssdp", family="synchrony")
class SSDP(Rule):
    """SSDP; dynamics in :func:`ssdp_step` (``sigma`` in time steps).

    Example:
        >>> rule = SSDP(a_plus=1e-4, a_base=5e-5, sigma=1.0)
        >>> dw, s = rule.step(torch.ones(2, 3), torch.zeros(2, 4), None, torch.zeros(4, 3))
    """

    params_cls = SSDPParams
    state_cls = SSDPState
    step_fn = staticmethod(ssdp_step)
    positive = ("sigma",)

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> SSDPState:
        neg = -torch.ones((), dtype=torch.int64, device=pre.device)
        return SSDPState(t_pre=neg.expand(pre.shape).clone(), t_post=neg.expand(post.shape).clone(),
                         steps=torch.zeros((), dtype=torch.int64, device=pre.device), dw_so_far=torch.zeros_like(w))
