"""Surrogate derivatives exactly on the edge of their support (a planted ``<`` -> ``<=`` in the
rectangle survived every other test; see ``MUTATION.md``).

The documented rectangle is :math:`\\mathbb{1}[|x| < w/2] / w`: open at the edges, like the fused
kernel's (``spikeforge/kernels/csrc/lif.cpp``), so a membrane landing exactly on ``v_th ± w/2``
gets no gradient on either backend. The edge values are exact in binary.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.surrogate import SURROGATES


def _derivative(sg, xs: list[float]) -> list[float]:  # type: ignore[no-untyped-def]
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    sg(x).sum().backward()
    assert x.grad is not None
    return x.grad.tolist()


@pytest.mark.parametrize("width", [1.0, 2.0, 0.5])
def test_rectangle_is_open_at_its_edges(width):
    half, inside = width / 2, width / 2 - 2.0**-20
    got = _derivative(SURROGATES.create("rectangle", width=width), [-half, half, -inside, inside])
    assert got == [0.0, 0.0, 1.0 / width, 1.0 / width]


@pytest.mark.parametrize("name, kw, edge", [("triangle", {"width": 1.0}, 1.0), ("triangle", {"width": 2.0}, 2.0),
                                             ("piecewise_quadratic", {"alpha": 2.0}, 0.5)])
def test_tent_surrogates_vanish_at_and_beyond_their_edges(name, kw, edge):
    got = _derivative(SURROGATES.create(name, **kw), [-edge, edge, 1.5 * edge, -1.5 * edge])
    assert got == [0.0, 0.0, 0.0, 0.0]
