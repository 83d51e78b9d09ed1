"""Fused average pooling: bit-identical to ``F.avg_pool2d`` in values, gradients and layout."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spikeforge.kernels import BackendUnavailableError, available_backends
from spikeforge.kernels.pool import avg_pool2d_cpp, pool_kernel_size
from spikeforge.layers import TimeDistributed

needs_cpp = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

LAYOUTS = {
    "nchw": lambda x: x,
    "channels_last": lambda x: x.contiguous(memory_format=torch.channels_last),
    "strided": lambda x: x.transpose(2, 3).contiguous().transpose(2, 3),  # W not innermost
}


@needs_cpp
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("shape,k", [((4, 16, 34, 34), 2), ((3, 5, 7, 9), 2), ((2, 1, 8, 8), 2), ((2, 3, 10, 7), 3)])
def test_matches_torch_bit_for_bit(shape, k, layout, dtype, gen):
    x = LAYOUTS[layout](torch.randn(shape, generator=gen, dtype=dtype)).requires_grad_()
    y, y_ref = avg_pool2d_cpp(x, k), F.avg_pool2d(x, k)
    g = torch.randn(y_ref.shape, generator=gen, dtype=dtype)
    (gx,), (gx_ref,) = torch.autograd.grad(y, x, g), torch.autograd.grad(y_ref, x, g)
    assert torch.equal(y, y_ref) and torch.equal(gx, gx_ref)
    if layout != "strided":
        assert y.stride() == y_ref.stride() and gx.stride() == gx_ref.stride()
    assert not gx[..., (shape[2] // k) * k:, :].any()  # rows floor mode drops get no gradient


@needs_cpp
def test_gradient_of_any_layout(gen):
    """The incoming gradient may come in another layout (e.g. NCHW from a Flatten after a
    channels-last pool) or be a broadcast."""
    x = torch.randn(2, 4, 6, 6, generator=gen).contiguous(memory_format=torch.channels_last).requires_grad_()
    for g in (torch.randn(2, 4, 3, 3, generator=gen), torch.ones(()).expand(2, 4, 3, 3)):
        (gx,) = torch.autograd.grad(avg_pool2d_cpp(x, 2), x, g)
        (gx_ref,) = torch.autograd.grad(F.avg_pool2d(x, 2), x, g)
        assert torch.equal(gx, gx_ref)


def test_supported_modules():
    assert pool_kernel_size(nn.AvgPool2d(2)) == 2
    assert pool_kernel_size(nn.AvgPool2d((3, 3), stride=3)) == 3
    for m in (nn.AvgPool2d(2, stride=1), nn.AvgPool2d(2, padding=1), nn.AvgPool2d(2, ceil_mode=True),
              nn.AvgPool2d(2, divisor_override=3), nn.AvgPool2d((2, 3)), nn.MaxPool2d(2), nn.Identity()):
        assert pool_kernel_size(m) is None, m


@needs_cpp
def test_bad_input():
    with pytest.raises(ValueError, match="expects \\[N, C, H, W\\]"):
        avg_pool2d_cpp(torch.rand(3, 8, 8), 2)
    with pytest.raises(ValueError, match="does not fit"):
        avg_pool2d_cpp(torch.rand(1, 1, 3, 3), 4)
    with pytest.raises(BackendUnavailableError, match="float32/float64"):
        avg_pool2d_cpp(torch.ones(1, 1, 4, 4, dtype=torch.int32), 2)


@needs_cpp
@pytest.mark.parametrize("fmt", [None, torch.channels_last])
def test_time_distributed_backends(fmt, gen):
    xs = (torch.rand(5, 3, 4, 10, 10, generator=gen) < 0.3).float()  # [T, B, C, H, W] spikes
    outs = [TimeDistributed(nn.AvgPool2d(2), memory_format=fmt, backend=b)(xs) for b in ("torch", "auto", "cpp")]
    assert all(torch.equal(o, outs[0]) for o in outs[1:])
    with pytest.raises(BackendUnavailableError, match="no fused kernel for MaxPool2d"):
        TimeDistributed(nn.MaxPool2d(2), backend="cpp")(xs)
    assert torch.equal(TimeDistributed(nn.MaxPool2d(2))(xs), TimeDistributed(nn.MaxPool2d(2), backend="torch")(xs))
    with pytest.raises(ValueError, match="unknown backend"):
        TimeDistributed(nn.AvgPool2d(2), backend="gpu")


@needs_cpp
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_matches_torch_multithreaded(layout, gen, many_threads):
    """Rows of windows split over several threads: still bit-identical, gradients included."""
    x = LAYOUTS[layout](torch.randn(6, 5, 18, 14, generator=gen)).requires_grad_()
    y, y_ref = avg_pool2d_cpp(x, 2), F.avg_pool2d(x, 2)
    g = torch.randn(y_ref.shape, generator=gen)
    (gx,), (gx_ref,) = torch.autograd.grad(y, x, g), torch.autograd.grad(y_ref, x, g)
    assert torch.equal(y, y_ref) and torch.equal(gx, gx_ref)


@needs_cpp
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("shape,k", [((3, 5, 7, 9), 2), ((2, 3, 10, 7), 3)])
def test_signed_zero_gradient_matches_torch(shape, k, layout, dtype, gen):
    """ATen's backward fills grad x with +0 and adds ``gy / k²``, so a -0.0 incoming gradient arrives as +0.0
    (and floor-mode rows/columns stay +0.0); the kernel must give the same sign bits."""
    x = LAYOUTS[layout](torch.randn(shape, generator=gen, dtype=dtype)).requires_grad_()
    y, y_ref = avg_pool2d_cpp(x, k), F.avg_pool2d(x, k)
    g = torch.randn(y_ref.shape, generator=gen, dtype=dtype)
    g = torch.where(g > 0, torch.full_like(g, -0.0), g)  # about half the gradient -0.0, the rest negative
    (gx,), (gx_ref,) = torch.autograd.grad(y, x, g), torch.autograd.grad(y_ref, x, g)
    assert torch.equal(gx, gx_ref) and torch.equal(gx.signbit(), gx_ref.signbit())
    assert (gx_ref == 0).any() and not gx_ref[gx_ref == 0].signbit().any()  # the case is reached: +0.0 zeros
