"""HLOP: Hebbian learning of a principal subspace + orthogonal projection of weight updates (Xiao et al.,
ICLR 2024), for continual learning without forgetting."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._base import PLASTICITY, Rule
from .hebbian import OjaParams, OjaState, oja_step

__all__ = ["HLOP", "HLOPParams", "HLOPRule", "HLOPState", "hlop_step"]


class HLOPParams(NamedTuple):
    lr: float = 1e-2  # learning rate of the lateral weights
    momentum: float = 0.9  # m <- momentum * m + (1 - momentum) * dH
    clip: float = 10.0  # dH is clamped to [-clip, clip]


class HLOPState(NamedTuple):
    h_old: Tensor  # frozen rows learned on earlier tasks [K_old, N_in]
    m: Tensor  # momentum of the learning rows [K_new, N_in]


def hlop_step(pre: Tensor, post: Tensor, state: HLOPState, w: Tensor, p: HLOPParams, *,
              dt: float = 1e-3) -> tuple[Tensor, HLOPState]:
    r"""One Hebbian/anti-Hebbian update of the learning rows ``w = H_new`` (Oja's subspace rule).

    .. math::
        \Delta H_{new} = \tfrac{1}{B}\,y^\top\big(x - H_{old}^\top H_{old}x - H_{new}^\top y\big),\quad y = H_{new}x

        m' = \mu m + (1 - \mu)\,\mathrm{clip}(\Delta H_{new}),\qquad dw = \eta\,m'

    The frozen rows take out what earlier tasks already span, so the new rows converge to the principal
    subspace of the current task's activity *orthogonal* to the old one. ``post`` must be ``pre @ w.T``.

    Shapes:
        pre ``[B, N_in]``, post ``[B, K_new]``, w and dw ``[K_new, N_in]``, ``h_old [K_old, N_in]``.

    Example:
        >>> s = HLOPState(torch.zeros(0, 5), torch.zeros(2, 5))
        >>> x, h = torch.randn(8, 5), torch.randn(2, 5) * 0.1
        >>> dw, s = hlop_step(x, x @ h.T, s, h, HLOPParams())
    """
    x_free = pre - (pre @ state.h_old.transpose(0, 1)) @ state.h_old  # [B, N]: remove the old subspace
    dh, _ = oja_step(x_free, post, OjaState(), w, OjaParams(eta=1.0))  # Oja's subspace rule on what is left
    m = p.momentum * state.m + (1 - p.momentum) * dh.clamp(-p.clip, p.clip)
    return p.lr * m, HLOPState(h_old=state.h_old, m=m)


@PLASTICITY.register("hlop", family="continual")
class HLOPRule(Rule):
    """The lateral-weight rule of HLOP; dynamics in :func:`hlop_step`. Rates, not spikes.

    Example:
        >>> rule = HLOPRule(lr=1e-2)
        >>> x, h = torch.randn(16, 6), torch.randn(2, 6) * 0.1
        >>> dw, s = rule.step(x, x @ h.T, None, h)
    """

    params_cls = HLOPParams
    state_cls = HLOPState
    step_fn = staticmethod(hlop_step)
    positive = ("lr",)
    needs_spikes = False

    def init_state(self, pre: Tensor, post: Tensor, w: Tensor) -> HLOPState:
        return HLOPState(h_old=w.new_zeros(0, w.shape[1]), m=torch.zeros_like(w))


class HLOP(nn.Module):
    r"""Lateral subspace of one layer's input and the projection of that layer's weight gradient.

    Use per task: :meth:`add_rows` (new lateral neurons), :meth:`hebbian` on the layer's inputs while
    training, :meth:`consolidate` at the end of the task. While training a later task, call
    :meth:`project_grad_` on the layer's weight after ``backward()`` and before ``optimizer.step()``:

    .. math:: \nabla W \leftarrow \nabla W\,(I - H_{old}^\top H_{old})

    so, with orthonormal old rows, the update leaves ``W x`` unchanged for inputs ``x`` in the old subspace.

    Args:
        n_in: size of the layer's input.
        lr, momentum, clip: :class:`HLOPParams`.
        iterations: Hebbian iterations per call (the reference code uses 5).

    Example:
        >>> hlop = HLOP(20)
        >>> hlop.add_rows(4, generator=torch.Generator().manual_seed(0))
        >>> hlop.hebbian(torch.randn(32, 20))
        >>> hlop.consolidate(); hlop.h_old.shape
        torch.Size([4, 20])
    """

    h_old: Tensor
    h_new: Tensor
    m: Tensor

    def __init__(self, n_in: int, *, lr: float = 1e-2, momentum: float = 0.9, clip: float = 10.0,
                 iterations: int = 5) -> None:
        super().__init__()
        if n_in < 1 or iterations < 1:
            raise ValueError(f"HLOP: n_in and iterations must be >= 1, got {n_in}, {iterations}")
        self.rule = HLOPRule(lr=lr, momentum=momentum, clip=clip)
        self.iterations = int(iterations)
        self.register_buffer("h_old", torch.zeros(0, n_in))
        self.register_buffer("h_new", torch.zeros(0, n_in))
        self.register_buffer("m", torch.zeros(0, n_in))

    @torch.no_grad()
    def add_rows(self, k: int, generator: torch.Generator | None = None) -> None:
        """Add ``k`` learning rows, orthonormal to each other and to the frozen rows."""
        n = self.h_old.shape[1]
        if k < 1 or self.h_old.shape[0] + self.h_new.shape[0] + k > n:
            raise ValueError(f"HLOP: cannot add {k} rows to a subspace of {self.h_old.shape[0] + self.h_new.shape[0]} "
                             f"rows in {n} dimensions")
        r = torch.randn(k, n, generator=generator, dtype=self.h_old.dtype)
        basis = torch.cat([self.h_old, self.h_new])  # [K, N]
        r = r - (r @ basis.T) @ basis if basis.shape[0] else r
        q, _ = torch.linalg.qr(r.T)  # [N, k] orthonormal columns
        self.h_new = torch.cat([self.h_new, q.T.to(self.h_new.device)])
        self.m = torch.cat([self.m, torch.zeros_like(q.T).to(self.m.device)])

    @torch.no_grad()
    def hebbian(self, x: Tensor) -> None:
        """Update the learning rows from a batch of this layer's inputs ``x [B, ..., N_in]`` (rates or spikes)."""
        if self.h_new.shape[0] == 0:
            raise RuntimeError("HLOP: no learning rows; call add_rows(k) first")
        x = x.reshape(-1, x.shape[-1]).to(self.h_new.dtype)  # [B, ..., N] -> [B', N]
        state = HLOPState(self.h_old, self.m)
        h = self.h_new
        for _ in range(self.iterations):
            dw, state = self.rule.step(x, x @ h.T, state, h)
            h = h + dw
        self.h_new, self.m = h, state.m

    @torch.no_grad()
    def consolidate(self) -> None:
        """Freeze the learning rows into the old subspace (end of a task)."""
        self.h_old = torch.cat([self.h_old, self.h_new])
        self.h_new = self.h_new[:0]
        self.m = self.m[:0]

    def project(self, x: Tensor) -> Tensor:
        """``x`` with the old subspace removed, ``x - H_old^T H_old x`` (last dim ``N_in``)."""
        return x - (x @ self.h_old.T) @ self.h_old

    @torch.no_grad()
    def project_grad_(self, weight: Tensor) -> None:
        """``weight.grad <- weight.grad (I - H_old^T H_old)`` in place (``weight [N_out, N_in]``)."""
        if weight.grad is None or self.h_old.shape[0] == 0:
            return
        g = weight.grad.reshape(weight.shape[0], -1)  # [N_out, N_in]
        g -= (g @ self.h_old.T) @ self.h_old

    def extra_repr(self) -> str:
        return f"n_in={self.h_old.shape[1]}, old={self.h_old.shape[0]}, learning={self.h_new.shape[0]}"


