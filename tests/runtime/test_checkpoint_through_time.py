"""Checkpointing through time gives the gradients of plain BPTT."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.neurons import LI, LIF, ALIF
from spikeforge.runtime import checkpoint_through_time


def _net(backend: str) -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(12, 16), LIF.from_decay(0.9, backend=backend, reset="zero"),
                         nn.Linear(16, 16), ALIF(backend=backend, tau_mem=5e-3),
                         nn.Linear(16, 3), LI.from_decay(0.8, backend=backend))


@pytest.mark.parametrize("backend", ["torch", "auto"])
@pytest.mark.parametrize("chunk", [1, 7, 50])
def test_gradients_equal_plain_bptt(backend, chunk, gen):
    xs = (torch.rand(23, 4, 12, generator=gen) < 0.3).float() * 3
    ys = torch.tensor([0, 2, 1, 0])
    net = _net(backend)
    out_ref = net(xs)
    F.cross_entropy(out_ref.mean(0), ys).backward()
    ref = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    out = checkpoint_through_time(net, xs, chunk=chunk)
    assert torch.equal(out, out_ref)
    F.cross_entropy(out.mean(0), ys).backward()
    for p, g in zip(net.parameters(), ref):
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-6)


def test_no_grad_and_bad_chunk(gen):
    net = _net("auto")
    xs = torch.rand(5, 2, 12, generator=gen)
    with torch.no_grad():
        assert torch.equal(checkpoint_through_time(net, xs, chunk=2), net(xs))
    with pytest.raises(ValueError, match="chunk"):
        checkpoint_through_time(net, xs, chunk=0)
