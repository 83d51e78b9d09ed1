"""The fused LIF step moves no tensor it does not need (issue 17).

An output of the fused Function that the loss does not use (the final state in ``layer(x).sum()``)
must reach the kernel as a null gradient, not as a zero-filled ``[B, *]`` tensor that autograd
writes and the backward kernel then reads (2 x 4 MB of the [8, 64, 16384] bench step). The
gradients must stay those of the torch reference when only one of the two outputs is used.
"""

from __future__ import annotations

import pytest
import torch

from _fused import FILLS, Ops

from spikeforge.kernels import available_backends
from spikeforge.neurons import LIF
from spikeforge.surrogate import FastSigmoid

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")


def _layer(backend: str) -> LIF:
    return LIF.from_decay(0.9, reset="zero", detach_reset=True, surrogate=FastSigmoid(slope=1.0), backend=backend)


def test_backward_of_spike_sum_fills_nothing() -> None:
    xs = torch.randn(6, 4, 33, generator=torch.Generator().manual_seed(0)) * 0.3 + 0.1  # [T, B, N]
    layer = _layer("cpp")
    x = xs.clone().requires_grad_()
    loss = layer(x).sum()
    with Ops() as rec:
        loss.backward()
    fills = [(name, shapes) for name, shapes in rec.ops if name in FILLS]
    assert fills == [], f"backward wrote zero-filled tensors: {fills}"
    assert x.grad is not None and x.grad.shape == xs.shape


@pytest.mark.parametrize("use", ["spikes", "final", "both"])
def test_one_used_output_matches_reference(use: str) -> None:
    xs = torch.randn(7, 3, 17, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.4 + 0.2
    grads = []
    for backend in ("cpp", "torch"):
        x = xs.clone().requires_grad_()
        zs, final = _layer(backend).run(x)
        loss = zs.new_zeros(())
        if use in ("spikes", "both"):
            loss = loss + (zs * torch.linspace(-1, 1, zs.numel(), dtype=zs.dtype).reshape(zs.shape)).sum()
        if use in ("final", "both"):
            loss = loss + (final.v * final.v).sum()
        (g,) = torch.autograd.grad(loss, [x])
        grads.append(g)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)
    assert grads[0].abs().sum() > 0


def test_forward_from_rest_writes_no_state() -> None:
    """The resting state is one value expanded over ``[B, *]``: the forward writes no ``[B, *]`` tensor
    but the kernel's own outputs (before: a full_like of the resting potential every call)."""
    layer = LIF.from_decay(0.9, v_leak=0.25, reset="zero", backend="cpp")
    xs = torch.randn(5, 3, 19, generator=torch.Generator().manual_seed(2))
    with Ops() as rec:
        layer(xs)
    fills = [(name, shapes) for name, shapes in rec.ops if name in FILLS and shapes != [()]]  # a scalar is fine
    assert fills == [], f"forward wrote filled tensors: {fills}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("detach", [True, False])
def test_rest_state_as_one_value_is_exact(dtype: torch.dtype, detach: bool) -> None:
    """From rest, the kernel reads the one resting value for every neuron: spikes, final state and the
    gradients of the input and of every learnable parameter (the adjoint reads the initial state at
    t = 0) equal, bit for bit, a run from the same state written out as a contiguous ``[B, *]`` tensor.
    (Fails if the kernel read the 1-element state as an [M] array: garbage or a crash.)"""
    xs = torch.randn(9, 4, 37, generator=torch.Generator().manual_seed(3), dtype=dtype) * 0.4 + 0.1
    results = []
    for explicit in (False, True):
        torch.manual_seed(0)
        layer = LIF.from_decay(0.85, v_leak=-0.125, reset="subtract", detach_reset=detach, learn=("beta", "v_th"),
                               backend="cpp").to(dtype)
        x = xs.clone().requires_grad_()
        state = None
        if explicit:
            state = layer.init_state(x[0])
            assert state.v.stride() == (0, 0)  # the resting state is one expanded value
            state = type(state)(state.v.contiguous())
        zs, final = layer.run(x, state)
        loss = (zs * torch.linspace(-1, 2, zs.numel(), dtype=dtype).reshape(zs.shape)).sum() + (final.v ** 2).sum()
        grads = torch.autograd.grad(loss, [x, *layer.parameters()])
        results.append([zs, final.v, *grads])
    for a, b in zip(*results):
        assert torch.equal(a, b)
    ref_layer = LIF.from_decay(0.85, v_leak=-0.125, reset="subtract", detach_reset=detach, backend="torch").to(dtype)
    torch.testing.assert_close(results[0][0], ref_layer(xs))  # and they are the reference's spikes
