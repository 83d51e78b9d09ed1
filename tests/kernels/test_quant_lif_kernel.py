"""Quantized-membrane LIF kernel (``kernels/quant_lif.py``, ``csrc/quant_lif.cpp``) against the torch
reference ``lif_step(..., state_quant=StateQuant)``: spikes and states bit-identical, gradients (STE)
within float tolerance; every reset, both level schemes, float32/float64, learnable parameters,
an initial state with a gradient, a strided output gradient, the threaded path; snnTorch's
quantized ``Leaky`` as a peer; non-finite values and quantizers without a kernel."""

from __future__ import annotations

import pytest
import torch

import spikeforge as sf
import spikeforge.kernels.quant_lif as kq
from spikeforge.kernels import BackendUnavailableError, available_backends
from spikeforge.numerics import NonFiniteError
from spikeforge.quant import StateQuant

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")
TOL = {torch.float32: dict(rtol=2e-4, atol=2e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}
QUANTS = {"centred4": StateQuant.threshold_centred(4), "uniform3": StateQuant.uniform(3),
          "centred2": StateQuant.threshold_centred(2, v_th=1.0, lower=0.5, upper=0.5)}


@pytest.fixture
def count_runs(monkeypatch):
    calls: list[int] = []
    real = kq._QuantRun.apply
    monkeypatch.setattr(kq._QuantRun, "apply", lambda *a: calls.append(1) or real(*a))
    return calls


def _run(backend: str, dtype, reset: str, sq, learn: bool, xs: torch.Tensor, v0: bool = True, **kw):
    torch.manual_seed(0)
    lif = sf.LIF(tau_mem=4e-3, backend=backend, reset=reset, state_quant=sq, dtype=dtype, size=xs.shape[-1],
                 learn=("tau_mem", "r", "v_leak") if learn else (), v_reset=-0.2, **kw)
    x = xs.detach().clone().requires_grad_()
    state = None
    if v0:
        state = lif.init_state(x[0])
        state = type(state)(*(s.detach().clone().add_(0.3).requires_grad_() for s in state))
    zs, final = lif.run(x, state)
    w = torch.linspace(-1, 2, zs.numel(), dtype=dtype).reshape(zs.shape)  # generic output gradient
    loss = (zs * w).sum() + (final.v ** 2).sum()
    inputs = [x, *[p for _, p in sorted(lif.named_parameters())]] + ([state.v] if v0 else [])
    return zs, final.v, torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("qname", sorted(QUANTS))
@pytest.mark.parametrize("reset", ["subtract", "value", "zero", "none"])
def test_quantized_kernel_equals_reference(reset, qname, dtype, count_runs):
    g = torch.Generator().manual_seed(3)
    xs = (torch.rand(25, 3, 11, generator=g, dtype=torch.float64) * 3.0).to(dtype)  # [T, B, N]
    ref = _run("torch", dtype, reset, QUANTS[qname], True, xs)
    assert not count_runs
    got = _run("cpp", dtype, reset, QUANTS[qname], True, xs)
    assert len(count_runs) == 1
    assert torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1])  # spikes and state bit-identical
    assert ref[0].sum() > 0
    for a, b in zip(ref[2], got[2]):
        torch.testing.assert_close(b, a, **TOL[dtype])
    # the state is on the levels (the reset moves it off them only for subtract/value)
    if reset in ("none", "zero"):
        levels = torch.tensor(QUANTS[qname].levels, dtype=dtype)
        assert bool(torch.isin(got[1][got[1] != 0], levels).all())


