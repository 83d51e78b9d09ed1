r"""Classification readouts on reservoir features: softmax regression (gradients) and ridge-then-argmax (closed form).

Features are per-sample vectors ``[S, F]``: spike counts (:func:`features` with ``kind="count"``:
:math:`c_i = \sum_t z_i(t)`) or the last value of an exponentially filtered trace (``kind="trace"``:
:math:`s_i(t) = e^{-dt/\tau}s_i(t-1) + z_i(t)`, read at the final step).

- :class:`Logistic` — multinomial logistic (softmax) regression, trained *with gradients* in float64 on

  .. math:: L(W, b) = \frac{1}{S}\sum_{s} -\log \mathrm{softmax}(x_s W + b)_{y_s} + \frac{\alpha}{2}\|W\|_F^2

  (bias not penalised); ``solver="lbfgs"`` (``torch.optim.LBFGS`` with strong-Wolfe line search, full
  batch, converges to the unique optimum for ``α > 0``) or ``solver="adam"`` (full batch, fixed steps).
  Two classes use the same softmax (two logits), not a sigmoid.
- :class:`RidgeClassifier` — the gradient-free readout: :class:`~.readout.Ridge` on one-hot targets, prediction
  = argmax of the ridge outputs (closed form; what :func:`~.classify.ridge_accuracy` does). Equal in its
  predictions to scikit-learn's ``RidgeClassifier``, which fits ±1 targets (outputs ``2·ours − 1``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .readout import Ridge

__all__ = ["Logistic", "RidgeClassifier", "features"]


def features(spikes: Tensor, kind: str = "count", *, tau: float = 30e-3, dt: float = 1e-3) -> Tensor:
    """Per-sample features of ``spikes [T, B, N]`` -> ``[B, N]``: spike counts or the final filtered trace."""
    if spikes.ndim != 3:
        raise ValueError(f"features: need spikes [T, B, N], got shape {tuple(spikes.shape)}")
    if kind == "count":
        return spikes.sum(0)
    if kind == "trace":
        if tau <= 0 or dt <= 0:
            raise ValueError(f"features: tau and dt must be > 0, got tau={tau}, dt={dt}")
        decay = math.exp(-dt / tau)
        steps = torch.arange(spikes.shape[0] - 1, -1, -1, dtype=spikes.dtype, device=spikes.device)
        return torch.einsum("t,tbn->bn", decay**steps, spikes)  # Σ_t decay^(T-1-t) z(t)
    raise ValueError(f"features: kind must be 'count' or 'trace', got {kind!r}")


def _check_xy(x: Tensor, y: Tensor, who: str) -> tuple[Tensor, Tensor]:
    if x.ndim != 2 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{who}: need features [S, F] and integer labels [S], got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"{who}: labels must be an integer tensor, got {y.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{who}: features contain NaN or inf")
    if int(y.min()) < 0:
        raise ValueError(f"{who}: labels must be >= 0, got {int(y.min())}")
    return x.detach().to(torch.float64), y.long()


class Logistic:
    """Softmax readout trained by gradient descent; ``fit(x [S, F], y [S])``, ``predict_proba``, ``predict``.

    Example:
        >>> x = torch.cat([torch.randn(50, 2) - 2, torch.randn(50, 2) + 2]); y = torch.arange(100) // 50
        >>> clf = Logistic(l2=1e-2).fit(x, y); float((clf.predict(x) == y).double().mean()) > 0.95
        True
    """

    def __init__(self, l2: float = 1e-3, *, solver: str = "lbfgs", steps: int = 200, lr: float | None = None,
                 n_classes: int | None = None) -> None:
        if l2 < 0:
            raise ValueError(f"Logistic: l2 must be >= 0, got {l2}")
        if solver not in ("lbfgs", "adam"):
            raise ValueError(f"Logistic: solver must be 'lbfgs' or 'adam', got {solver!r}")
        if steps < 1:
            raise ValueError(f"Logistic: steps must be >= 1, got {steps}")
        self.l2, self.solver, self.steps, self.n_classes = float(l2), solver, int(steps), n_classes
        self.lr = (1.0 if solver == "lbfgs" else 0.05) if lr is None else float(lr)
        self.weight: Tensor | None = None  # [F, C]
        self.bias: Tensor | None = None  # [C]

    def loss(self, x: Tensor, y: Tensor, w: Tensor, b: Tensor) -> Tensor:
        """The module docstring's objective for features ``x [S, F]`` and labels ``y [S]``."""
        return torch.nn.functional.cross_entropy(x @ w + b, y) + 0.5 * self.l2 * (w * w).sum()

    def fit(self, x: Tensor, y: Tensor) -> Logistic:
        x64, yl = _check_xy(x, y, "Logistic.fit")
        c = self.n_classes or int(yl.max()) + 1
        if int(yl.max()) >= c:
            raise ValueError(f"Logistic.fit: label {int(yl.max())} >= n_classes={c}")
        w = torch.zeros(x64.shape[1], c, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(c, dtype=torch.float64, requires_grad=True)
        if self.solver == "lbfgs":
            opt: torch.optim.Optimizer = torch.optim.LBFGS(
                [w, b], lr=self.lr, max_iter=self.steps, tolerance_grad=1e-12, tolerance_change=1e-15,
                history_size=50, line_search_fn="strong_wolfe")

            def closure() -> Tensor:
                opt.zero_grad()
                loss = self.loss(x64, yl, w, b)
                loss.backward()
                return loss
            opt.step(closure)  # type: ignore[arg-type]
        else:
            opt = torch.optim.Adam([w, b], lr=self.lr)
            for _ in range(self.steps):
                opt.zero_grad()
                self.loss(x64, yl, w, b).backward()
                opt.step()
        self.weight, self.bias = w.detach(), b.detach()
        if not bool(torch.isfinite(self.weight).all()):
            raise ValueError("Logistic.fit: weights are not finite (learning rate too large?)")
        return self

    def logits(self, x: Tensor) -> Tensor:
        if self.weight is None or self.bias is None:
            raise RuntimeError("Logistic: call fit before predicting")
        if x.ndim != 2 or x.shape[1] != self.weight.shape[0]:
            raise ValueError(f"Logistic: need features [S, {self.weight.shape[0]}], got {tuple(x.shape)}")
        return x.detach().to(torch.float64) @ self.weight + self.bias  # [S, C]

    def predict_proba(self, x: Tensor) -> Tensor:
        return torch.softmax(self.logits(x), dim=-1)

    def predict(self, x: Tensor) -> Tensor:
        return self.logits(x).argmax(-1)


class RidgeClassifier:
    """Closed-form classifier: ridge regression on one-hot targets, prediction = argmax (no gradients).

    Example:
        >>> x = torch.cat([torch.randn(50, 2) - 2, torch.randn(50, 2) + 2]); y = torch.arange(100) // 50
        >>> float((RidgeClassifier(1e-3).fit(x, y).predict(x) == y).double().mean()) > 0.95
        True
    """

    def __init__(self, ridge: float = 1e-6, *, n_classes: int | None = None) -> None:
        self.ridge_ = Ridge(ridge)
        self.n_classes = n_classes

    def fit(self, x: Tensor, y: Tensor) -> RidgeClassifier:
        x64, yl = _check_xy(x, y, "RidgeClassifier.fit")
        c = self.n_classes or int(yl.max()) + 1
        self.ridge_.fit(x64, torch.nn.functional.one_hot(yl, c).to(torch.float64))  # targets [S, C]
        return self

    def decision_function(self, x: Tensor) -> Tensor:
        return self.ridge_.predict(x.to(torch.float64))  # [S, C]

    def predict(self, x: Tensor) -> Tensor:
        return self.decision_function(x).argmax(-1)
