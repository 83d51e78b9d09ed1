"""Logistic/softmax and ridge-argmax classification readouts, feature extraction, and the online RLS readout."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.reservoir.logistic import Logistic, RidgeClassifier, features
from spikeforge.reservoir.readout import Ridge
from spikeforge.reservoir.rls import RLS

sklearn_lm = pytest.importorskip("sklearn.linear_model")


def _blobs(seed: int = 0, s: int = 120, f: int = 5, c: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(c, f, generator=g, dtype=torch.float64) * 1.5
    y = torch.arange(s) % c
    return centres[y] + torch.randn(s, f, generator=g, dtype=torch.float64), y


def test_features_hand_counts() -> None:
    z = torch.zeros(4, 1, 2)
    z[0, 0, 0] = z[3, 0, 0] = z[1, 0, 1] = 1.0
    assert features(z).tolist() == [[2.0, 1.0]]
    d = math.exp(-1e-3 / 2e-3)
    tr = features(z, "trace", tau=2e-3, dt=1e-3)
    torch.testing.assert_close(tr, torch.tensor([[d**3 + 1.0, d**2]]), rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="kind must be"):
        features(z, "rate")


def test_logistic_lbfgs_matches_sklearn_optimum() -> None:
    # ours: mean CE + l2/2 ||W||^2; sklearn: C * sum CE + 1/2 ||W||^2  ->  C = 1 / (l2 * S)
    x, y = _blobs()
    l2 = 0.05
    ours = Logistic(l2=l2).fit(x, y)
    ref = sklearn_lm.LogisticRegression(C=1.0 / (l2 * x.shape[0]), tol=1e-12, max_iter=10_000).fit(x.numpy(), y.numpy())
    p_ref = torch.from_numpy(ref.predict_proba(x.numpy()))
    torch.testing.assert_close(ours.predict_proba(x), p_ref, rtol=0, atol=1e-6)
    # W is unique up to a constant per row (softmax); the centred weights must agree
    w_ref = torch.from_numpy(ref.coef_.T)
    torch.testing.assert_close(ours.weight - ours.weight.mean(1, keepdim=True), w_ref - w_ref.mean(1, keepdim=True),
                               rtol=0, atol=1e-5)


def test_logistic_adam_reaches_the_lbfgs_loss() -> None:
    x, y = _blobs(1)
    a = Logistic(l2=0.05).fit(x, y)
    b = Logistic(l2=0.05, solver="adam", steps=400, lr=0.1).fit(x, y)
    la = float(a.loss(x, y, a.weight, a.bias))
    lb = float(b.loss(x, y, b.weight, b.bias))
    assert abs(lb - la) < 1e-9  # the same convex optimum
    assert float((b.predict(x) == a.predict(x)).double().mean()) > 0.98


def test_logistic_bad_input() -> None:
    x, y = _blobs()
    with pytest.raises(ValueError, match="integer"):
        Logistic().fit(x, y.double())
    with pytest.raises(ValueError, match="NaN"):
        Logistic().fit(x * math.nan, y)
    with pytest.raises(RuntimeError, match="fit"):
        Logistic().predict(x)


def test_ridge_classifier_equals_sklearn() -> None:
    # sklearn fits targets in {-1, 1} = 2 onehot - 1, intercept unpenalised: its scores are 2 ours - 1
    x, y = _blobs(2)
    ours = RidgeClassifier(0.7).fit(x, y)
    ref = sklearn_lm.RidgeClassifier(alpha=0.7).fit(x.numpy(), y.numpy())
    torch.testing.assert_close(2 * ours.decision_function(x) - 1, torch.from_numpy(ref.decision_function(x.numpy())),
                               rtol=0, atol=1e-9)
    assert torch.equal(ours.predict(x), torch.from_numpy(ref.predict(x.numpy())))


def _xy(seed: int = 0, s: int = 200, f: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(s, f, generator=g, dtype=torch.float64)
    y = x @ torch.randn(f, 2, generator=g, dtype=torch.float64) + 0.3 + 0.1 * torch.randn(s, 2, generator=g,
                                                                                          dtype=torch.float64)
    return x, y


def test_rls_lambda1_equals_ridge_closed_form() -> None:
    x, y = _xy()
    delta = 1e-6
    r = RLS(6, 2, delta=delta).update(x, y)
    xd = torch.cat([x, torch.ones(200, 1, dtype=torch.float64)], 1)
    w = torch.linalg.solve(xd.T @ xd + delta * torch.eye(7, dtype=torch.float64), xd.T @ y)
    torch.testing.assert_close(r.weight, w, rtol=0, atol=1e-8)
    # larger P_0 (δ = 1e-8): the least-squares solution (ridge = 0, bias unpenalised) to the same tolerance
    r0 = RLS(6, 2, delta=1e-8).update(x, y)
    torch.testing.assert_close(r0.weight, Ridge(0.0).fit(x, y).weight, rtol=0, atol=1e-8)


def test_rls_forgetting_equals_weighted_ridge() -> None:
    x, y = _xy(1, s=120)
    lam, delta = 0.97, 1e-2
    r = RLS(6, 2, forgetting=lam, delta=delta, bias=False).update(x, y)
    n = x.shape[0]
    wts = lam ** torch.arange(n - 1, -1, -1, dtype=torch.float64)  # λ^(n-i)
    a = (x * wts[:, None]).T @ x + lam**n * delta * torch.eye(6, dtype=torch.float64)
    torch.testing.assert_close(r.weight, torch.linalg.solve(a, (x * wts[:, None]).T @ y), rtol=0, atol=1e-8)


def test_rls_tracks_a_change_only_with_forgetting() -> None:
    x, _ = _xy(2, s=600, f=3)
    w1, w2 = torch.tensor([[1.0], [2.0], [-1.0]], dtype=torch.float64), torch.tensor([[-1.0], [0.5], [2.0]],
                                                                                     dtype=torch.float64)
    y = torch.cat([x[:300] @ w1, x[300:] @ w2])
    forget = RLS(3, 1, forgetting=0.9, bias=False).update(x, y)
    keep = RLS(3, 1, bias=False).update(x, y)
    torch.testing.assert_close(forget.weight, w2, rtol=0, atol=1e-8)
    assert float((keep.weight - w2).abs().max()) > 0.3


def test_rls_bad_input() -> None:
    with pytest.raises(ValueError, match="forgetting"):
        RLS(3, 1, forgetting=1.5)
    with pytest.raises(ValueError, match="need x"):
        RLS(3, 1).update(torch.zeros(4, 2), torch.zeros(4))
