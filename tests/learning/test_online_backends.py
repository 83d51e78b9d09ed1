"""SLTT / SLTT-K / OTTT run with the fused CPU kernels (the SLTT step kernel for backpropagated
steps): outputs and gradients match the torch reference for every registered neuron that has a
kernel (backend parity, per step)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.kernels import fused_available
from spikeforge.kernels.specs import spec_for
from spikeforge.learning.online import ottt_backward, sltt_backward
from spikeforge.neurons import NEURONS

FUSED = [n for n in NEURONS.names() if spec_for(NEURONS.get(n).step_fn) is not None and NEURONS.get(n).spiking]

pytestmark = [
    pytest.mark.skipif(not fused_available(), reason="no C++ toolchain for the fused backend"),
    pytest.mark.usefixtures("one_thread"),
]


def _net(name: str, backend: str) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 10), NEURONS.create(name, backend=backend, surrogate="triangle"),
                         nn.Linear(10, 3))


def _run(fn, name: str, backend: str, **kw):
    net = _net(name, backend)
    g = torch.Generator().manual_seed(1)
    xs = torch.rand(9, 4, 6, generator=g) * 3.0  # [T, B, 6]
    r = torch.randn(9, 4, 3, generator=g)
    res = fn(net, xs, lambda o, t: (o * r[t]).sum(), **kw)
    return res.outputs, [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in net.parameters()]


def test_some_neurons_have_kernels():
    assert {"lif", "alif", "cuba_lif"} <= set(FUSED)


@pytest.mark.parametrize("name", FUSED)
@pytest.mark.parametrize("mode", ["sltt", "sltt-k", "ottt"])
def test_online_modes_match_between_backends(name, mode, monkeypatch):
    import spikeforge.kernels as kernels
    import spikeforge.kernels.sltt as ksltt

    calls, sltt_calls = [], []
    real = kernels.run_cpp
    monkeypatch.setattr(kernels, "run_cpp", lambda *a, **k: calls.append(1) or real(*a, **k))
    real_step = ksltt._SLTTStep.apply
    monkeypatch.setattr(ksltt._SLTTStep, "apply", lambda *a: sltt_calls.append(1) or real_step(*a))
    fn, kw = {"sltt": (sltt_backward, {}), "sltt-k": (sltt_backward, {"k": 3}),
              "ottt": (ottt_backward, {"decay": 0.5})}[mode]
    outs = {}
    for backend in ("torch", "cpp"):
        if mode == "sltt-k":
            kw = {**kw, "generator": torch.Generator().manual_seed(5)}
        outs[backend] = _run(fn, name, backend, **kw)
    (o_ref, g_ref), (o_cpp, g_cpp) = outs["torch"], outs["cpp"]
    # a kernel ran every step of the cpp pass (T = 9), never the torch one: the fused SLTT step for
    # each backpropagated step (kernels/sltt.py), the forward kernel for SLTT-K's no-grad steps
    n_grad = 3 if mode == "sltt-k" else 9
    assert len(sltt_calls) == n_grad and len(calls) == 9 - n_grad
    assert torch.equal(o_ref, o_cpp)  # forward bit-identical
    assert o_ref.abs().sum() > 0
    for a, b in zip(g_ref, g_cpp):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert any(g.abs().sum() > 0 for g in g_ref[:2])  # the gradient reached the first layer
