"""Decoders: hand-computed reductions over time, registry contract, bad input."""

from __future__ import annotations

import pytest
import torch

from spikeforge.encoders import DECODERS, FirstSpikeTime, first_spike_time, latency_encode

ZS = torch.tensor([  # [T=4, B=1, C=3]
    [[0.0, 0.0, 0.0]],
    [[1.0, 0.0, 0.0]],
    [[1.0, 0.0, 1.0]],
    [[0.0, 0.0, 1.0]],
])


@pytest.mark.parametrize("name", DECODERS.names())
def test_every_decoder_builds_without_args_and_reduces_time(name: str) -> None:
    dec = DECODERS.create(name)
    assert dec(torch.rand(6, 2, 5)).shape == (2, 5)
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        dec(torch.rand(6))


def test_decoders_hand_computed() -> None:
    assert DECODERS.create("spike_count")(ZS).tolist() == [[2.0, 0.0, 2.0]]
    assert DECODERS.create("mean_membrane")(ZS).tolist() == [[0.5, 0.0, 0.5]]
    vs = torch.tensor([[[0.1, -2.0]], [[0.7, -1.0]], [[0.3, -3.0]]])  # [3, 1, 2]
    assert DECODERS.create("max_membrane")(vs).tolist() == [[pytest.approx(0.7), -1.0]]
    assert DECODERS.create("first_spike_time")(ZS).tolist() == [[1.0, 4.0, 2.0]]
    assert FirstSpikeTime(no_spike=-1.0)(ZS).tolist() == [[1.0, -1.0, 2.0]]


def test_first_spike_time_inverts_latency_encoding() -> None:
    x = torch.tensor([[1.0, 0.5, 0.3, 0.0]])
    assert first_spike_time(latency_encode(x, 11)).tolist() == [[0.0, 5.0, 7.0, 10.0]]


def test_count_and_mean_decoders_pass_gradient() -> None:
    zs = torch.rand(5, 2, 3, requires_grad=True)
    (DECODERS.create("spike_count")(zs).sum() + DECODERS.create("mean_membrane")(zs).sum()).backward()
    assert torch.allclose(zs.grad, torch.full_like(zs, 1.2))
