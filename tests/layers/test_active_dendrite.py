"""Active-dendrite layer (reference §4.9, [R]): float64 against scalar loops written here, gradients
only through each unit's winning segment, k-winners-take-all by hand, the time-major API (context per
sample or per step) and its input errors."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.layers.active_dendrite import ActiveDendrite, active_dendrite, k_winners_take_all
from spikeforge.numerics import NonFiniteError, allow_nonfinite


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
@pytest.mark.parametrize("per_step", [False, True])
def test_golden_against_scalar_loops(gen, k, per_step):
    T, B = 3, 4
    layer = ActiveDendrite(5, 7, 4, segments=3, k_winners=k, dtype=torch.float64)
    xs = torch.randn(T, B, 5, generator=gen, dtype=torch.float64)
    c = torch.randn(*((T, B) if per_step else (B,)), 4, generator=gen, dtype=torch.float64)
    y = layer(xs, c)
    w, b, u = layer.linear.weight.tolist(), layer.linear.bias.tolist(), layer.segments.tolist()
    ref = torch.tensor([[_ref(xs[t, i].tolist(), (c[t, i] if per_step else c[i]).tolist(), w, b, u, k)
                         for i in range(B)] for t in range(T)], dtype=torch.float64)
    torch.testing.assert_close(y, ref, rtol=0, atol=1e-12)
    if k is not None:
        assert ((y != 0).sum(-1) == k).all()


def test_step_and_context_forms_agree(gen):
    layer = ActiveDendrite(6, 9, 3, segments=4, k_winners=4)
    xs = torch.randn(5, 2, 6, generator=gen)
    c = torch.randn(2, 3, generator=gen)
    ys = layer(xs, c)
    torch.testing.assert_close(ys, torch.stack([layer.step(x, c) for x in xs]), rtol=0, atol=0)
    torch.testing.assert_close(ys, layer(xs, c.expand(5, 2, 3)), rtol=0, atol=0)
    c2 = torch.randn(5, 2, 3, generator=gen)  # a context that changes with time
    torch.testing.assert_close(layer(xs, c2), torch.stack([layer.step(x, ct) for x, ct in zip(xs, c2)]))


def test_gate_picks_the_segment_of_largest_magnitude_even_if_negative():
    seg = torch.tensor([[[1.0], [-3.0], [2.0]]], dtype=torch.float64)  # one unit, three segments, C = 1
    y = active_dendrite(torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64),
                        torch.ones(1, 1, dtype=torch.float64), None, seg)
    assert y.item() == pytest.approx(1.0 / (1.0 + math.exp(3.0)), abs=1e-15)  # σ(-3), not σ(2)


def test_only_the_winning_segment_learns(gen):
    layer = ActiveDendrite(3, 4, 2, segments=5, dtype=torch.float64)
    x = torch.randn(1, 1, 3, generator=gen, dtype=torch.float64)
    c = torch.randn(1, 2, generator=gen, dtype=torch.float64)
    layer(x, c).sum().backward()
    act = torch.einsum("c,jkc->jk", c[0], layer.segments.detach())
    winners = act.abs().argmax(-1)
    g = layer.segments.grad.abs().sum(-1)  # [J, K]
    for j in range(4):
        assert g[j, winners[j]] > 0 and g[j].sum() == g[j, winners[j]]


def test_k_winners_take_all_by_hand():
    y = torch.tensor([[0.5, -2.0, 3.0, 1.0, 0.7], [-1.0, -2.0, -3.0, -0.5, -4.0]])
    assert k_winners_take_all(y, 2).tolist() == [[0.0, 0.0, 3.0, 1.0, 0.0], [-1.0, 0.0, 0.0, -0.5, 0.0]]
    assert torch.equal(k_winners_take_all(y, 5), y)
    with pytest.raises(ValueError, match="k must be an int in 1..5"):
        k_winners_take_all(y, 0)


def test_bad_input():
    with pytest.raises(ValueError, match="k_winners"):
        ActiveDendrite(3, 4, 2, k_winners=5)
    with pytest.raises(ValueError, match=r"segments must be \[J, K, C\]"):
        active_dendrite(torch.ones(1, 3), torch.ones(1, 2), torch.ones(4, 3), None, torch.ones(4, 2, 3))
    layer = ActiveDendrite(3, 4, 2)
    with pytest.raises(ValueError, match=r"expected input \[T, B, 3\], got \(5, 3\)"):
        layer(torch.ones(5, 3), torch.ones(5, 2))  # a batch without a time axis
    with pytest.raises(ValueError, match=r"expected input \[T, B, 3\], got \(6, 5, 4\)"):
        layer(torch.ones(6, 5, 4), torch.ones(5, 2))
    with pytest.raises(ValueError, match=r"expected context \[5, 2\] or \[6, 5, 2\]"):
        layer(torch.ones(6, 5, 3), torch.ones(4, 2))
    with pytest.raises(ValueError, match=r"expected context .* got \(6, 5, 3\)"):
        layer(torch.ones(6, 5, 3), torch.ones(6, 5, 3))
    with pytest.raises(ValueError, match=r"expected input \[B, 3\]"):
        layer.step(torch.ones(6, 5, 3), torch.ones(5, 2))
    with pytest.raises(TypeError, match="context dtype torch.float64"):
        layer(torch.ones(6, 5, 3), torch.ones(5, 2, dtype=torch.float64))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_input_and_context_raise(bad):
    layer = ActiveDendrite(3, 4, 2, k_winners=2)
    xs, c = torch.rand(6, 5, 3), torch.rand(5, 2)
    xs[4, 1, 2] = bad
    with pytest.raises(NonFiniteError, match=r"non-finite input .* at time step 4, index \(1, 2\)"):
        layer(xs, c)
    with allow_nonfinite():
        layer(xs, c)
    c2 = torch.rand(6, 5, 2)
    c2[2, 3, 0] = bad
    with pytest.raises(NonFiniteError, match=r"non-finite context .* at time step 2, index \(3, 0\)"):
        layer(torch.rand(6, 5, 3), c2)
    c[1, 1] = bad
    with pytest.raises(NonFiniteError, match=r"non-finite context .* at index \(1, 1\)"):
        layer(torch.rand(6, 5, 3), c)
    with pytest.raises(NonFiniteError, match="active_dendrite: non-finite context"):
        active_dendrite(torch.rand(5, 3), c, layer.linear.weight, None, layer.segments)
