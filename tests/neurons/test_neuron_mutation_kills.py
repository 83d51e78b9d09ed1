"""Neuron behaviours that planted bugs (``make mutation``, ``MUTATION.md``) showed untested:
the pure step functions with plain-float parameters, the resting potential under the decay
form, and the range a decay may take. Expected values are written out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.kernels import available_backends
from spikeforge.neurons import LI, LIF, CubaLI, CubaLIF, LIFParams, LIFState

BACKENDS = ["torch"] + (["cpp"] if "cpp" in available_backends() else [])
F64 = torch.float64


def test_lif_step_with_float_params_and_exact_integrator_is_the_closed_form():
    """``lif_step`` with a ``LIFParams`` of plain floats (the functional API's defaults) under
    ``integrator="exp"``: ``v' = e^{-dt/tau} v + (1 - e^{-dt/tau}) (r x + v_leak)``."""
    from spikeforge.neurons.lif import lif_step

    tau, r, v_leak, dt = 4e-3, 1.5, 0.2, 3e-3
    p = LIFParams(tau_mem=tau, r=r, v_leak=v_leak, v_th=1e9)
    v0, x = 0.45, 0.8
    _, s = lif_step(torch.full((1, 1), x, dtype=F64), LIFState(torch.full((1, 1), v0, dtype=F64)), p, dt=dt,
                    integrator="exp")
    d = math.exp(-dt / tau)
    assert s.v.item() == pytest.approx(d * v0 + (1 - d) * (r * x + v_leak), rel=1e-14)
    # forward Euler for contrast: 1 - dt/tau = 0.25
    _, s = lif_step(torch.full((1, 1), x, dtype=F64), LIFState(torch.full((1, 1), v0, dtype=F64)), p, dt=dt)
    assert s.v.item() == pytest.approx(0.25 * v0 + 0.75 * (r * x + v_leak), rel=1e-14)


@pytest.mark.parametrize("cls, backend", [(c, b) for c in (LIF, LI, CubaLIF, CubaLI) for b in BACKENDS
                                          if b == "torch" or c is not CubaLI])  # CubaLI: no fused kernel
def test_decay_form_rests_at_v_leak_and_adds_one_minus_beta_v_leak(cls, backend):
    """``v' = beta v + gain drive + (1 - beta) v_leak``: without input the resting potential is a
    fixed point; one unit of input on top of rest moves the membrane by exactly the input (gain 1)."""
    beta, alpha, v_leak = 0.75, 0.5, 0.5  # binary fractions: the arithmetic below is exact
    args = (alpha, beta) if cls in (CubaLIF, CubaLI) else (beta,)
    kw = {"v_th": 1e9} if cls in (LIF, CubaLIF) else {}
    n = cls.from_decay(*args, v_leak=v_leak, backend=backend, dtype=F64, **kw)
    xs = torch.zeros(6, 2, 3, dtype=F64)  # [T, B, N]
    _, state = n.run(xs, None)
    assert torch.equal(state.v, torch.full_like(state.v, v_leak))
    xs[0] = 1.0  # one input of 1 at rest: i = 1 (CUBA), then v = beta*0.5 + 1 + (1 - beta)*0.5 = 1.5
    _, state = n.run(xs[:1], None)
    assert torch.equal(state.v, torch.full_like(state.v, 1.5))


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.25])
def test_from_decay_refuses_a_decay_outside_0_1(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        LIF.from_decay(bad)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        CubaLIF.from_decay(bad, 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        LIF.from_decay(torch.tensor([0.5, bad]))
    LIF.from_decay(0.999)  # just inside: accepted
