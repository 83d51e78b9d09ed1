"""GLIF fused kernel (``kernels/glif_kernel.py``) where the registry-driven contract
(``test_model_kernels.py``, every parameter learnable) does not reach: the layer's parameters as
buffers (one value per layer: the kernel's broadcast-factor path, alone and next to per-neuron
ones), the gates at their ends (hard reset gamma = 1, soft reset gamma = 0, pure decay/leak modes),
a spike-carrying initial state with gradient, a channels-last input, and a custom surrogate, which
``"cpp"`` refuses and ``"auto"`` runs on the reference. Reference: the torch loop of ``glif_step``.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels import BackendUnavailableError, available_backends
from spikeforge.neurons.glif import GLIF, GLIFState
from spikeforge.surrogate import Custom

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-13)}
GATES = {
    "step_defaults": {},
    "hard_reset": dict(alpha=1.0, beta=1.0, gamma=1.0),
    "soft_reset": dict(alpha=0.0, beta=0.0, gamma=0.0),
}


def _run(m, xs, state=None):
    xs = xs.detach().clone().requires_grad_()
    if state is not None:
        state = GLIFState(*(s.detach().clone().requires_grad_() for s in state))
    zs, final = m.run(xs, state)
    w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)
    loss = (zs * w).sum() + (final.v * final.v).sum() + (final.z * 0.3).sum()
    inputs = [xs, *[p for _, p in sorted(m.named_parameters())]] + ([] if state is None else list(state))
    return zs, final, torch.autograd.grad(loss, inputs, allow_unused=True)


def _same(ref, got, dtype):
    assert torch.equal(ref[0], got[0]), "spikes differ"
    for a, b in zip(ref[1], got[1], strict=True):
        assert torch.equal(a, b), "final state differs"
    for a, b in zip(ref[2], got[2], strict=True):
        torch.testing.assert_close(b, a, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("gates", list(GATES))
def test_buffer_parameters_and_gate_ends(gates, dtype, gen):
    xs = (torch.randn(25, 3, 37, generator=gen, dtype=torch.float64) * 0.8 + 0.4).to(dtype)
    state = GLIFState(v=torch.rand(3, 37, generator=gen, dtype=torch.float64).to(dtype),
                      z=(torch.rand(3, 37, generator=gen) > 0.5).to(dtype))
    ref = _run(GLIF(backend="torch", dtype=dtype, **GATES[gates]), xs, state)
    got = _run(GLIF(backend="cpp", dtype=dtype, **GATES[gates]), xs, state)
    assert 0 < float(got[0].detach().mean()) < 1
    _same(ref, got, dtype)


def test_per_neuron_threshold_next_to_layer_factors(gen):
    """v_th per neuron (an [M] array) while the five other factors are one value each."""
    xs = torch.randn(20, 4, 29, generator=gen) * 0.8 + 0.4
    v_th = torch.linspace(0.3, 0.8, 29)
    ref = _run(GLIF(backend="torch", v_th=v_th, learn=("v_th",)), xs)
    got = _run(GLIF(backend="cpp", v_th=v_th, learn=("v_th",)), xs)
    _same(ref, got, torch.float32)
    ref = _run(GLIF(backend="torch", v_th=v_th), xs)
    got = _run(GLIF(backend="cpp", v_th=v_th), xs)
    _same(ref, got, torch.float32)


def test_channels_last_input(gen):
    xs = (torch.randn(6 * 2, 3, 4, 5, generator=gen) + 0.5).contiguous(memory_format=torch.channels_last)
    xs = xs.unflatten(0, (6, 2))  # [T, B, C, H, W], stored as [T, B, H, W, C]
    state = GLIFState(v=torch.rand(2, 3, 4, 5, generator=gen), z=(torch.rand(2, 3, 4, 5, generator=gen) > 0.5).float())
    ref = _run(GLIF(backend="torch", learn=("alpha", "gamma", "v_reth")), xs, state)
    got = _run(GLIF(backend="cpp", learn=("alpha", "gamma", "v_reth")), xs, state)
    assert got[0].stride() == xs.stride()
    _same(ref, got, torch.float32)


def test_custom_surrogate_is_declined(gen):
    sg = Custom(grad_fn=lambda x: 1 / (1 + x.abs()) ** 2)
    xs = torch.randn(5, 2, 7, generator=gen) + 0.5
    with pytest.raises(BackendUnavailableError, match="surrogate Custom"):
        GLIF(backend="cpp", surrogate=sg)(xs)
    _same(_run(GLIF(backend="torch", surrogate=sg), xs), _run(GLIF(backend="auto", surrogate=sg), xs),
          torch.float32)
