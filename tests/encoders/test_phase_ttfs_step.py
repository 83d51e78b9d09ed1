"""Phase coding and STEP's TTFS against hand counts and a pure-Python float64 reference.

The formulas are STEP's as the project reference summarises them ([2nd]: second-hand, not checked
against BrainCog's source): TTFS one spike at 1-based ``t* = 1 + floor((1 - x) T)``; phase coding
with 8 bit-planes weighted ``2^-(b+1)``.
"""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.encoders import ENCODERS, phase_decode, phase_encode, step_ttfs_encode


def _bits_reference(x: float, k: int) -> list[int]:
    """Greedy binary expansion in float64: subtract 2^-(b+1) whenever it fits."""
    out, rest = [], min(x, 1 - 2.0**-k)
    for b in range(k):
        w = 2.0 ** -(b + 1)
        bit = int(rest >= w)
        out.append(bit)
        rest -= bit * w
    return out


@pytest.mark.parametrize("k", [1, 3, 8])
def test_phase_bits_equal_greedy_expansion(k: int) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(200, generator=g, dtype=torch.float64)
    x[:4] = torch.tensor([0.0, 1.0, 0.5, 1 - 2.0**-k])
    z = phase_encode(x, 2 * k + 1, bits=k)  # [T, 200]
    for i in range(200):
        ref = _bits_reference(float(x[i]), k)
        want = (ref * 3)[: 2 * k + 1]  # the pattern repeats every k steps
        assert z[:, i].long().tolist() == want, (float(x[i]), z[:, i].tolist(), want)


def test_phase_decode_is_floor_quantisation() -> None:
    x = torch.linspace(0, 1, 1001, dtype=torch.float64)
    got = phase_decode(phase_encode(x, 8), bits=8)
    want = torch.tensor([min(math.floor(v * 256), 255) / 256 for v in x.tolist()], dtype=torch.float64)
    assert torch.equal(got, want)
    assert float((x - got).abs().max()) <= 1 / 256 + 1e-12


def test_phase_hand_examples() -> None:
    # 0.75 = 0.11b; 1/256 is the last of 8 planes; 0 never spikes
    z = phase_encode(torch.tensor([0.75, 1 / 256, 0.0]), 8)
    assert z[:, 0].tolist() == [1, 1, 0, 0, 0, 0, 0, 0]
    assert z[:, 1].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    assert z[:, 2].sum() == 0


def test_step_ttfs_hand_examples() -> None:
    T = 10
    x = torch.tensor([1.0, 0.95, 0.5, 0.05, 0.0], dtype=torch.float64)
    z = step_ttfs_encode(x, T)
    # 1-based t* = 1 + floor((1-x) T): 1, 1, 6, 10, 11 (= beyond T: no spike)
    times = [int(z[:, i].argmax()) + 1 if z[:, i].any() else None for i in range(5)]
    assert times == [1, 1, 6, 10, None]
    assert z.sum(0).max() <= 1


def test_step_ttfs_matches_formula_on_random_inputs() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(500, generator=g, dtype=torch.float64)
    T = 7
    z = step_ttfs_encode(x, T)
    for i, v in enumerate(x.tolist()):
        t1 = 1 + math.floor((1 - v) * T)
        assert z[:, i].tolist() == [1.0 if s + 1 == t1 else 0.0 for s in range(T)]


def test_registered_and_reject_bad_input() -> None:
    assert ENCODERS.create("phase", steps=8)(torch.rand(2, 3)).shape == (8, 2, 3)
    assert ENCODERS.create("ttfs_step", steps=5)(torch.rand(2, 3)).shape == (5, 2, 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        phase_encode(torch.tensor([1.5]), 8)
    with pytest.raises(ValueError, match="bits"):
        phase_encode(torch.tensor([0.5]), 8, bits=0)
    with pytest.raises(ValueError, match="full period"):
        phase_decode(torch.zeros(3, 2), bits=8)
