"""Lempel–Ziv complexity: check 26 (published counts) and an independent LZ76 implementation."""

from __future__ import annotations

import math
import random

import pytest
import torch

from spikeforge.encoders import DECODERS, ENCODERS
from spikeforge.encoders.lzc import lempel_ziv_complexity, lzc_binarize, lzc_count


@pytest.mark.parametrize(("s", "c"), [("0001101001000101", 6), ("0" * 16, 2), ("01" * 8, 3)])
def test_check26_known_values(s, c):
    assert lzc_count(s) == c


def _kaspar_schuster(s: str) -> int:
    """Kaspar & Schuster's (1987) pointer algorithm, written separately as an oracle."""
    n = len(s)
    i, k, ln, c, k_max = 0, 1, 1, 1, 1
    while True:
        if s[i + k - 1] == s[ln + k - 1]:
            k += 1
            if ln + k > n:
                c += 1
                break
        else:
            k_max = max(k, k_max)
            i += 1
            if i == ln:
                c += 1
                ln += k_max
                if ln + 1 > n:
                    break
                i, k, k_max = 0, 1, 1
            else:
                k = 1
    return c


def test_matches_kaspar_schuster_on_random_strings():
    rng = random.Random(0)
    for _ in range(300):
        n = rng.randint(2, 60)
        p = rng.choice([0.1, 0.5, 0.9])
        s = "".join("1" if rng.random() < p else "0" for _ in range(n))
        assert lzc_count(s) == _kaspar_schuster(s), s


def test_tensor_version_and_normalization():
    bits = torch.tensor([[int(b) for b in "0001101001000101"], [0] * 16, [0, 1] * 8]).T.float()  # [16, 3]
    assert lempel_ziv_complexity(bits, normalize=False).tolist() == [6.0, 2.0, 3.0]
    assert lempel_ziv_complexity(bits)[0].item() == pytest.approx(6 * math.log2(16) / 16)
    zs = bits.view(16, 3, 1)
    assert DECODERS.create("lzc")(zs).shape == (3, 1)


def test_random_trains_are_more_complex_than_periodic():
    g = torch.Generator().manual_seed(0)
    rand = (torch.rand(200, 8, generator=g) < 0.5).float()
    periodic = (torch.arange(200) % 4 < 2).float()[:, None].expand(200, 8)
    assert lempel_ziv_complexity(rand).min() > 3 * lempel_ziv_complexity(periodic).max()


def test_encoder_is_median_binarization():
    xs = torch.tensor([0.1, 0.9, 0.2, 0.8, 0.5, 0.4]).view(6, 1, 1)
    assert lzc_binarize(xs).flatten().tolist() == [0.0, 1.0, 0.0, 1.0, 1.0, 0.0]  # median (lower) 0.4
    assert torch.equal(ENCODERS.create("lzc", steps=6)(xs), lzc_binarize(xs))
    with pytest.raises(ValueError, match="T=5"):
        ENCODERS.create("lzc", steps=5)(xs)
