"""Fused LIF + average pooling (``kernels/lif_pool.py``): the same bits as the LIF layer followed by the pooling.

References: the LIF layer's torch reference loop (``backend="torch"``) followed by
``F.avg_pool2d`` — pooled spikes and final state bit for bit, gradients to float tolerance (the
reference's autograd sums in another order) — and the ``cpp`` LIF kernel followed by the ``cpp``
pooling kernel, which share the fused kernel's arithmetic: everything bit for bit.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikeforge.kernels import available_backends
from spikeforge.kernels.lif_pool import lif_pool_supports, run_lif_pool
from spikeforge.kernels.pool import avg_pool2d_cpp
from spikeforge.kernels.specs import spec_for
from spikeforge.neurons import IF, LIF, CubaLIF
from spikeforge.surrogate import ATan, FastSigmoid, Triangle

needs_cpp = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")


def _input(shape, layout, dtype, gen):
    T, B, C, H, W = shape
    x = torch.randn(T * B, C, H, W, generator=gen, dtype=dtype) * 0.8 + 0.35  # [T*B, C, H, W], ~20 % spikes
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    return x.unflatten(0, (T, B))  # [T, B, C, H, W]


def _unfused(neuron, xs, state, k, backend):
    """The two layers one after the other: the neuron on ``backend``, then the pooling."""
    neuron.backend = backend
    zs, st = neuron.run(xs, state)
    pool = avg_pool2d_cpp if backend == "cpp" else F.avg_pool2d
    return pool(zs.flatten(0, 1), k).unflatten(0, xs.shape[:2]), st  # [T*B, C, H, W] -> [T, B, C, Ho, Wo]


def _fused(neuron, xs, state, k):
    p, state, kwargs = neuron.prepare_run(xs, state)
    spec = spec_for(type(neuron).step_fn)
    assert lif_pool_supports(spec, xs, state, p, kwargs, k) is None
    out = run_lif_pool(spec, xs, state, p, kwargs, k)
    assert out is not None
    return out


def _grads(run, neuron, xs, v0, k, gen):
    """Pooled output, final state and the gradients of ``x`` and ``v0`` for a fixed random loss that
    weighs the pooled spikes and the final membrane."""
    x = xs.detach().clone().requires_grad_()
    v = v0.detach().clone().requires_grad_()
    y, st = run(neuron, x, type(neuron.init_state(xs[0]))(v), k)
    g = torch.Generator().manual_seed(7)
    wy = torch.randn(y.shape, generator=g, dtype=y.dtype)
    wv = torch.randn(st.v.shape, generator=g, dtype=y.dtype)
    gx, gv = torch.autograd.grad((y * wy).sum() + (st.v * wv).sum(), (x, v))
    return y.detach(), st.v.detach(), gx, gv


NEURONS = {
    "decay_zero_fastsigmoid_detached": lambda: LIF.from_decay(0.9, reset="zero", detach_reset=True,
                                                              surrogate=FastSigmoid(slope=25.0)),
    "decay_zero_atan": lambda: LIF.from_decay(0.8, reset="zero", surrogate=ATan()),  # reset in the gradient
    "tau_subtract_atan": lambda: LIF(tau_mem=5e-3, dt=1e-3, v_th=0.3, reset="subtract", surrogate=ATan()),
    "tau_value_triangle_exp": lambda: LIF(tau_mem=4e-3, dt=1e-3, v_th=0.35, v_reset=-0.2, v_leak=0.1, reset="value",
                                          integrator="exp", surrogate=Triangle()),
    "if_none": lambda: IF(v_th=1.5, reset="none"),
}


@needs_cpp
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["channels_last", "nchw"])
@pytest.mark.parametrize("name", list(NEURONS))
@pytest.mark.parametrize("shape,k", [((6, 3, 5, 8, 10), 2), ((4, 2, 3, 7, 9), 2), ((3, 2, 4, 9, 8), 3)])
def test_matches_lif_then_pool(shape, k, name, layout, dtype, gen):
    xs = _input(shape, layout, dtype, gen)
    v0 = torch.rand(xs.shape[1:], generator=gen, dtype=dtype) * 0.5  # a non-resting initial state
    lif = NEURONS[name]()
    fused = _grads(lambda n, x, s, k: _fused(n, x, s, k), lif, xs, v0, k, gen)
    cpp = _grads(lambda n, x, s, k: _unfused(n, x, s, k, "cpp"), lif, xs, v0, k, gen)
    ref = _grads(lambda n, x, s, k: _unfused(n, x, s, k, "torch"), lif, xs, v0, k, gen)
    assert 0.02 < float(fused[0].mean()) < 0.9  # spikes do happen, not everywhere
    for a, b in zip(fused, cpp):  # the kernels' own arithmetic: every bit
        assert torch.equal(a, b)
    assert torch.equal(fused[0], ref[0]) and torch.equal(fused[1], ref[1])  # forward: the reference's bits
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-13}
    torch.testing.assert_close(fused[2], ref[2], **tol)
    torch.testing.assert_close(fused[3], ref[3], **tol)
    if layout == "channels_last":  # outputs keep the input's layout
        assert fused[0].flatten(0, 1).is_contiguous(memory_format=torch.channels_last)


@needs_cpp
def test_many_threads_same_bits(many_threads, gen):
    xs = _input((5, 4, 6, 12, 10), "channels_last", torch.float32, gen)
    v0 = torch.zeros(xs.shape[1:])
    lif = NEURONS["decay_zero_fastsigmoid_detached"]()
    fused = _grads(lambda n, x, s, k: _fused(n, x, s, k), lif, xs, v0, 2, gen)
    cpp = _grads(lambda n, x, s, k: _unfused(n, x, s, k, "cpp"), lif, xs, v0, 2, gen)
    for a, b in zip(fused, cpp):
        assert torch.equal(a, b)


@needs_cpp
def test_declines_what_it_does_not_compute(gen):
    xs = _input((3, 2, 4, 6, 6), "nchw", torch.float32, gen)

    def why(neuron, x=xs, k=2):
        p, state, kwargs = neuron.prepare_run(x, None)
        return lif_pool_supports(spec_for(type(neuron).step_fn), x, state, p, kwargs, k)

    assert why(LIF()) is None
    assert "learnable" in why(LIF(learn=("tau_mem",)))
    assert "learnable" in why(LIF(tau_mem=torch.full((4, 6, 6), 5e-3)))  # per-neuron
    assert "[T, B, C, H, W]" in why(LIF(), xs.flatten(2))
    assert "H, W >= 7" in why(LIF(), xs, 7)
    assert "neither contiguous nor channels-last" in why(LIF(), xs.transpose(3, 4))
    assert "float32/float64" in why(LIF(), xs.half())
    assert "LIF kind" in why(CubaLIF())


@needs_cpp
@pytest.mark.parametrize("which", ["pooled", "state"])
def test_gradient_through_one_output_only(which, gen):
    """Autograd hands the unused output's gradient over as None (not materialised zeros)."""
    xs = _input((4, 2, 3, 8, 8), "channels_last", torch.float32, gen)
    lif = NEURONS["decay_zero_atan"]()
    grads = []
    for run in (lambda x: _fused(lif, x, None, 2), lambda x: _unfused(lif, x, None, 2, "cpp")):
        x = xs.detach().clone().requires_grad_()
        y, st = run(x)
        out = y if which == "pooled" else st.v
        (gx,) = torch.autograd.grad((out * torch.linspace(-1, 1, out.shape[-1])).sum(), x)
        grads.append(gx)
    assert grads[0].abs().sum() > 0 and torch.equal(grads[0], grads[1])
