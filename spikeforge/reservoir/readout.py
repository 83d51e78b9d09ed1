r"""Ridge-regression readout (closed form, float64).

.. math:: W = \arg\min_W \|\tilde X W - Y\|^2 + \alpha\|W_x\|^2 =
    (\tilde X^\top \tilde X + \alpha I')^{-1}\tilde X^\top Y

with :math:`\tilde X = [X, 1]` and :math:`I'` the identity with a zero for the bias.

Solved with ``torch.linalg.solve`` (LU) on the normal equations in float64; the bias column is not
penalised. Features ``[T, B, F]`` or ``[S, F]`` are flattened to rows ``[T*B, F]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["Ridge"]


def _rows(x: Tensor, name: str) -> Tensor:
    if x.ndim < 1:
        raise ValueError(f"Ridge: {name} must have at least 1 dimension, got a scalar")
    if x.ndim == 1:
        return x.to(torch.float64)[:, None]
    return x.detach().to(torch.float64).reshape(-1, x.shape[-1])  # [rows, F]


class Ridge:
    """Linear readout trained by ridge regression; ``fit(states, targets)`` then ``predict(states)``.

    Example:
        >>> import torch
        >>> x = torch.randn(200, 3, dtype=torch.float64); y = x @ torch.tensor([1., -2., .5], dtype=torch.float64)
        >>> r = Ridge(1e-9).fit(x, y); bool(torch.allclose(r.predict(x)[:, 0], y, atol=1e-6))
        True
    """

    def __init__(self, ridge: float = 1e-6, *, bias: bool = True) -> None:
        if ridge < 0:
            raise ValueError(f"Ridge: ridge must be >= 0, got {ridge}")
        self.ridge = float(ridge)
        self.bias = bias
        self.weight: Tensor | None = None  # [F (+1), O]

    def _design(self, x: Tensor) -> Tensor:
        xr = _rows(x, "states")
        if self.bias:
            xr = torch.cat([xr, torch.ones(xr.shape[0], 1, dtype=torch.float64)], dim=1)
        return xr

    def fit(self, states: Tensor, targets: Tensor) -> Ridge:
        x = self._design(states)
        y = _rows(targets, "targets")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"Ridge.fit: {x.shape[0]} state rows but {y.shape[0]} target rows")
        reg = torch.full((x.shape[1],), self.ridge, dtype=torch.float64)
        if self.bias:
            reg[-1] = 0.0
        a = x.T @ x + torch.diag(reg)
        self.weight = torch.linalg.solve(a, x.T @ y)
        if not torch.isfinite(self.weight).all():
            raise ValueError("Ridge.fit: solution is not finite (singular design matrix? increase ridge)")
        return self

    def predict(self, states: Tensor) -> Tensor:
        if self.weight is None:
            raise RuntimeError("Ridge.predict called before fit")
        x = self._design(states)
        if x.shape[1] != self.weight.shape[0]:
            raise ValueError(f"Ridge.predict: {x.shape[1] - int(self.bias)} features, fitted on "
                             f"{self.weight.shape[0] - int(self.bias)}")
        out = x @ self.weight  # [rows, O]
        return out.reshape(*states.shape[:-1], -1) if states.ndim > 1 else out
