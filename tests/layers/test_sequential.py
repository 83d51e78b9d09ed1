"""SpikingSequential: explicit state threading; chunked streaming equals one pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.layers import RecurrentSpiking, SequenceDropout, SpikingSequential, TDBatchNorm, TimeDistributed
from spikeforge.neurons import ALIF, LI, LIF, CubaLIF


def _net() -> SpikingSequential:
    torch.manual_seed(4)
    net = SpikingSequential(
        nn.Linear(8, 16), LIF(tau_mem=5e-3),
        TimeDistributed(nn.Linear(16, 12)), TDBatchNorm(12), SequenceDropout(0.3),
        RecurrentSpiking(12, 12, neuron="alif"),
        SpikingSequential(nn.Linear(12, 6), CubaLIF()),
        nn.Linear(6, 3), LI(tau_mem=20e-3),
    ).double()
    return net.eval()  # eval: norm uses running stats and dropout is identity -> time-local


def test_chunked_streaming_equals_whole_sequence() -> None:
    net = _net()
    xs = torch.rand(24, 2, 8, dtype=torch.float64) * 10
    whole, final = net.run(xs)
    torch.testing.assert_close(net(xs), whole)
    parts, states = [], None
    for chunk in xs.split([5, 1, 10, 8]):
        ys, states = net.run(chunk, states)
        parts.append(ys)
    torch.testing.assert_close(torch.cat(parts), whole)
    assert len(states) == len(net)
    stateless = [i for i, layer in enumerate(net) if not hasattr(layer, "run")]
    assert stateless == [0, 2, 3, 4, 7]
    assert all(states[i] is None for i in stateless)
    assert isinstance(states[6], tuple) and len(states[6]) == 2  # nested container's states
    for got, want in zip(torch.utils._pytree.tree_leaves(states), torch.utils._pytree.tree_leaves(final)):
        torch.testing.assert_close(got, want)


def test_state_changes_the_output() -> None:
    net = _net()
    xs = torch.rand(10, 2, 8, dtype=torch.float64) * 10
    _, states = net.run(xs)
    fresh, _ = net.run(xs)
    continued, _ = net.run(xs, states)
    assert not torch.allclose(fresh, continued)


def test_works_as_plain_sequential_with_gradients() -> None:
    net = SpikingSequential(nn.Linear(4, 8), ALIF(), nn.Linear(8, 2), LI())
    xs = torch.rand(6, 3, 4, requires_grad=True)
    out = net(xs)
    assert out.shape == (6, 3, 2)
    out.sum().backward()
    assert xs.grad is not None and net[0].weight.grad is not None
    assert isinstance(net[1], ALIF) and len(net) == 4


def test_bad_states() -> None:
    net = SpikingSequential(nn.Linear(4, 8), LIF())
    xs = torch.rand(6, 3, 4)
    with pytest.raises(ValueError, match=r"one entry per layer \(2\), got tuple of length 1"):
        net.run(xs, (None,))
    with pytest.raises(ValueError, match="layer 0 \\(Linear\\) is stateless but got state"):
        net.run(xs, (torch.zeros(1), None))
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        net.run(torch.rand(4))
