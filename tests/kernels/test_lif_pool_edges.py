"""Signed zeros and infinities of the fused LIF + average pooling backward (``csrc/lif_pool.cpp``).

The reference is the unfused pair on torch: the LIF layer's reference loop (``backend="torch"``)
followed by ``F.avg_pool2d``. The values compared are signed zeros, infinities or NaN, so there is
no rounding to tolerate: every gradient must have the reference's bits (``-0.0 != +0.0``).

- an infinite final-state gradient: with a detached reset (or none) the reference never forms the
  reset's spike product ``ds``; a kernel that adds ``0 * ds`` gets NaN from ``0 * inf``
  (``spike_reset_adjoint``'s detached specialisation ``DET``, as in lif.cpp);
- a ``-0.0`` pooled gradient: ATen's ``avg_pool2d`` backward zero-fills the input gradient and adds
  each window's share, so ``-0.0 / k^2`` reaches the spikes as ``+0.0`` (``+0 + -0``), as do the
  rows and columns that floor mode drops;
- an absent gradient (a loss of the pooled spikes only, or of the final state only): the reference
  adds no term for it; the kernel takes it as ``-0.0``, which adds nothing (``-0 + a`` is ``a``),
  where ``+0.0`` would turn a ``-0.0`` into ``+0.0`` (a flat surrogate, ``Triangle``, makes
  ``-1 * 0 = -0.0`` spike gradients; a spike makes ``-1 * (1 - z) = -0.0`` membrane gradients).

Both layouts and dtypes, and the pooled gradient read with unit and zero strides. On the build
before, 120 of these 160 cases fail; taking back any one of its four changes (detached adjoint,
zero fill, ``-0.0`` for an absent pooled or final-state gradient) fails 32 to 72 of them.
tests/kernels/test_lif_pool.py holds the ordinary values.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from _fused import same_bits

from spikeforge.kernels import available_backends
from spikeforge.kernels.lif_pool import lif_pool_supports, run_lif_pool
from spikeforge.kernels.specs import spec_for
from spikeforge.neurons import LIF
from spikeforge.surrogate import Triangle

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

SHAPE, K = (6, 2, 3, 7, 9), 2  # [T, B, C, H, W]: row 6 and column 8 are dropped by the pooling


def _run(neuron: LIF, xs: torch.Tensor, v0: torch.Tensor, fused: bool):
    """``(avg_pool2d(z, K) [T, B, C, Ho, Wo], v_T [B, C, H, W])``: the fused kernel or the torch pair."""
    state = type(neuron.init_state(xs[0]))(v0)
    if fused:
        neuron.backend = "cpp"
        p, state, kwargs = neuron.prepare_run(xs, state)
        spec = spec_for(type(neuron).step_fn)
        assert lif_pool_supports(spec, xs, state, p, kwargs, K) is None
        out = run_lif_pool(spec, xs, state, p, kwargs, K)
        assert out is not None
        y, st = out
    else:
        neuron.backend = "torch"
        zs, st = neuron.run(xs, state)
        y = F.avg_pool2d(zs.flatten(0, 1), K).unflatten(0, xs.shape[:2])  # [T*B, C, Ho, Wo] -> [T, B, ...]
    return y, st.v


# loss = (y * a).sum() + (v_T * b).sum(), a term left out where its weight is None
LOSSES = {
    "inf": (1.0, math.inf),  # finite pooled gradient, infinite final-membrane gradient
    "neg-zero": (-0.0, -0.0),  # every gradient a signed zero
    "spikes": (-1.0, None),  # the final state's gradient absent; -1/k^2 * 0 (flat surrogate) is -0.0
    "state": (None, -1.0),  # the pooled spikes' gradient absent; -1 * (1 - z) at a spike is -0.0
    "neg-zero-state": (None, -0.0),  # the pooled spikes' gradient absent, every gradient a signed zero
}


def _grads(neuron: LIF, xs: torch.Tensor, v0: torch.Tensor, loss: str, weights: str, fused: bool):
    """``weights="dense"``: the weights are tensors in the outputs' own layout, so the kernel reads a
    unit-stride pooled gradient; ``"broadcast"``: Python floats, a zero-stride one (``(y * a).sum()``)."""
    x = xs.detach().clone().requires_grad_()
    v = v0.detach().clone().requires_grad_()
    y, vT = _run(neuron, x, v, fused)
    terms = []
    for out, w in zip((y, vT), LOSSES[loss]):
        if w is not None:
            terms.append((out * (torch.full_like(out, w) if weights == "dense" else w)).sum())
    gx, gv = torch.autograd.grad(sum(terms), (x, v))
    return y.detach(), gx, gv


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
@pytest.mark.parametrize("reset", ["subtract", "value", "zero", "none"])
@pytest.mark.parametrize("weights", ["dense", "broadcast"])
@pytest.mark.parametrize("loss", list(LOSSES))
def test_fused_pool_adjoint_matches_reference_bits(loss, weights, reset, layout, dtype, gen):
    T, B, C, H, W = SHAPE
    xs = torch.randn(T * B, C, H, W, generator=gen, dtype=dtype) * 0.8 + 0.35  # [T*B, C, H, W], ~20 % spikes
    if layout == "channels_last":
        xs = xs.contiguous(memory_format=torch.channels_last)
    xs = xs.unflatten(0, (T, B))  # [T, B, C, H, W]
    v0 = torch.rand(xs.shape[1:], generator=gen, dtype=dtype) * 0.5 - 0.25  # both signs: v * -0.0 has both
    neuron = LIF.from_decay(0.9, reset=reset, v_reset=-0.1, detach_reset=True, surrogate=Triangle(width=0.5)).to(dtype)
    y0, gx0, gv0 = _grads(neuron, xs, v0, loss, weights, fused=False)
    y1, gx1, gv1 = _grads(neuron, xs, v0, loss, weights, fused=True)
    assert torch.equal(y0, y1) and y0.any() and not (y0 == 1).all()  # some windows spike, not all
    assert same_bits(gx0, gx1), (gx0.flatten()[:8], gx1.flatten()[:8])
    assert same_bits(gv0, gv1), (gv0.flatten()[:8], gv1.flatten()[:8])
