"""Reservoir classification helpers: spike inputs, binned counts, ridge accuracy; a small NALSM liquid on digits."""

from __future__ import annotations

import pytest
import torch

from spikeforge.reservoir.classify import digits_spikes, ridge_accuracy, spike_counts
from spikeforge.reservoir.nalsm import NALSM, NALSMConfig


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny per-step ops (tests/conftest.py)


def test_spike_counts_bins_by_hand() -> None:
    xs = torch.zeros(6, 2, 3)
    xs[0, 0, 0] = xs[4, 0, 0] = xs[5, 1, 2] = 1.0
    c = spike_counts(lambda x: x, xs, bins=2, batch_size=1)  # bins [0, 3) and [3, 6), bin-major features
    assert c.tolist() == [[1, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1]]
    assert torch.equal(spike_counts(lambda x: x, xs), xs.sum(0))


def test_ridge_accuracy_separable_and_chance() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(300) % 3
    x = torch.nn.functional.one_hot(y, 3).double() * 5 + torch.randn(300, 3, generator=g, dtype=torch.float64)
    assert ridge_accuracy(x[:200], y[:200], x[200:], y[200:]) > 0.95
    noise = torch.randn(300, 3, generator=g, dtype=torch.float64)
    assert ridge_accuracy(noise[:200], y[:200], noise[200:], y[200:]) < 0.55  # labels not in the features


def test_small_liquid_classifies_digits() -> None:
    xtr, ytr, xte, yte = digits_spikes(30, seed=0)
    assert xtr.shape == (30, 1348, 64) and xte.shape == (30, 449, 64)
    assert float(xtr.mean()) == pytest.approx(0.2 * 0.308, rel=0.05)  # max_rate x mean pixel intensity
    lsm = NALSM(64, NALSMConfig(shape=(4, 4, 4), seed=0))
    ftr, fte = spike_counts(lsm, xtr[:, :500]), spike_counts(lsm, xte[:, :200])  # [S, 64] liquid spike counts
    acc = ridge_accuracy(ftr, ytr[:500], fte, yte[:200])
    assert acc > 0.5, acc  # chance 0.1
