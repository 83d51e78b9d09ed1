"""EGRU: the event-based gated recurrent unit (Subramoney et al., ICLR 2023, arXiv 2206.06178)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..neurons._base import check_sequence
from ..numerics import check_finite
from ..surrogate import SpikeFn, Surrogate

__all__ = ["EGRU", "EGRUPseudoDerivative", "EGRUState", "egru_step"]


@dataclass(frozen=True)
class EGRUPseudoDerivative(Surrogate):
    r"""EGRU's pseudo-derivative :math:`\partial H/\partial x \approx \gamma \max(0, 1 - |x|/\varepsilon)`
    (area :math:`\gamma\varepsilon`, not 1); primitive: its integral from :math:`-\infty`."""

    gamma: float = 0.7
    width: float = 1.0  # ε

    def grad(self, x: Tensor) -> Tensor:
        return self.gamma * (1 - x.abs() / self.width).clamp_min(0)

    def primitive(self, x: Tensor) -> Tensor:
        u = (x / self.width).clamp(-1, 1)
        return self.gamma * self.width * (0.5 + u - u * u.abs() / 2)


class EGRUState(NamedTuple):
    c: Tensor  # internal state after the reset [B, H]
    y: Tensor  # last output (graded events) [B, H]


def egru_step(x: Tensor, state: EGRUState, w: Tensor, u: Tensor, b: Tensor, theta: Tensor,
              pseudo: Surrogate) -> tuple[Tensor, EGRUState]:
    r"""One EGRU step.

    .. math::
        u_t = \sigma(W_u x_t + U_u y_{t-1} + b_u),\quad r_t = \sigma(W_r x_t + U_r y_{t-1} + b_r),

        z_t = \tanh(W_z x_t + r_t \odot (U_z y_{t-1}) + b_z),\quad c_t = u_t \odot c_{t-1} + (1 - u_t) \odot z_t,

        o_t = H(c_t - \vartheta),\quad y_t = c_t \odot o_t,\quad c_t \leftarrow c_t - o_t \vartheta

    with the pseudo-derivative of ``pseudo`` for :math:`H`; ``theta`` is :math:`\vartheta` (already
    :math:`\sigma(\vartheta_{raw})`).

    Shapes:
        x: ``[B, I]``; w: ``[3H, I]``, u: ``[3H, H]``, b: ``[3H]`` (gate order u, r, z); theta: ``[H]``;
        state fields and y: ``[B, H]``.
    """
    gx = x @ w.T + b  # [B, 3H]
    gh = state.y @ u.T  # [B, 3H]
    xu, xr, xz = gx.chunk(3, dim=-1)  # each [B, H]
    hu, hr, hz = gh.chunk(3, dim=-1)
    upd = torch.sigmoid(xu + hu)
    rst = torch.sigmoid(xr + hr)
    z = torch.tanh(xz + rst * hz)
    c = upd * state.c + (1 - upd) * z
    o = SpikeFn.apply(c - theta, pseudo)
    y = c * o
    return y, EGRUState(c=c - o * theta, y=y)


class EGRU(nn.Module):
    r"""Event-based GRU layer; dynamics in :func:`egru_step`. Outputs are graded events: 0 where
    no event, :math:`c_t > \vartheta` where one.

    Args:
        input_size, hidden_size: I and H.
        gamma, width: the pseudo-derivative's height :math:`\gamma` and half-width :math:`\varepsilon`.
        theta_init: initial threshold :math:`\vartheta` in (0, 1) (stored as :math:`\vartheta_{raw}`, learnable).

    Shapes:
        ``forward(xs [T, B, I]) -> ys [T, B, H]``; ``run(xs, state)`` also returns the final :class:`EGRUState`.

    Example:
        >>> ys = EGRU(4, 8)(torch.rand(10, 2, 4))
    """

    def __init__(self, input_size: int, hidden_size: int, *, gamma: float = 0.7, width: float = 1.0,
                 theta_init: float = 0.5) -> None:
        super().__init__()
        if not (isinstance(input_size, int) and isinstance(hidden_size, int) and input_size > 0 and hidden_size > 0):
            raise ValueError(f"EGRU: input_size and hidden_size must be positive ints, got {input_size!r}, "
                             f"{hidden_size!r}")
        if not 0.0 < float(theta_init) < 1.0:
            raise ValueError(f"EGRU: theta_init must be in (0, 1) (theta = sigmoid(theta_raw)), got {theta_init!r}")
        self.pseudo = EGRUPseudoDerivative(gamma=gamma, width=width)
        k = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size).uniform_(-k, k))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size).uniform_(-k, k))
        self.bias = nn.Parameter(torch.empty(3 * hidden_size).uniform_(-k, k))
        t = float(theta_init)
        self.theta_raw = nn.Parameter(torch.full((hidden_size,), math.log(t / (1 - t))))
        self.hidden_size = hidden_size

    @property
    def theta(self) -> Tensor:
        """Per-unit threshold :math:`\\vartheta = \\sigma(\\vartheta_{raw})` ``[H]``."""
        return torch.sigmoid(self.theta_raw)

    def init_state(self, x: Tensor) -> EGRUState:
        zeros = x.new_zeros(x.shape[0], self.hidden_size)
        return EGRUState(c=zeros, y=zeros)

    def run(self, xs: Tensor, state: EGRUState | None = None) -> tuple[Tensor, EGRUState]:
        check_sequence(xs, "EGRU")
        check_finite(xs, "EGRU")
        if xs.dim() != 3 or xs.shape[-1] != self.weight_ih.shape[1]:
            raise ValueError(f"EGRU: expected input [T, B, {self.weight_ih.shape[1]}], got {tuple(xs.shape)}")
        if state is None:
            state = self.init_state(xs[0])
        w, u, b, theta = (p.to(xs.dtype) for p in (self.weight_ih, self.weight_hh, self.bias, self.theta))
        ys = []
        for x in xs:  # x: [B, I]
            y, state = egru_step(x, state, w, u, b, theta, self.pseudo)
            ys.append(y)
        return torch.stack(ys), state  # [T, B, H]

    def forward(self, xs: Tensor) -> Tensor:
        return self.run(xs)[0]
