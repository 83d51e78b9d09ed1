"""The fused LIF + pooling forward works on chunks of several row groups of one map
(``csrc/lif_pool.cpp``, ``Chunks``: at most 128 KiB of state, at least 4 chunks per thread) and
feeds each row's spikes into the column sums of its group; the backward spreads one row of window
gradients over every row of a group. Geometries where a map splits into several chunks, a chunk
ends in the partial group floor mode drops, and ``W % k`` columns are dropped: pooled spikes, final
state and both gradients equal the ``cpp`` LIF kernel followed by the ``cpp`` pooling kernel bit for
bit (an independent pair of kernels: per-element LIF, then a separate pooling pass)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels import available_backends
from spikeforge.kernels.lif_pool import lif_pool_supports, run_lif_pool
from spikeforge.kernels.pool import avg_pool2d_cpp
from spikeforge.kernels.specs import spec_for
from spikeforge.neurons import LIF
from spikeforge.surrogate import FastSigmoid

needs_cpp = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")


def _run(fused: bool, xs: torch.Tensor, v0: torch.Tensor, k: int, gvT: bool):
    lif = LIF.from_decay(0.9, reset="zero", surrogate=FastSigmoid(slope=2.0), backend="cpp")
    x = xs.detach().clone().requires_grad_()
    v = v0.detach().clone().requires_grad_()
    state = type(lif.init_state(xs[0]))(v)
    if fused:
        p, state, kwargs = lif.prepare_run(x, state)
        spec = spec_for(type(lif).step_fn)
        assert lif_pool_supports(spec, x, state, p, kwargs, k) is None
        out = run_lif_pool(spec, x, state, p, kwargs, k)
        assert out is not None
        y, st = out
    else:
        zs, st = lif.run(x, state)
        y = avg_pool2d_cpp(zs.flatten(0, 1), k).unflatten(0, x.shape[:2])  # [T*B, C, Ho, Wo] -> [T, B, ...]
    g = torch.Generator().manual_seed(3)
    loss = (y * torch.randn(y.shape, generator=g)).sum()
    if gvT:
        loss = loss + (st.v * torch.randn(st.v.shape, generator=g)).sum()
    gx, gv = torch.autograd.grad(loss, (x, v))
    return y.detach(), st.v.detach(), gx, gv


@needs_cpp
@pytest.mark.parametrize("shape,k", [
    ((3, 2, 64, 17, 65), 2),   # channels-last group 2*65*64*4 B: a map is 3 chunks, the last ends in the odd row
    ((2, 2, 48, 20, 50), 3),   # k = 3: 7 groups (the last of 2 rows, unpooled), 50 % 3 columns dropped
])
@pytest.mark.parametrize("gvT", [False, True], ids=["pooled-loss", "pooled-and-state-loss"])
def test_chunked_maps_match_lif_then_pool(shape, k, gvT):
    gen = torch.Generator().manual_seed(11)
    T, B, C, H, W = shape
    xs = (torch.randn(T * B, C, H, W, generator=gen) * 0.8 + 0.35).contiguous(memory_format=torch.channels_last)
    xs = xs.unflatten(0, (T, B))  # [T, B, C, H, W], channels-last steps
    v0 = torch.rand(B, C, H, W, generator=gen) * 0.5
    fused = _run(True, xs, v0, k, gvT)
    ref = _run(False, xs, v0, k, gvT)
    assert 0.05 < float(fused[0].mean()) < 0.9  # spikes happen, not everywhere
    for a, b in zip(fused, ref):
        assert torch.equal(a, b)
