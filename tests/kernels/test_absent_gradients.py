"""Gradients the loss does not reach, in the fused LIF / CubaLIF / ALIF backward (``csrc/lif.cpp``).

When a loss uses only the spikes, or only some fields of the final state, autograd hands the fused
backward ``None`` for the rest. The torch reference adds no term for them; the kernel takes each as
``-0.0`` (``cpu.py``: a broadcast ``-0.0`` spike gradient; ``lif.cpp``: ``-0.0`` initial adjoints of
the final current, membrane and adaptation), which adds nothing (``-0 + a`` is ``a`` for every
``a``). A ``+0.0`` there turned every ``-0.0`` it met into ``+0.0`` (``+0 + -0`` is ``+0``). Likewise
a reset without the threshold (value, zero, none) gives the threshold no term of its own:
``-0.0 - gu`` (``spike_reset_adjoint``), where ``+0.0 - gu`` made ALIF's adaptation gradient ``+0.0``
for ``gu = +0.0`` instead of the reference's ``-gu = -0.0``.

Every gradient (input, initial state, learnable parameters) is compared with the torch reference:
zeros with their signs, infinities and NaN exactly, other values to float tolerance; for a detached
reset (the reference then has no reset spike product, like the kernel's detached adjoint) and each
loss that leaves out the spikes or a final-state field. Weights ``-0.0`` make every gradient a
signed zero; ``-1`` with the flat tails of ``Triangle`` make ``-0.0`` products (``-1 * 0``) inside
ordinary gradients; ``inf`` (on the loss's last part, 1 on the others) makes infinite ones.

On the code before (``+0.0`` for absent gradients and the threshold term), 166 of the 230 cases
expected to pass fail; with only ``cpu.py``'s broadcast ``-0.0`` taken back, 62 fail.
One known difference is kept as a strict xfail: ALIF with a loss of the final membrane only and a
reset without the threshold. There the spikes never get a gradient (the adaptation they feed reaches
the loss only through the threshold, which such a reset leaves out), so the reference adds nothing
to the threshold at any step; the kernel's ``-0.0 - gu`` with an absent ``gu = -0.0`` is ``+0.0``,
and an absent term cannot be told from a present ``-0.0`` without a flag of its own.
"""

from __future__ import annotations

import math

import pytest
import torch

from _fused import TOL, parity_inputs

from spikeforge.kernels import available_backends
from spikeforge.neurons import ALIF, LIF, CubaLIF
from spikeforge.surrogate import Triangle

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

NEURONS = {  # class, learnable parameters (each feeds a kernel coefficient)
    "lif": (LIF, ("tau_mem", "v_th", "v_reset", "v_leak")),
    "cuba_lif": (CubaLIF, ("tau_syn", "tau_mem", "v_th", "v_reset", "w_in")),
    "alif": (ALIF, ("tau_mem", "tau_adapt", "adapt", "v_th", "v_reset")),
}


def _losses(fields: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The parts of each loss ("z": the spikes, else a final-state field): those leaving something out."""
    return list(dict.fromkeys([("z",), fields, *((f,) for f in fields), *(("z", f) for f in fields)]))


CASES = [(name, parts) for name, (cls, _) in NEURONS.items() for parts in _losses(cls.state_cls._fields)]


def _grads(name: str, backend: str, xs: torch.Tensor, reset: str, parts: tuple[str, ...], w: float):
    cls, learn = NEURONS[name]
    m = cls(backend=backend, reset=reset, detach_reset=True, learn=learn, surrogate=Triangle(width=0.5))
    m = m.to(xs.dtype)
    x = xs.clone().requires_grad_()
    s0 = m.init_state(xs[0])
    g = torch.Generator().manual_seed(1)
    s0 = type(s0)(*[(f + torch.rand(f.shape, generator=g, dtype=f.dtype) * 0.3).requires_grad_() for f in s0])
    zs, final = m.run(x, s0)
    outs = {"z": zs, **final._asdict()}
    ws = [1.0] * (len(parts) - 1) + [w] if w == math.inf else [w] * len(parts)
    loss = sum((outs[p] * wp).sum() for p, wp in zip(parts, ws))
    params = [p for _, p in m.named_parameters()]
    return zs, torch.autograd.grad(loss, [x, *s0, *params], allow_unused=True)


def _same_zeros(a: torch.Tensor, b: torch.Tensor, dtype: torch.dtype) -> bool:
    """Zeros, their signs, infinities and NaN exactly where the reference has them; the other values
    (ordinary gradients: the reference's autograd sums in another order) to ``TOL`` of its largest."""
    exact = (a == 0) | ~a.isfinite()
    if not torch.equal(exact, (b == 0) | ~b.isfinite()) or not torch.equal(a.isnan(), b.isnan()):
        return False
    fin = exact & ~a.isnan()
    if not (torch.equal(a[fin], b[fin]) and torch.equal(a[fin].signbit(), b[fin].signbit())):
        return False
    scale = a[~exact].abs().max().clamp_min(1.0) if (~exact).any() else 1.0
    return bool(torch.allclose(b[~exact] / scale, a[~exact] / scale, **TOL[dtype]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("w", [-0.0, -1.0, math.inf], ids=["neg-zero", "minus-one", "inf"])
@pytest.mark.parametrize("reset", ["subtract", "value", "zero", "none"])
@pytest.mark.parametrize(("name", "parts"), CASES, ids=[f"{n}-{'+'.join(p)}" for n, p in CASES])
def test_absent_gradients_match_reference_bits(name, parts, reset, w, dtype, gen, request):
    # a zero sign is lost where dv1 = w * (1 - z) is a zero: at spikes (value, zero resets) for a finite
    # w, everywhere for w = -0.0 (w = -1 with reset none never makes one; w = inf makes NaN there instead)
    lost = reset in ("value", "zero") and w != math.inf or reset == "none" and w == 0
    if name == "alif" and parts == ("v",) and lost:
        request.applymarker(pytest.mark.xfail(strict=True, reason="an absent threshold term (module docstring)"))
    xs = parity_inputs((8, 2, 37), dtype, gen) * 3  # 10-25 % of the steps spike
    z0, g0 = _grads(name, "torch", xs, reset, parts, w)
    z1, g1 = _grads(name, "cpp", xs, reset, parts, w)
    assert torch.equal(z0, z1) and z0.any() and not z0.all()  # some neurons spike, some do not
    for i, (a, b) in enumerate(zip(g0, g1, strict=True)):
        if a is None or b is None:  # a parameter the reset does not use (v_reset): None in one, zeros in the other
            assert all(g is None or not g.any() for g in (a, b))
            continue
        assert _same_zeros(a, b, dtype), (i, a.flatten()[:6], b.flatten()[:6])