def test_threads_strided_gradient_and_no_initial_state(monkeypatch):
    from spikeforge.kernels import cpu

    monkeypatch.setattr(cpu, "PARALLEL_GRAIN", 1)
    old = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        g = torch.Generator().manual_seed(4)
        xs = torch.rand(40, 8, 130, generator=g) * 0.8  # 1040 neurons: several blocks on 4 threads
        sq = QUANTS["centred4"]
        out = {}
        for be in ("torch", "cpp"):
            lif = sf.LIF.from_decay(0.8, backend=be, state_quant=sq)
            x = xs.clone().requires_grad_()
            z = lif(x)
            z.sum().backward()  # a broadcast (stride 0) output gradient
            out[be] = (z, x.grad)
        assert torch.equal(out["torch"][0], out["cpp"][0])
        torch.testing.assert_close(out["cpp"][1], out["torch"][1], rtol=1e-5, atol=1e-6)
    finally:
        torch.set_num_threads(old)


@pytest.mark.peers
def test_cpp_quantized_lif_equals_snntorch_leaky():
    snn = pytest.importorskip("snntorch")
    from snntorch.functional import quant

    bits, beta = 4, 0.85
    xs = torch.rand(40, 3, 7, generator=torch.Generator().manual_seed(5)) * 0.6
    peer = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero", reset_delay=False,
                     state_quant=quant.state_quant(num_bits=bits, uniform=True))
    mem, spk_p, mem_p = peer.init_leaky(), [], []
    for x in xs:
        s, mem = peer(x, mem)
        spk_p.append(s)
        mem_p.append(mem)
    lif = sf.LIF.from_decay(beta, reset="zero", state_quant=StateQuant.uniform(bits), backend="cpp")
    zs, final = lif.run(xs)
    assert torch.equal(zs, torch.stack(spk_p)) and zs.sum() > 0
    torch.testing.assert_close(final.v, mem_p[-1], rtol=0, atol=1e-6)


def test_nonfinite_input_is_reported_not_hidden_by_the_levels():
    xs = torch.rand(6, 2, 5)
    xs[3, 1, 2] = float("nan")  # the levels would map NaN to a finite level without the q + (v - v) form
    lif = sf.LIF.from_decay(0.9, state_quant=QUANTS["uniform3"], backend="cpp")
    with pytest.raises(NonFiniteError, match=r"non-finite input \(nan\) at time step 3, index \(1, 2\)"):
        lif(xs)


def test_quantizers_without_a_kernel():
    custom = StateQuant((-1.0, 0.5, 1.0))
    lif = sf.LIF(state_quant=lambda v: custom(v), backend="cpp")  # a plain callable: no level table
    with pytest.raises(BackendUnavailableError, match="state quantization"):
        lif(torch.rand(3, 2, 4))
    xs = torch.rand(8, 2, 4)
    auto = sf.LIF(state_quant=lambda v: custom(v))(xs)  # auto: the torch reference
    ref = sf.LIF(state_quant=lambda v: custom(v), backend="torch")(xs)
    assert torch.equal(auto, ref)


@pytest.mark.parametrize("loss", ["spikes", "final", "both"])
def test_unused_outputs_get_no_zero_filled_gradient(loss, monkeypatch):
    """``layer(x).sum()`` leaves the final state's gradient unused: it must reach the kernel's backward as
    None (autograd materialising it writes an [M] zero tensor that the kernel then reads), and every
    loss's gradients must stay the reference's."""
    seen: list[bool] = []
    real = kq._QuantRun.backward

    def spy(ctx, gz, gvT):
        seen.append(gvT is None)
        return real(ctx, gz, gvT)

    monkeypatch.setattr(kq._QuantRun, "backward", staticmethod(spy))
    sq = QUANTS["uniform3"]
    xs = torch.rand(6, 3, 5) * 2  # [T, B, N]
    grads = {}
    for be in ("torch", "cpp"):
        lif = sf.LIF.from_decay(0.8, backend=be, state_quant=sq)
        x = xs.clone().requires_grad_()
        zs, final = lif.run(x)
        out = {"spikes": zs.sum(), "final": (final.v ** 2).sum(), "both": zs.sum() + (final.v ** 2).sum()}[loss]
        (grads[be],) = torch.autograd.grad(out, [x])
    assert seen == [loss == "spikes"], f"final-state gradient None per backward call: {seen}"
    torch.testing.assert_close(grads["cpp"], grads["torch"])
