"""Rate-based Hebbian rules: Oja (single unit and subspace) and BCM with a sliding threshold."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from ._base import PLASTICITY, Rule

__all__ = ["BCM", "BCMParams", "BCMState", "Oja", "OjaParams", "OjaState", "bcm_step", "oja_step"]


class OjaParams(NamedTuple):
    eta: float = 1e-3  # learning rate


class OjaState(NamedTuple):
    pass


def oja_step(pre: Tensor, post: Tensor, state: OjaState, w: Tensor, p: OjaParams, *,
             dt: float = 1e-3) -> tuple[Tensor, OjaState]:
    r"""Oja's rule, subspace form (one output row per unit; ``N_out = 1`` is the single-unit rule).

    .. math:: \Delta H = \eta\,\langle y\,(x - H^\top y)^\top\rangle_B = \eta\,\langle y x^\top - y y^\top H\rangle_B,
              \quad y = H x

    ``post`` must be ``y = pre @ w.T`` (the caller's linear response). A single unit converges to
    ±the principal eigenvector of :math:`E[xx^\top]` with unit norm; ``k`` units to an orthonormal
    basis of the top-``k`` principal subspace. Averaged over the batch. Diverges for
    :math:`\eta\lambda_{max} \gtrsim 1`.

    Shapes:
        pre ``[B, N_in]``, post ``[B, N_out]``, w and dw ``[N_out, N_in]``.

    Example:
        >>> x = torch.randn(8, 5); w = torch.randn(2, 5) * 0.1
        >>> dw, _ = oja_step(x, x @ w.T, OjaState(), w, OjaParams())
    """
    b = pre.shape[0]
    dw = (post.transpose(0, 1) @ pre - (post.transpose(0, 1) @ post) @ w) / b  # [O, I]
    return p.eta * dw, state


@PLASTICITY.register("oja", family="hebbian")
class Oja(Rule):
    """Oja's rule (principal subspace); dynamics in :func:`oja_step`. Rates, not spikes.

    Example:
        >>> rule = Oja(eta=1e-3)
        >>> x = torch.randn(16, 4); w = torch.randn(1, 4)
        >>> dw, _ = rule.step(x, x @ w.T, None, w)
    """

    params_cls = OjaParams
    state_cls = OjaState
    step_fn = staticmethod(oja_step)
    positive = ("eta",)
    needs_spikes = False

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> OjaState:
        return OjaState()


class BCMParams(NamedTuple):
    eta: float = 1e-3  # learning rate
    tau_theta: float = 1.0  # sliding-threshold time constant [s]
    theta_0: float = 0.0  # initial threshold


class BCMState(NamedTuple):
    theta: Tensor  # sliding threshold per output [N_out]


def bcm_step(pre: Tensor, post: Tensor, state: BCMState, w: Tensor, p: BCMParams, *,
             dt: float = 1e-3) -> tuple[Tensor, BCMState]:
    r"""BCM with a sliding threshold (Euler step of the threshold ODE).

    .. math::
        \Delta W = \eta\,dt\,\langle y (y - \theta) \otimes x\rangle_B,\qquad
        \theta' = \theta + \frac{dt}{\tau_\theta}(\langle y^2\rangle_B - \theta)

    Shapes:
        pre ``[B, N_in]`` rates, post ``[B, N_out]`` rates, theta ``[N_out]``.

    Example:
        >>> s0 = BCMState(torch.zeros(2))
        >>> dw, s = bcm_step(torch.rand(4, 3), torch.rand(4, 2), s0, torch.zeros(2, 3), BCMParams())
    """
    b = pre.shape[0]
    phi = post * (post - state.theta)  # [B, O]
    dw = p.eta * dt * (phi.transpose(0, 1) @ pre) / b  # [O, I]
    theta = state.theta + (dt / p.tau_theta) * ((post * post).mean(0) - state.theta)
    return dw, BCMState(theta=theta)


@PLASTICITY.register("bcm", family="hebbian")
class BCM(Rule):
    """BCM rule with sliding threshold; dynamics in :func:`bcm_step`. Rates, not spikes.

    Example:
        >>> rule = BCM(eta=1e-2, tau_theta=0.1)
        >>> dw, s = rule.step(torch.rand(8, 4), torch.rand(8, 2), None, torch.rand(2, 4))
    """

    params_cls = BCMParams
    state_cls = BCMState
    step_fn = staticmethod(bcm_step)
    positive = ("eta", "tau_theta")
    needs_spikes = False

    def __init__(self, *, dt: float = 1e-3, **params: Any) -> None:
        super().__init__(dt=dt, **params)
        if dt > self.params.tau_theta:
            raise ValueError(f"BCM: the threshold's Euler step needs dt <= tau_theta, got dt={dt:g} s > "
                             f"tau_theta={self.params.tau_theta:g} s")

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> BCMState:
        return BCMState(theta=torch.full((post.shape[1],), float(self.params.theta_0), dtype=post.dtype,
                                         device=post.device))
