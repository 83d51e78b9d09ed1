"""Active-dendrite layer (reference §4.9, [R]): float64 against scalar loops written here, gradients
only through each unit's winning segment, k-winners-take-all by hand."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.layers.active_dendrite import ActiveDendrite, active_dendrite


def _ref(x: list[float], c: list[float], w: list, b: list[float], u: list, k: int | None) -> list[float]:
    y = []
    for j in range(len(w)):
        t = sum(wi * xi for wi, xi in zip(w[j], x, strict=True)) + b[j]
        acts = [sum(s * ci for s, ci in zip(seg, c, strict=True)) for seg in u[j]]
        d = max(acts, key=abs)
        y.append(t / (1.0 + math.exp(-d)))
    if k is not None:
        cut = sorted(y, reverse=True)[k - 1]
        y = [v if v >= cut else 0.0 for v in y]
    return y


@pytest.mark.parametrize("k", [None, 3])
def test_golden_against_scalar_loops(gen, k):
    layer = ActiveDendrite(5, 7, 4, segments=3, k_winners=k, dtype=torch.float64)
    x = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    c = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    y = layer(x, c)
    w, b, u = layer.linear.weight.tolist(), layer.linear.bias.tolist(), layer.segments.tolist()
    ref = torch.tensor([_ref(x[i].tolist(), c[i].tolist(), w, b, u, k) for i in range(6)], dtype=torch.float64)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)
    if k is not None:
        assert ((y != 0).sum(-1) == k).all()


def test_gate_picks_the_segment_of_largest_magnitude_even_if_negative():
    seg = torch.tensor([[[1.0], [-3.0], [2.0]]], dtype=torch.float64)  # one unit, three segments, C = 1
    y = active_dendrite(torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64),
                        torch.ones(1, 1, dtype=torch.float64), None, seg)
    assert y.item() == pytest.approx(1.0 / (1.0 + math.exp(3.0)), abs=1e-15)  # σ(-3), not σ(2)


def test_only_the_winning_segment_learns(gen):
    layer = ActiveDendrite(3, 4, 2, segments=5, dtype=torch.float64)
    x = torch.randn(1, 3, generator=gen, dtype=torch.float64)
    c = torch.randn(1, 2, generator=gen, dtype=torch.float64)
    layer(x, c).sum().backward()
    act = torch.einsum("c,jkc->jk", c[0], layer.segments.detach())
    winners = act.abs().argmax(-1)
    g = layer.segments.grad.abs().sum(-1)  # [J, K]
    for j in range(4):
        assert g[j, winners[j]] > 0 and g[j].sum() == g[j, winners[j]]


def test_bad_input():
    with pytest.raises(ValueError, match="k_winners"):
        ActiveDendrite(3, 4, 2, k_winners=5)
    with pytest.raises(ValueError, match=r"segments must be \[J, K, C\]"):
        active_dendrite(torch.ones(1, 3), torch.ones(1, 2), torch.ones(4, 3), None, torch.ones(4, 2, 3))
