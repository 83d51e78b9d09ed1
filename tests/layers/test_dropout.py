"""Sequence dropout: one mask per sequence, shared over time; identity in eval."""

from __future__ import annotations

import pytest
import torch

from spikeforge.layers import SequenceDropout, sequence_dropout


def test_mask_is_shared_across_time_and_scaled() -> None:
    xs = torch.rand(7, 16, 32) + 0.5
    ys = SequenceDropout(0.3)(xs, generator=torch.Generator().manual_seed(0))
    mask = ys / xs  # [T, B, N]: 0 or 1/(1-p)
    assert torch.allclose(mask, mask[:1].expand_as(mask))
    assert set(torch.round(mask[0] * 1e4).unique().tolist()) == {0.0, round(1e4 / 0.7)}


def test_drop_fraction_and_mean_preserved() -> None:
    g = torch.Generator().manual_seed(1)
    xs = torch.ones(3, 200, 500)
    ys = sequence_dropout(xs, 0.25, generator=g)
    dropped = (ys[0] == 0).float().mean().item()
    assert dropped == pytest.approx(0.25, abs=0.01)
    assert ys.mean().item() == pytest.approx(1.0, abs=0.02)


def test_masks_differ_between_samples_but_are_deterministic_with_seed() -> None:
    xs = torch.ones(4, 2, 1000)
    a = sequence_dropout(xs, 0.5, generator=torch.Generator().manual_seed(5))
    b = sequence_dropout(xs, 0.5, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert not torch.equal(a[0, 0], a[0, 1])


def test_identity_in_eval_and_edge_probabilities() -> None:
    xs = torch.rand(4, 3, 5)
    drop = SequenceDropout(0.9).eval()
    assert drop(xs) is xs
    assert torch.equal(sequence_dropout(xs, 0.0), xs)
    assert torch.equal(sequence_dropout(xs, 1.0), torch.zeros_like(xs))


def test_gradient_only_through_kept_units() -> None:
    xs = torch.ones(5, 2, 50, requires_grad=True)
    ys = sequence_dropout(xs, 0.5, generator=torch.Generator().manual_seed(2))
    ys.sum().backward()
    assert torch.equal(xs.grad, ys.detach())  # d(m x / (1-p))/dx = m / (1-p) = y for x = 1


def test_bad_probability_and_rank() -> None:
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        SequenceDropout(1.5)
    with pytest.raises(TypeError, match="p must be a float"):
        SequenceDropout("0.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        sequence_dropout(torch.ones(5), 0.5)
