"""SpikingSequential runs LIF + TimeDistributed(AvgPool2d) pairs fused: same bits as running them in turn.

Reference: the same modules in a plain ``nn.Sequential`` (each layer called on its own: the LIF
kernel, then the pooling kernel), whose values are the torch reference's (tests/kernels).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from spikeforge.kernels import available_backends
from spikeforge.layers import SpikingSequential, TimeDistributed
from spikeforge.neurons import LIF, LIFState
from spikeforge.numerics import NonFiniteError
from spikeforge.surrogate import FastSigmoid

needs_cpp = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")
CL = torch.channels_last


def _net(memory_format=CL) -> SpikingSequential:
    torch.manual_seed(0)
    lif = lambda: LIF.from_decay(0.9, reset="zero", detach_reset=True, surrogate=FastSigmoid(slope=25.0))  # noqa: E731
    net = SpikingSequential(
        TimeDistributed(nn.Conv2d(2, 8, 3, padding=1), memory_format=memory_format), lif(),
        TimeDistributed(nn.AvgPool2d(2), memory_format=memory_format),
        TimeDistributed(nn.Conv2d(8, 8, 3, padding=1), memory_format=memory_format), lif(),
        TimeDistributed(nn.AvgPool2d(2)),
        TimeDistributed(nn.Flatten()), nn.Linear(8 * 3 * 3, 4), lif())
    with torch.no_grad():  # gains that make every layer fire
        for layer, gain in ((net[0].module, 2.0), (net[3].module, 4.0), (net[7], 4.0)):
            layer.weight.mul_(gain)
            layer.bias.add_(0.3)
    return net


def _frames(gen, T=6, B=3):
    return (torch.rand(T, B, 2, 13, 13, generator=gen) < 0.3).float() * 2.0  # [T, B, 2, H, W], odd H, W


def _step(net, xs):
    """Output and the gradient of every parameter for a fixed loss."""
    net.zero_grad(set_to_none=True)
    ys = net(xs)
    (ys * torch.linspace(-1, 1, ys.shape[-1])).sum().backward()
    return ys.detach(), [p.grad.clone() for p in net.parameters()]


@needs_cpp
@pytest.mark.parametrize("memory_format", [CL, None], ids=["channels_last", "nchw"])
def test_forward_and_gradients_same_bits(memory_format, lif_pool_runs, gen):
    net = _net(memory_format)
    plain = nn.Sequential(*copy.deepcopy(list(net)))  # the same modules, one call each
    xs = _frames(gen)
    ys, grads = _step(net, xs)
    assert len(lif_pool_runs) == 2  # both LIF + pool pairs ran fused
    ys_ref, grads_ref = _step(plain, xs)
    assert len(lif_pool_runs) == 2
    assert ys.sum() > 0 and torch.equal(ys, ys_ref)
    assert all(torch.equal(g, r) for g, r in zip(grads, grads_ref))


@needs_cpp
def test_streaming_states(lif_pool_runs, gen):
    net = _net()
    xs = _frames(gen, T=8)
    ys, states = net.run(xs)
    assert len(lif_pool_runs) == 2
    assert states[2] is None and states[5] is None and isinstance(states[1], LIFState)
    y1, s1 = net.run(xs[:5])  # chunk by chunk, states handed back in
    y2, s2 = net.run(xs[5:], s1)
    assert torch.equal(torch.cat([y1, y2]), ys)
    for a, b in zip(s2, states):
        assert (a is None and b is None) or all(torch.equal(u, v) for u, v in zip(a, b))
    # the neuron's final state is the unfused run's
    h = net[0](xs)
    _, st = net[1].run(h)
    assert torch.equal(states[1].v, st.v)


@needs_cpp
def test_hooks_and_torch_backend_run_unfused(lif_pool_runs, gen, monkeypatch):
    xs = _frames(gen)
    net = _net()
    ref = net(xs)
    assert len(lif_pool_runs) == 2
    seen = []
    handle = net[2].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    assert torch.equal(net(xs), ref) and len(lif_pool_runs) == 3 and len(seen) == 1  # the hooked pair runs unfused
    handle.remove()
    net[4].backend = "torch"
    assert torch.equal(net(xs), ref) and len(lif_pool_runs) == 4
    monkeypatch.setenv("SPIKEFORGE_BACKEND", "torch")
    assert torch.equal(net(xs), ref) and len(lif_pool_runs) == 4


@needs_cpp
def test_non_finite_state_reported_as_unfused(gen):
    net = _net()
    xs = _frames(gen)
    h = net[0](xs)
    v = torch.zeros(h.shape[1:]).contiguous(memory_format=CL)
    v[1, 2, 3, 4] = float("inf")
    states = (None, LIFState(v), None, None, None, None, None, None, None)
    with pytest.raises(NonFiniteError) as fused:
        net.run(xs, states)
    with pytest.raises(NonFiniteError) as plain:
        net[1].run(h, LIFState(v))
    assert str(plain.value) in str(fused.value)
