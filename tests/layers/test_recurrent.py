"""Recurrent spiking layer: manual recurrence, streaming equivalence, gradients, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.layers import RecurrentSpiking, RecurrentState
from spikeforge.neurons import LIF, LIFParams, LIFState, lif_step


def _net(neuron: str = "lif", **kw) -> RecurrentSpiking:  # type: ignore[no-untyped-def]
    torch.manual_seed(3)
    net = RecurrentSpiking(6, 10, neuron=neuron, dtype=torch.float64, **kw)
    with torch.no_grad():
        net.recurrent.weight.mul_(4.0)  # make the recurrence matter
    return net


def test_matches_manual_recurrence_with_lif_step() -> None:
    net = _net()
    xs = torch.rand(15, 3, 6, dtype=torch.float64) * 300
    p = LIFParams(*(torch.as_tensor(v, dtype=torch.float64) for v in LIFParams()))
    v = torch.zeros(3, 10, dtype=torch.float64)
    z = torch.zeros(3, 10, dtype=torch.float64)
    expected = []
    W_in, b_in, W_rec = net.input.weight.detach(), net.input.bias.detach(), net.recurrent.weight.detach()
    for x in xs:
        i = x @ W_in.T + b_in + z @ W_rec.T
        z, s = lif_step(i, LIFState(v), p, dt=1e-3)
        v = s.v
        expected.append(z)
    zs = net(xs).detach()
    torch.testing.assert_close(zs, torch.stack(expected))
    assert 0 < zs.mean() < 1


@pytest.mark.parametrize("neuron", ["lif", "alif", "cuba_lif", "izhikevich"])
def test_streaming_in_chunks_equals_one_run_and_step_loop(neuron: str) -> None:
    net = _net(neuron)
    xs = torch.rand(20, 2, 6, dtype=torch.float64) * 300
    whole, final = net.run(xs)
    assert 0 < whole.mean() < 1
    parts, state = [], None
    for chunk in xs.split([7, 1, 12]):
        zs, state = net.run(chunk, state)
        parts.append(zs)
    torch.testing.assert_close(torch.cat(parts), whole)
    stepped, state2 = [], None
    for x in xs:
        z, state2 = net.step(x, state2)
        stepped.append(z)
    torch.testing.assert_close(torch.stack(stepped), whole)
    assert isinstance(final, RecurrentState)
    torch.testing.assert_close(final.z, whole[-1])
    for a, b in zip(state.neuron, final.neuron):
        torch.testing.assert_close(a, b)


def test_recurrent_weights_change_output_and_get_gradient() -> None:
    net = _net()
    xs = torch.rand(15, 3, 6, dtype=torch.float64) * 300
    xs.requires_grad_(True)
    zs = net(xs)
    zs.sum().backward()
    assert net.recurrent.weight.grad is not None and net.recurrent.weight.grad.abs().sum() > 0
    assert net.input.weight.grad.abs().sum() > 0
    with torch.no_grad():
        net.recurrent.weight.zero_()
    assert not torch.equal(net(xs.detach()), zs.detach())


def test_accepts_a_neuron_instance_and_rejects_bad_arguments() -> None:
    lif = LIF(tau_mem=20e-3)
    net = RecurrentSpiking(3, 4, neuron=lif)
    assert net.neuron is lif
    assert net(torch.rand(5, 2, 3)).shape == (5, 2, 4)
    with pytest.raises(TypeError, match="need a neuron \\*name\\*"):
        RecurrentSpiking(3, 4, neuron=lif, tau_mem=1e-3)
    with pytest.raises(TypeError, match="neuron must be a registry name or a Neuron"):
        RecurrentSpiking(3, 4, neuron=nn.ReLU())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown neuron 'nope'"):
        RecurrentSpiking(3, 4, neuron="nope")
    with pytest.raises(ValueError, match="out_features must be a positive int"):
        RecurrentSpiking(3, 0)
    with pytest.raises(ValueError, match="expected 3 input features"):
        net(torch.rand(5, 2, 7))
    with pytest.raises(ValueError, match=r"\[T, B, \.\.\.\]"):
        net(torch.rand(3))
