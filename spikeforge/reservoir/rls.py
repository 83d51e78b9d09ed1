r"""Online readout by recursive least squares (RLS) with a forgetting factor λ.

For each sample :math:`(x, y)` (``x`` with a 1 appended when ``bias=True``):

.. math::
    k = \frac{P x}{\lambda + x^\top P x},\qquad e = y - W^\top x,\qquad
    W \leftarrow W + k\,e^\top,\qquad P \leftarrow \frac{P - k\,x^\top P}{\lambda}

from :math:`W_0 = 0`, :math:`P_0 = I/\delta`. After n samples, in exact arithmetic, W is the minimiser of
:math:`\sum_{i=1}^{n}\lambda^{n-i}\|y_i - W^\top x_i\|^2 + \lambda^n\delta\|W\|^2`: with λ = 1 the ridge
solution :math:`(X^\top X + \delta I)^{-1}X^\top Y` (the bias penalised by δ too), → least squares as δ → 0.
λ < 1 forgets old samples with time constant :math:`1/(1-\lambda)` samples. Runs in float64; P is
symmetrised after each update.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["RLS", "RLSParams", "RLSState", "rls_step"]


class RLSParams(NamedTuple):
    forgetting: float = 1.0  # λ in (0, 1]
    delta: float = 1e-6  # P_0 = I / δ (small δ: weak prior, fast start)


class RLSState(NamedTuple):
    w: Tensor  # readout weights [F (+1), O]
    p: Tensor  # inverse correlation matrix [F (+1), F (+1)]


def rls_step(x: Tensor, y: Tensor, state: RLSState, p: RLSParams) -> tuple[Tensor, RLSState]:
    """One RLS update with one sample ``x [F']`` (bias column already appended), ``y [O]``; returns the a-priori
    prediction ``W^T x [O]`` (before the update) and the new state."""
    px = state.p @ x  # [F']
    k = px / (p.forgetting + x @ px)  # [F']
    pred = x @ state.w  # [O]
    w = state.w + k[:, None] * (y - pred)[None, :]  # [F', O]
    pn = (state.p - k[:, None] * px[None, :]) / p.forgetting  # k xᵀP = k (P x)ᵀ since P is symmetric
    return pred, RLSState(w=w, p=0.5 * (pn + pn.T))


class RLS:
    """Online linear readout; ``update(x [S, F], y [S, O])`` streams the rows in order, ``predict(x)``.

    Example:
        >>> x = torch.randn(300, 3, dtype=torch.float64); y = x @ torch.tensor([[1.], [-2.], [.5]], dtype=torch.float64)
        >>> r = RLS(3, 1).update(x, y); bool(torch.allclose(r.predict(x), y, atol=1e-6))
        True
    """

    def __init__(self, n_features: int, n_out: int, *, forgetting: float = 1.0, delta: float = 1e-6,
                 bias: bool = True) -> None:
        if not 0.0 < forgetting <= 1.0:
            raise ValueError(f"RLS: forgetting must be in (0, 1], got {forgetting}")
        if delta <= 0:
            raise ValueError(f"RLS: delta must be > 0 (P_0 = I/delta), got {delta}")
        if n_features < 1 or n_out < 1:
            raise ValueError(f"RLS: n_features and n_out must be >= 1, got {n_features}, {n_out}")
        self.params = RLSParams(forgetting=float(forgetting), delta=float(delta))
        self.bias = bias
        f = n_features + int(bias)
        self.state = RLSState(w=torch.zeros(f, n_out, dtype=torch.float64),
                              p=torch.eye(f, dtype=torch.float64) / delta)

    def _design(self, x: Tensor, who: str) -> Tensor:
        f = self.state.w.shape[0] - int(self.bias)
        if x.ndim != 2 or x.shape[1] != f:
            raise ValueError(f"{who}: need x [S, {f}], got {tuple(x.shape)}")
        x64 = x.detach().to(torch.float64)
        if self.bias:
            x64 = torch.cat([x64, torch.ones(x64.shape[0], 1, dtype=torch.float64)], 1)  # [S, F+1]
        return x64

    def update(self, x: Tensor, y: Tensor) -> RLS:
        """Stream the rows of ``x [S, F]`` and targets ``y [S, O]`` (or ``[S]`` for one output) in order."""
        xd = self._design(x, "RLS.update")
        y64 = y.detach().to(torch.float64)
        y64 = y64[:, None] if y64.ndim == 1 else y64  # [S, O]
        if y64.shape != (xd.shape[0], self.state.w.shape[1]):
            raise ValueError(f"RLS.update: need y [{xd.shape[0]}, {self.state.w.shape[1]}], got {tuple(y.shape)}")
        if not (bool(torch.isfinite(xd).all()) and bool(torch.isfinite(y64).all())):
            raise ValueError("RLS.update: x or y contains NaN or inf")
        state = self.state
        for xi, yi in zip(xd, y64):
            _, state = rls_step(xi, yi, state, self.params)
        self.state = state
        return self

    @property
    def weight(self) -> Tensor:
        return self.state.w

    def predict(self, x: Tensor) -> Tensor:
        return self._design(x, "RLS.predict") @ self.state.w  # [S, O]
