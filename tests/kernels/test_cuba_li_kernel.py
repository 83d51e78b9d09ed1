"""CubaLI's model kernel (``kernels/cuba_li_kernel.py``) beyond the registry contract: every integrator
(the contract runs the default ``"euler"``), a nonzero ``v_leak`` (so ``c3`` is not 0), layer-wide
coefficients the kernel broadcasts, and a sequence continued from its returned state."""

from __future__ import annotations

import pytest
import torch

from _fused import assert_parity, parity_inputs

from spikeforge.kernels import available_backends
from spikeforge.neurons.cuba_li import CubaLI

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

CONFIGS = {
    "euler": dict(tau_syn=4e-3, tau_mem=9e-3, r=1.3, v_leak=0.2, w_in=0.8),
    "exp": dict(tau_syn=4e-3, tau_mem=9e-3, r=1.3, v_leak=-0.3, w_in=0.8, integrator="exp"),
    "decay": dict(alpha=0.7, beta=0.85, gain=0.9, v_leak=0.1, gain_syn=1.1, integrator="decay"),
}


def _run(backend: str, dtype: torch.dtype, cfg: dict, learn: bool, xs: torch.Tensor):
    m = CubaLI(backend=backend, dtype=dtype, **cfg)
    if learn:  # every stored parameter learnable and different per neuron (same values for both backends)
        m = CubaLI(backend=backend, dtype=dtype, learn=m.stored_params()._fields, size=xs.shape[-1], **cfg)
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(1 + 0.05 * torch.rand(p.shape, generator=gen, dtype=torch.float64).to(dtype))
    xs = xs.detach().clone().requires_grad_()
    zs, s = m.run(xs[:4])  # [4, B, N]
    zs2, s2 = m.run(xs[4:], s)  # continued from the returned state
    out = torch.cat([zs, zs2])  # [T, B, N]
    w = torch.linspace(-1, 2, out.numel(), dtype=dtype).reshape(out.shape)  # generic output gradient
    loss = (out * w).sum() + (s2.i * s2.i).sum() + (s2.v * s2.v).sum()
    params = [p for _, p in sorted(m.named_parameters())]
    grads = torch.autograd.grad(loss, [xs, *params], allow_unused=True)
    return out, s2, grads


@pytest.mark.parametrize("learn", [False, True], ids=["layer", "per_neuron"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("integrator", list(CONFIGS))
def test_cuba_li_kernel_matches_reference(integrator, dtype, learn, gen):
    xs = parity_inputs((11, 3, 7), dtype, gen)  # [T, B, N]
    ref = _run("torch", dtype, CONFIGS[integrator], learn, xs)
    got = _run("cpp", dtype, CONFIGS[integrator], learn, xs)
    assert_parity(ref, got, dtype)
    if learn:  # every parameter got a nonzero gradient (none silently dropped)
        assert all(g is not None and bool(g.abs().sum() > 0) for g in got[2])
