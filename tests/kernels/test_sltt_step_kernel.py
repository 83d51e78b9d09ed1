"""Fused SLTT step (``kernels/sltt.py``, ``csrc/sltt.cpp``) against the pure-torch SLTT loop.

The reference is ``sltt_backward`` over the same network with ``backend="torch"`` (the step
function under autograd, state detached between steps). Checked: forward bit-identical, gradients of
weights and every learnable neuron parameter within float32 tolerance, for every registered fused
neuron × reset × surrogate; SLTT = BPTT at zero leak (reference check 7) through the fused step;
bytes saved for backward independent of T (check 8) and below the generic kernel's.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from _fused import NEURONS, READOUTS  # fused neurons from the registry

import spikeforge.kernels.sltt as ksltt
from spikeforge.kernels import available_backends
from spikeforge.learning.online import SavedBytes, sltt_backward
from spikeforge.neurons import LIF
from spikeforge.quant import StateQuant
from spikeforge.surrogate import SURROGATES

pytestmark = [
    pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler"),
    pytest.mark.usefixtures("one_thread"),
]
ALL = {**NEURONS, **READOUTS}


@pytest.fixture
def count_steps(monkeypatch):
    calls: list[int] = []
    real = ksltt._SLTTStep.apply
    monkeypatch.setattr(ksltt._SLTTStep, "apply", lambda *a: calls.append(1) or real(*a))
    return calls


def _grads(name: str, backend: str, learn: bool | str, dtype=torch.float32, T: int = 7, **kw):
    cls = ALL[name]
    fields = cls.params_cls._fields
    torch.manual_seed(0)
    extra = {k: v for k, v in {"tau_mem": 5e-3, "v_reset": -0.2}.items() if k in fields}
    # learn="per-neuron": per-neuron parameters, none learnable (coefficients [M], the saved factor only)
    neuron = cls(backend=backend, learn=fields if learn is True else (), size=10 if learn else None, dtype=dtype,
                 **extra, **kw)
    net = nn.Sequential(nn.Linear(6, 10, dtype=dtype), neuron, nn.Linear(10, 3, dtype=dtype))
    g = torch.Generator().manual_seed(1)
    xs = (torch.rand(T, 4, 6, generator=g, dtype=torch.float64) * 3).to(dtype)  # [T, B, 6]
    r = torch.randn(T, 4, 3, generator=g, dtype=torch.float64).to(dtype)
    res = sltt_backward(net, xs, lambda o, t: (o * r[t]).sum())
    # no gradient route (reference: None) compares as zero (kernel: a zero coefficient gradient)
    grads = {n: torch.zeros_like(p) if p.grad is None else p.grad.clone() for n, p in net.named_parameters()}
    return res.outputs, grads


def _assert_same(ref, got, **tol):
    (o_ref, g_ref), (o_got, g_got) = ref, got
    assert torch.equal(o_ref, o_got), "forward outputs differ"
    assert g_ref.keys() == g_got.keys()
    for n in g_ref:
        torch.testing.assert_close(g_got[n], g_ref[n], msg=n, **tol)
    assert g_ref["0.weight"].abs().sum() > 0  # the gradient reached the first layer


@pytest.mark.parametrize("learn", [False, True, "per-neuron"])
@pytest.mark.parametrize("name", sorted(ALL))
def test_fused_sltt_equals_torch_sltt(name, learn, count_steps):
    ref = _grads(name, "torch", learn)
    assert not count_steps  # the torch run never reaches the kernel
    got = _grads(name, "cpp", learn)
    assert len(count_steps) == 7  # every step ran on the SLTT kernel
    _assert_same(ref, got, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reset", ["subtract", "value", "zero", "none"])
@pytest.mark.parametrize("surrogate", [n for n in SURROGATES.names() if n != "custom"])
def test_resets_and_surrogates(reset, surrogate, count_steps):
    name = "alif" if reset == "value" else "lif"  # ALIF: adaptation enters the surrogate's argument
    ref = _grads(name, "torch", True, reset=reset, surrogate=surrogate, dtype=torch.float64)
    got = _grads(name, "cpp", True, reset=reset, surrogate=surrogate, dtype=torch.float64)
    assert count_steps
    _assert_same(ref, got, rtol=1e-9, atol=1e-11)


def test_quantized_membrane_in_the_sltt_step(count_steps):
    sq = StateQuant.threshold_centred(4)
    ref = _grads("lif", "torch", False, state_quant=sq)
    got = _grads("lif", "cpp", False, state_quant=sq)
    assert len(count_steps) == 7
    _assert_same(ref, got, rtol=1e-5, atol=1e-6)
    plain = _grads("lif", "cpp", False)
    assert not torch.equal(plain[0], got[0])  # the levels change the outputs


def test_sltt_equals_bptt_at_zero_leak(count_steps):
    """Reference check 7 through the fused step: leak 0, so nothing is dropped."""
    def make():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(5, 8, dtype=torch.float64),
                             LIF.from_decay(0.0, surrogate="triangle", backend="cpp", dtype=torch.float64),
                             nn.Linear(8, 3, dtype=torch.float64))

    g = torch.Generator().manual_seed(2)
    xs = torch.rand(10, 4, 5, generator=g, dtype=torch.float64) * 2  # [T, B, 5]
    r = torch.randn(10, 4, 3, generator=g, dtype=torch.float64)
    net = make()
    sltt_backward(net, xs, lambda o, t: (o * r[t]).sum())
    assert len(count_steps) == 10
    bptt = make()
    ((bptt(xs) * r).sum() / 10).backward()  # whole-sequence BPTT (generic fused kernel)
    for a, b in zip(net.parameters(), bptt.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)
    # with leak the temporal route matters, so the check above can fail
    leaky = make()
    leaky[1].beta.fill_(0.9)
    sltt_backward(leaky, xs, lambda o, t: (o * r[t]).sum())
    full = make()
    full[1].beta.fill_(0.9)
    ((full(xs) * r).sum() / 10).backward()
    assert (leaky[0].weight.grad - full[0].weight.grad).abs().max() > 1e-3


def _peak(backend: str, T: int) -> int:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(16, 64), LIF.from_decay(0.5, backend=backend), nn.Linear(64, 4))
    xs = torch.rand(T, 8, 16)  # [T, B, 16]
    with SavedBytes() as sb:
        sltt_backward(net, xs, lambda o, t: o.sum())
    return sb.peak


def test_saved_bytes_independent_of_t_and_below_the_generic_kernel(count_steps, monkeypatch):
    """Reference check 8: peak bytes saved for backward at T = 128 equal those at T = 2."""
    fused = [_peak("cpp", T) for T in (2, 16, 128)]
    assert fused[0] == fused[1] == fused[2] > 0
    assert len(count_steps) == 2 + 16 + 128
    monkeypatch.setattr(ksltt, "sltt_supports", lambda *a: "disabled")  # generic T = 1 kernel per step
    generic = _peak("cpp", 16)
    assert len(count_steps) == 146
    # the SLTT step saves one [B, 64] factor instead of x and v ([B, 64] each) and the five scalar
    # coefficients, which the generic kernel takes as 1-element tensors (issue 17)
    assert generic - fused[1] == 8 * 64 * 4 + 5 * 4


def test_falls_back_where_the_kernel_does_not_apply(count_steps):
    custom = StateQuant((-1.0, 0.5, 1.0))
    ref = _grads("lif", "torch", False, state_quant=lambda v: custom(v))  # not a StateQuant: no kernel
    got = _grads("lif", "auto", False, state_quant=lambda v: custom(v))
    assert not count_steps
    _assert_same(ref, got, rtol=0, atol=0)


def test_nonfinite_input_names_step_and_index():
    from spikeforge.numerics import NonFiniteError

    net = nn.Sequential(LIF.from_decay(0.5, backend="cpp"), nn.Linear(5, 2))
    xs = torch.rand(4, 3, 5)
    xs[2, 1, 3] = float("inf")
    with pytest.raises(NonFiniteError, match=r"non-finite input \(inf\) at .*index \(1, 3\)"):
        sltt_backward(net, xs, lambda o, t: o.sum())
