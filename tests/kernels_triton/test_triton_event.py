"""The event-driven linear layer on the ``"triton"`` backend, against independent references: a
written-out sequential sum in index order (bit for bit), the dense ``F.linear`` and its autograd
(float tolerance), and the C++ event kernel (bit for bit in the forward). Runs in Triton's
interpreter on CPU tensors here (``conftest.py``), natively where a GPU exists."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikeforge.kernels import BackendUnavailableError, available_backends, triton_event
from spikeforge.kernels.triton_event import (TritonEventLinearFn, triton_event_linear,
                                             triton_event_linear_grad_weight)

triton = pytest.importorskip("triton")
from triton.backends.compiler import GPUTarget  # noqa: E402  (imported before any test sets TRITON_INTERPRET)
from triton.compiler import ASTSource  # noqa: E402

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


@pytest.fixture(autouse=True)
def narrow_block(monkeypatch):
    monkeypatch.setattr(triton_event, "BLOCK_N", 16)  # N = 37 spans three programs, the last partial


def _spikes(shape, rate, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(*shape, generator=g) < rate).to(dtype)
    return x.to(device)


def _sequential_forward(x2, wt, b):
    """y[r] = b + x[r, k0] wt[k0] + x[r, k1] wt[k1] + ... in increasing k, one rounding per op."""
    out = []
    for r in range(x2.shape[0]):
        acc = b.clone()
        for k in torch.nonzero(x2[r]).flatten().tolist():
            acc = acc + x2[r, k] * wt[k]
        out.append(acc)
    return torch.stack(out)


def _sequential_grad_w(x2, g2):
    """gwt[k] = 0 + x[r0, k] g[r0] + x[r1, k] g[r1] + ... in increasing r."""
    out = []
    for k in range(x2.shape[1]):
        acc = torch.zeros_like(g2[0])
        for r in torch.nonzero(x2[:, k]).flatten().tolist():
            acc = acc + x2[r, k] * g2[r]
        out.append(acc)
    return torch.stack(out)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.6])
def test_forward_is_the_sequential_sum(dtype, rate, tdevice):
    x = _spikes((3, 4, 29), rate, dtype, tdevice)
    x[0, 0, :3] = torch.tensor([0.5, -2.0, 0.0], dtype=dtype)  # graded values work too
    g = torch.Generator().manual_seed(1)
    w = torch.randn(37, 29, generator=g, dtype=dtype).to(tdevice)
    b = torch.randn(37, generator=g, dtype=dtype).to(tdevice)
    y = triton_event_linear(x, w.t().contiguous(), b)
    assert y.shape == (3, 4, 37)
    ref = _sequential_forward(x.reshape(-1, 29).cpu(), w.t().cpu(), b.cpu()).reshape(3, 4, 37)
    assert torch.equal(y.cpu(), ref)
    torch.testing.assert_close(y, F.linear(x, w, b), **TOL[dtype])
    y0 = triton_event_linear(x, w.t().contiguous())  # no bias: starts from zero
    torch.testing.assert_close(y0, F.linear(x, w), **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grad_weight_is_the_sequential_sum(dtype, tdevice):
    x = _spikes((5, 3, 23), 0.2, dtype, tdevice, seed=2)
    x[0, 0, :3] = torch.tensor([0.5, -2.0, 0.0], dtype=dtype)  # graded values are weighted, not counted
    gy = torch.randn(5, 3, 37, generator=torch.Generator().manual_seed(3), dtype=dtype).to(tdevice)
    gw = triton_event_linear_grad_weight(x, gy)
    assert gw.shape == (37, 23)
    ref = _sequential_grad_w(x.reshape(-1, 23).cpu(), gy.reshape(-1, 37).cpu())  # [K, N]
    assert torch.equal(gw.cpu(), ref.t())
    torch.testing.assert_close(gw, gy.reshape(-1, 37).t() @ x.reshape(-1, 23), **TOL[dtype])


def test_byte_spikes_read_directly(tdevice):
    x = _spikes((4, 31), 0.3, torch.float32, tdevice, seed=4)
    w = torch.randn(37, 31, generator=torch.Generator().manual_seed(5)).to(tdevice)
    want = triton_event_linear(x, w.t().contiguous())
    for spikes in (x.to(torch.uint8), x.bool()):
        assert torch.equal(triton_event_linear(spikes, w.t().contiguous()), want)
        assert torch.equal(triton_event_linear_grad_weight(spikes, want), triton_event_linear_grad_weight(x, want))


def test_autograd_matches_dense(tdevice):
    g = torch.Generator().manual_seed(6)
    x = _spikes((6, 2, 19), 0.25, torch.float64, tdevice, seed=7).requires_grad_()
    w = torch.randn(37, 19, generator=g, dtype=torch.float64).to(tdevice).requires_grad_()
    b = torch.randn(37, generator=g, dtype=torch.float64).to(tdevice).requires_grad_()
    up = torch.randn(6, 2, 37, generator=g, dtype=torch.float64).to(tdevice)
    (TritonEventLinearFn.apply(x, w, b) * up).sum().backward()
    got = [t.grad.clone() for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    (F.linear(x, w, b) * up).sum().backward()
    for a, want in zip(got, (x.grad, w.grad, b.grad)):
        torch.testing.assert_close(a, want, rtol=1e-12, atol=1e-12)


@pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")
def test_forward_equals_the_cpp_kernel_bit_for_bit(tdevice):
    from spikeforge.layers.sparse_linear import event_linear

    x = _spikes((7, 3, 70), 0.15, torch.float32, torch.device("cpu"), seed=8)
    g = torch.Generator().manual_seed(9)
    wt = torch.randn(70, 37, generator=g)
    b = torch.randn(37, generator=g)
    got = triton_event_linear(x.to(tdevice), wt.to(tdevice), b.to(tdevice)).cpu()
    assert torch.equal(got, event_linear(x, wt, b))


def test_empty_and_bad_input(tdevice):
    wt = torch.randn(8, 37).to(tdevice)
    assert triton_event_linear(torch.zeros(0, 8, device=tdevice), wt).shape == (0, 37)
    assert torch.equal(triton_event_linear(torch.zeros(2, 8, device=tdevice), wt), torch.zeros(2, 37, device=tdevice))
    with pytest.raises(ValueError, match="features"):
        triton_event_linear(torch.zeros(2, 9, device=tdevice), wt)
    with pytest.raises(BackendUnavailableError, match="dtype"):
        triton_event_linear(torch.zeros(2, 8, dtype=torch.float64, device=tdevice), wt)
    with pytest.raises(BackendUnavailableError, match="int32"):
        triton_event_linear(torch.zeros(2, 8, dtype=torch.int32, device=tdevice), wt)
    with pytest.raises(ValueError, match="rows"):
        triton_event_linear_grad_weight(torch.zeros(3, 8, device=tdevice), torch.zeros(2, 37, device=tdevice))


def test_cpu_tensors_refused_outside_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    if torch.cuda.is_available():
        pytest.skip("with a GPU the compiled kernels run; CPU tensors are refused below")
    with pytest.raises(BackendUnavailableError):
        triton_event_linear(torch.zeros(2, 8), torch.zeros(8, 4))


@pytest.mark.parametrize("dtype", ["fp32", "fp64"])
def test_event_kernels_compile_for_gpu_without_fma(monkeypatch, dtype):
    """Compiled to PTX for an sm_80 target (no GPU needed): a kernel only the interpreter accepts
    fails here, and no multiply-add may be contracted (the forward must round like the C++ kernel)."""
    from spikeforge.kernels import _triton_event_src

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    k = _triton_event_src.build()
    ptrs = {"rowptr": "*i64", "cols": "*i64", "colptr": "*i64", "rows": "*i64", "N": "i32"}

    def ptx(fn, fusion):
        sig = {n: ptrs.get(n, f"*{dtype}") if n != "BLOCK_N" else "constexpr" for n in fn.arg_names}
        src = ASTSource(fn=fn, signature=sig, constexprs={"BLOCK_N": 128})
        return triton.compile(src, target=GPUTarget("cuda", 80, 32), options={"enable_fp_fusion": fusion}).asm["ptx"]

    for fn in (k.event_forward, k.event_grad_w):
        assert "fma" not in ptx(fn, fusion=False)
    assert "fma" in ptx(k.event_forward, fusion=True)  # control: the check above can fail


def test_event_linear_module_on_the_triton_backend(tdevice):
    from spikeforge.layers.sparse_linear import EventLinear

    torch.manual_seed(10)
    fc = EventLinear(29, 37, mode="event", backend="triton", dtype=torch.float64).to(tdevice)
    x = _spikes((4, 3, 29), 0.2, torch.float64, tdevice, seed=11).requires_grad_()
    up = torch.randn(4, 3, 37, generator=torch.Generator().manual_seed(12), dtype=torch.float64).to(tdevice)
    (fc(x) * up).sum().backward()
    got = [t.grad.clone() for t in (x, fc.weight, fc.bias)]
    for t in (x, fc.weight, fc.bias):
        t.grad = None
    (F.linear(x, fc.weight, fc.bias) * up).sum().backward()
    for a, want in zip(got, (x.grad, fc.weight.grad, fc.bias.grad)):
        torch.testing.assert_close(a, want, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        assert torch.equal(fc(x), triton_event_linear(x, fc.weight.t().contiguous(), fc.bias))
    with pytest.raises(ValueError, match="backend"):
        EventLinear(4, 4, backend="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="auto picks Triton for CUDA tensors only")
def test_auto_takes_triton_on_cuda():
    from spikeforge.layers.sparse_linear import EventLinear

    fc = EventLinear(512, 256, crossover=0.05).cuda()
    x = _spikes((8, 16, 512), 0.01, torch.float32, torch.device("cuda"))
    assert fc.uses_event_path(x)
    torch.testing.assert_close(fc(x), F.linear(x, fc.weight, fc.bias))
