"""The fused LIF backward with a detached reset (``spike_adjoint<..., DET>`` in ``csrc/lif.cpp``, issue 17).

With ``detach_reset=True`` the reference's autograd never forms the reset's spike product
``ds = dL/dv' * dv'/dz`` (the spike reaches the reset detached), so ``dL/dz`` is the outputs' gradient
alone (plus the adaptation's for ALIF). A kernel that still forms ``gz + 0 * ds`` differs from it in
exactly two ways, both reached here through the public API and compared with the torch reference
bit for bit (the values are signed zeros, infinities or NaN, so there is no rounding to tolerate):

- a ``-0.0`` output gradient: ``-0.0 + 0 * ds`` is ``+0.0`` where ``ds >= 0``; the reference keeps
  ``-0.0`` and so does every later product (``loss = -0.0 * (z.sum() + v_T.sum())``);
- an infinite state gradient: ``0 * ds`` is NaN where ``ds`` is infinite, so NaN spreads to
  neurons whose reference gradient is ``+-inf`` (``loss = z.sum() + inf * v_T.sum()``).

Both fail on the build before the detached specialisation (26 of these 32 cases; the 6 that passed
there are reset ``none`` with an infinite gradient, where ``ds`` is a literal 0). A reset-free
neuron (reset ``none``) takes the same path: its reference has no spike product either.
The signed-zero case runs for all three kinds: since e8596d7 a final membrane, current or adaptation
that the loss does not reach starts its gradient at -0.0 (the additive identity), as autograd's sum does,
so ``-0.0`` output gradients stay ``-0.0`` for CubaLIF and ALIF too (before, their +0.0 start made them
``+0.0``; tests/kernels/test_absent_gradients.py covers the absent-gradient cases themselves).
"""

from __future__ import annotations

import math

import pytest
import torch

from _fused import parity_inputs, same_bits

from spikeforge.kernels import available_backends
from spikeforge.neurons import ALIF, LIF, CubaLIF

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

NEURONS = {"lif": LIF, "cuba_lif": CubaLIF, "alif": ALIF}


def _grads(cls, backend: str, xs: torch.Tensor, reset: str, scale: float):
    m = cls(backend=backend, reset=reset, detach_reset=True).to(xs.dtype)
    x = xs.clone().requires_grad_()
    zs, final = m.run(x)
    if math.isinf(scale):  # finite output gradient, infinite final-membrane gradient
        loss = zs.sum() + scale * final.v.sum()
    else:  # every gradient a signed zero
        loss = scale * (zs.sum() + final.v.sum())
    (gx,) = torch.autograd.grad(loss, [x])
    return zs, gx


CASES = [(name, -0.0) for name in sorted(NEURONS)] + [(name, math.inf) for name in sorted(NEURONS)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset", ["subtract", "value", "zero", "none"])
@pytest.mark.parametrize(("name", "scale"), CASES, ids=[f"{n}-{'inf' if s else 'neg-zero'}" for n, s in CASES])
def test_detached_adjoint_matches_reference_bits(name, scale, reset, dtype, gen):
    xs = parity_inputs((8, 2, 37), dtype, gen) * 3  # 10-25 % of the steps spike
    z0, g0 = _grads(NEURONS[name], "torch", xs, reset, scale)
    z1, g1 = _grads(NEURONS[name], "cpp", xs, reset, scale)
    assert torch.equal(z0, z1) and z0.any() and not z0.all()  # some neurons spike, some do not
    assert same_bits(g0, g1), (g0.flatten()[:8], g1.flatten()[:8])
