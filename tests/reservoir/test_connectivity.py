"""Connectivity generators: empirical probability vs the Maass formula, Dale signs, spectral radius."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.reservoir.connectivity import (
    MAASS_C, dale_weights, grid_mask, grid_positions, input_projection, random_sparse, scale_spectral_radius,
    spectral_radius,
)


def test_grid_positions_hand_count() -> None:
    pos = grid_positions((15, 3, 3))
    assert pos.shape == (135, 3)
    assert torch.unique(pos, dim=0).shape[0] == 135
    assert pos.max(0).values.tolist() == [14.0, 2.0, 2.0]


def test_empirical_probability_matches_formula() -> None:
    # Aggregate many sampled liquids; per (pre, post, distance²) bin compare the hit rate with C·exp(-d²/λ²)
    # computed here by hand with math.exp (independent of the generator's formula code).
    lam = 2.0
    keys = ("EE", "EI", "IE", "II")  # pre letter first; code = 2 * inh_pre + inh_post
    ks = torch.zeros(4, 6, dtype=torch.long)
    ns = torch.zeros(4, 6, dtype=torch.long)
    off = ~torch.eye(135, dtype=torch.bool)
    for seed in range(25):
        mask, is_inh, pos = grid_mask((15, 3, 3), lam=lam, seed=seed)
        d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1).round().long()  # [post, pre]
        code = 2 * is_inh.long()[None, :] + is_inh.long()[:, None]
        sel = off & (d2 <= 5)
        idx = code[sel] * 6 + d2[sel]
        ks += torch.bincount(idx[mask[sel]], minlength=24).reshape(4, 6)
        ns += torch.bincount(idx, minlength=24).reshape(4, 6)
    hits = {(keys[c], dd): (int(ks[c, dd]), int(ns[c, dd])) for c in range(4) for dd in (1, 2, 4, 5)}
    for (key, dd), (k, n) in hits.items():
        p = MAASS_C[key] * math.exp(-dd / lam**2)
        sd = math.sqrt(p * (1 - p) / n)
        assert abs(k / n - p) < 4.5 * sd + 1e-3, (key, dd, k / n, p, n)


def test_maass_c_values_from_reference() -> None:
    assert MAASS_C == {"EE": 0.3, "EI": 0.2, "IE": 0.4, "II": 0.1}


def test_no_autapses_and_inhibitory_fraction() -> None:
    mask, is_inh, _ = grid_mask(seed=3)
    assert not mask.diagonal().any()
    assert int(is_inh.sum()) == 27  # 20 % of 135
    mask2, _, _ = grid_mask(seed=3, autapses=True, c={"EE": 1.0, "EI": 1.0, "IE": 1.0, "II": 1.0})
    assert mask2.diagonal().all()  # exp(0) * 1 = 1


def test_dale_signs_by_presynaptic_population() -> None:
    mask, is_inh, _ = grid_mask(seed=1)
    w = dale_weights(torch.randn(135, 135, dtype=torch.float64) * mask, is_inh)
    assert (w[:, ~is_inh] >= 0).all() and (w[:, is_inh] <= 0).all()
    assert ((w != 0) == mask).all()
    assert (w[:, is_inh] < 0).any() and (w[:, ~is_inh] > 0).any()


def test_spectral_radius_exact_after_scaling() -> None:
    w = random_sparse(80, 80, 0.1, seed=0)
    ws = scale_spectral_radius(w, 0.95)
    assert abs(np.abs(np.linalg.eigvals(ws.numpy())).max() - 0.95) < 1e-10
    # max |λ| over all eigenvalues, not the first returned: a triangular matrix with eigenvalues 0.1 and 2
    t = torch.tensor([[0.1, 5.0], [0.0, 2.0]], dtype=torch.float64)
    assert spectral_radius(t) == pytest.approx(2.0, abs=1e-12)
    with pytest.raises(ValueError, match="spectral radius 0"):
        scale_spectral_radius(torch.triu(torch.ones(4, 4), 1), 0.9)


def test_random_sparse_density() -> None:
    w = random_sparse(200, 200, 0.05, seed=0)
    assert abs(float((w != 0).double().mean()) - 0.05) < 0.005


@pytest.mark.parametrize("sign", ["bipolar", "positive", "negative", "binary"])
def test_input_projection_sign_and_density(sign: str) -> None:
    w = input_projection(300, 20, density=0.25, scale=0.5, sign=sign, seed=0)
    nz = w[w != 0]
    assert abs(nz.numel() / w.numel() - 0.25) < 0.02
    assert nz.abs().max() <= 0.5
    if sign == "positive":
        assert (nz > 0).all()
    elif sign == "negative":
        assert (nz < 0).all()
    elif sign == "binary":
        assert (nz.abs() == 0.5).all() and (nz > 0).any() and (nz < 0).any()
    else:
        assert (nz > 0).any() and (nz < 0).any()
