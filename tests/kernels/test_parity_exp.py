"""Fused ``cpp`` backend vs the torch reference for the ``"exp"`` and ``"decay"`` integrators.

Same contract as ``test_parity.py``: forward outputs and final state bit-identical (float32 and
float64), gradients of input, initial state and every learnable parameter to float tolerance. The
kernels see only coefficients, so this holds the mirrored expressions of ``kernels/specs.py`` to
``neurons/_dynamics.py``.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels import available_backends
from spikeforge.neurons import ALIF, LI, LIF, PLIF, CubaLIF

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

TOL = {torch.float32: dict(rtol=2e-4, atol=2e-5), torch.float64: dict(rtol=1e-9, atol=1e-11)}

# name -> (class, constructor kwargs, learnable fields); time constants below and above dt = 1 ms
EXP = {
    "lif": (LIF, dict(tau_mem=6e-4, v_reset=-0.2), ("tau_mem", "r", "v_leak", "v_th", "v_reset")),
    "cuba_lif": (CubaLIF, dict(tau_syn=4e-4, tau_mem=3e-3, v_reset=-0.2),
                 ("tau_syn", "tau_mem", "r", "v_leak", "v_th", "v_reset", "w_in")),
    "alif": (ALIF, dict(tau_mem=7e-4, tau_adapt=30e-3, v_reset=-0.2),
             ("tau_mem", "tau_adapt", "adapt", "r", "v_leak", "v_th", "v_reset")),
    "plif": (PLIF, dict(tau_mem=2e-3), ("tau_mem",)),
    "li": (LI, dict(tau_mem=5e-4), ("tau_mem", "r", "v_leak")),
}
DECAY = {
    "lif": (LIF, dict(beta=0.8125, v_reset=-0.2), ("beta", "gain", "v_leak", "v_th", "v_reset")),
    "cuba_lif": (CubaLIF, dict(alpha=0.6, beta=0.9, v_reset=-0.2),
                 ("alpha", "beta", "gain", "v_leak", "v_th", "v_reset", "gain_syn")),
    "li": (LI, dict(beta=0.75), ("beta", "gain", "v_leak")),
}


def _make(table: dict, name: str, integrator: str, backend: str, dtype: torch.dtype, **kw):  # type: ignore[no-untyped-def]
    cls, params, learn = table[name]
    torch.manual_seed(7)  # same parameters for both backends
    m = cls(backend=backend, learn=learn, size=21, dtype=dtype, integrator=integrator, **params, **kw)
    with torch.no_grad():  # heterogeneous per-neuron parameters, decays kept below 1
        for n, p in m.named_parameters():
            p.mul_(1 + 0.05 * torch.rand_like(p)) if n in ("beta", "alpha") else p.add_(
                0.05 * torch.rand_like(p) * p.abs().clamp_min(0.1))
    return m


def _run(m, xs: torch.Tensor):  # type: ignore[no-untyped-def]
    xs = xs.detach().clone().requires_grad_()
    state = m.init_state(xs[0])
    state = type(state)(*(s.detach().clone().add_(0.1).requires_grad_() for s in state))
    zs, final = m.run(xs, state)
    w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)
    loss = (zs * w).sum() + sum((s * s).sum() for s in final)
    params = [p for _, p in sorted(m.named_parameters())]
    grads = torch.autograd.grad(loss, [xs, *params, *state], allow_unused=True)
    return zs, final, grads


def _compare(ref, got, dtype):  # type: ignore[no-untyped-def]
    (z0, s0, g0), (z1, s1, g1) = ref, got
    assert torch.equal(z0, z1), "forward outputs differ"
    for a, b in zip(s0, s1):
        assert torch.equal(a, b), "final state differs"
    for a, b in zip(g0, g1):
        if a is None or b is None:
            assert all(g is None or not g.any() for g in (a, b))
            continue
        scale = a.abs().max().clamp_min(1.0)
        torch.testing.assert_close(b / scale, a / scale, **TOL[dtype])


def _inputs(dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    return (torch.randn((24, 3, 21), generator=gen, dtype=torch.float64) * 2.0 + 1.2).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(EXP))
def test_parity_exp(name, dtype, gen):
    xs = _inputs(dtype, gen)
    for reset in (("subtract", "value", "zero", "none") if name != "li" else ("subtract",)):
        kw = {"reset": reset} if name != "li" else {}
        ref = _run(_make(EXP, name, "exp", "torch", dtype, **kw), xs)
        got = _run(_make(EXP, name, "exp", "cpp", dtype, **kw), xs)
        assert ref[0].abs().sum() > 0
        _compare(ref, got, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(DECAY))
def test_parity_decay(name, dtype, gen):
    xs = _inputs(dtype, gen) * 0.3
    for reset in (("subtract", "value", "zero", "none") if name != "li" else ("subtract",)):
        kw = {"reset": reset} if name != "li" else {}
        ref = _run(_make(DECAY, name, "decay", "torch", dtype, **kw), xs)
        got = _run(_make(DECAY, name, "decay", "cpp", dtype, **kw), xs)
        _compare(ref, got, dtype)


def test_exp_coefficients_differ_from_euler(gen):
    """The exp parity is not Euler's in disguise: same parameters, different trajectories."""
    xs = _inputs(torch.float32, gen)
    a = LIF(tau_mem=2e-3, integrator="exp", backend="cpp", reset="none").run(xs)[1].v
    b = LIF(tau_mem=2e-3, integrator="euler", backend="cpp", reset="none").run(xs)[1].v
    assert (a - b).abs().max() > 1e-2
