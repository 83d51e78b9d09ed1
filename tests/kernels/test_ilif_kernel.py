"""I-LIF / NI-LIF fused kernels (``kernels/ilif_kernel.py``) where the registry-driven contract
(``test_model_kernels.py``) does not reach: the layer's own parameters as scalars that need no
gradient (the kernel's broadcast-coefficient path), a threshold whose division is not exact, other
``D``, and inputs on a binary grid that hit every tie of the step exactly (``round`` halves,
``minimum(a, D)`` with ``a == D``, which sends half the gradient to each side, and ``clamp`` at
``v' = 0``, where the gradient still passes). Reference: the torch loop of the same step function.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels import available_backends
from spikeforge.neurons.ilif import ILIF
from spikeforge.neurons.nilif import NILIF

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

CLASSES = {"ilif": ILIF, "nilif": NILIF}
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-13)}


def _run(m, xs, v0=None):
    xs = xs.detach().clone().requires_grad_()
    state = None if v0 is None else type(m.init_state(xs[0]))(v0.detach().clone().requires_grad_())
    zs, final = m.run(xs, state)
    w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)
    loss = (zs * w).sum() + (final.v * final.v).sum()
    inputs = [xs, *[p for _, p in sorted(m.named_parameters())]] + ([] if state is None else [state.v])
    return zs, final, torch.autograd.grad(loss, inputs, allow_unused=True)


def _same(ref, got, dtype):
    assert torch.equal(ref[0], got[0]), "outputs differ"
    assert torch.equal(ref[1].v, got[1].v), "final membrane differs"
    for a, b in zip(ref[2], got[2], strict=True):
        torch.testing.assert_close(b, a, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("d_max", [2.0, 3.0])
@pytest.mark.parametrize("per_neuron_th", [False, True], ids=["scalar_th", "neuron_th"])
@pytest.mark.parametrize("name", list(CLASSES))
def test_scalar_parameters_and_inexact_threshold(name, per_neuron_th, d_max, dtype, gen):
    """Buffers (no gradient) of one value per layer, passed as 1-element coefficients, with
    v_th = 0.7, whose division does not round exactly, or a per-neuron v_th next to scalar k and D."""
    xs = (torch.randn(30, 4, 33, generator=gen, dtype=torch.float64) * 1.5 + 1.0).to(dtype)
    v_th = torch.linspace(0.5, 0.9, 33, dtype=dtype) if per_neuron_th else 0.7
    kw = dict(v_th=v_th, tau_mem=3e-3, d_max=d_max, dtype=dtype)
    ref = _run(CLASSES[name](backend="torch", **kw), xs)
    got = _run(CLASSES[name](backend="cpp", **kw), xs)
    assert got[0].unique().numel() >= 2
    _same(ref, got, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(CLASSES))
def test_exact_ties_of_round_minimum_and_clamp(name, dtype, gen):
    """k = dt / tau = 0.5 and a binary-grid input, so v' lands exactly on 0, 0.5, 1.5, D v_th ...;
    every parameter learnable (scalars: their gradients are sums over every tie)."""
    grid = torch.tensor([0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, -1.0, 6.0], dtype=dtype)
    xs = grid[torch.randint(len(grid), (16, 3, 40), generator=gen)]
    make = lambda backend: CLASSES[name](backend=backend, learn=("tau_mem", "v_th", "d_max"),  # noqa: E731
                                         tau_mem=2e-3, dt=1e-3, dtype=dtype)
    ref_m = make("torch")
    ref = _run(ref_m, xs)
    with torch.no_grad():  # the ties do occur: minimum's a == D, and clamp's w == 0
        v, hits_d, hits_0 = torch.zeros(xs.shape[1:], dtype=dtype), 0, 0
        for x in xs:
            v1 = v + (x - v) * 0.5
            hits_d += int((v1 == 2.0).sum())
            hits_0 += int((v1 == 0.0).sum())
            _, s = ref_m.step(x, type(ref_m.init_state(x))(v))
            v = s.v
        assert hits_d > 0 and hits_0 > 0
    _same(ref, _run(make("cpp"), xs), dtype)


@pytest.mark.parametrize("name", list(CLASSES))
def test_initial_state_gradient_channels_last(name, gen):
    """A channels-last [T, B, C, H, W] input runs in memory order; the initial membrane gets its gradient."""
    xs = (torch.randn(7 * 2, 3, 4, 5, generator=gen) * 2 + 1).contiguous(memory_format=torch.channels_last)
    xs = xs.unflatten(0, (7, 2))  # [T, B, C, H, W], stored as [T, B, H, W, C]
    v0 = torch.rand(2, 3, 4, 5, generator=gen)
    ref = _run(CLASSES[name](backend="torch"), xs, v0)
    got = _run(CLASSES[name](backend="cpp"), xs, v0)
    assert got[0].stride() == xs.stride()
    _same(ref, got, torch.float32)
