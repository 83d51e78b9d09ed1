"""What the model-kernel contract (``test_model_kernels.py``) does not reach for the CLIF and TC-LIF
kernels (``kernels/clif_kernel.py``, ``kernels/tc_lif_kernel.py``): ``detach_reset``, TC-LIF's
surrogates (its constructor takes them through ``**kwargs``, which the contract's surrogate test
does not see), CLIF's emulation of ``torch.sigmoid`` (vector exp, scalar tails, thread chunks) and
the calls CLIF's kernel must decline. References: the torch loop of the same step function."""

from __future__ import annotations

import ctypes

import pytest
import torch

from spikeforge.kernels import BackendUnavailableError, available_backends
from spikeforge.kernels._build import load_library
from spikeforge.kernels.clif_kernel import CLIF_KERNEL, torch_vector_exp
from spikeforge.kernels.model_kernels import torch_vector_bytes
from spikeforge.neurons import CLIF, TCLIF
from spikeforge.surrogate import SURROGATES

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

TOL = {torch.float32: dict(rtol=2e-4, atol=2e-5), torch.float64: dict(rtol=1e-9, atol=1e-11)}
# ATen's AVX2 or AVX512 kernels, whose sigmoid the kernel reproduces
CLIF_RUNS = torch_vector_bytes() is not None and torch_vector_exp(torch.float32) is not None
DECLINES = "CLIF's kernel declines this torch build (not AVX2/AVX512)"


def _make(cls, backend: str, dtype: torch.dtype, n: int, **kw):
    torch.manual_seed(3)  # same heterogeneous parameters for both backends
    m = cls(backend=backend, learn=cls.params_cls._fields, size=n, dtype=dtype, **kw)
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(1 + 0.05 * torch.rand_like(p))
    return m


def _run(m, xs: torch.Tensor):
    xs = xs.detach().clone().requires_grad_()
    state = m.init_state(xs[0])
    state = type(state)(*(s.detach().clone().add_(0.2 * torch.rand_like(s)).requires_grad_() for s in state))
    zs, final = m.run(xs, state)
    w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)
    loss = (zs * w).sum() + sum((s * s).sum() for s in final)
    params = [p for _, p in sorted(m.named_parameters())]
    return zs, final, torch.autograd.grad(loss, [xs, *params, *state])


def _assert_parity(ref, got, dtype) -> None:
    (z0, s0, g0), (z1, s1, g1) = ref, got
    assert torch.equal(z0, z1), "spikes differ"
    for a, b in zip(s0, s1, strict=True):
        assert torch.equal(a, b), "final state differs"
    for a, b in zip(g0, g1, strict=True):
        scale = a.abs().max().clamp_min(1.0)
        torch.testing.assert_close(b / scale, a / scale, **TOL[dtype])


def _xs(shape, dtype, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * 2.0 + 1.2).to(dtype)


@pytest.mark.parametrize("surrogate", [n for n in SURROGATES.names() if n != "custom"])
def test_tc_lif_every_surrogate(surrogate: str) -> None:
    xs = _xs((9, 4, 13), torch.float32)
    ref = _run(_make(TCLIF, "torch", torch.float32, 13, surrogate=surrogate), xs)
    _assert_parity(ref, _run(_make(TCLIF, "cpp", torch.float32, 13, surrogate=surrogate), xs), torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cls", [TCLIF, CLIF], ids=["tc_lif", "clif"])
def test_detach_reset(cls, dtype: torch.dtype) -> None:
    if cls is CLIF and not CLIF_RUNS:
        pytest.skip(DECLINES)
    xs = _xs((15, 3, 21), dtype, seed=1)
    ref = _run(_make(cls, "torch", dtype, 21, detach_reset=True), xs)
    _assert_parity(ref, _run(_make(cls, "cpp", dtype, 21, detach_reset=True), xs), dtype)
    # the flag matters for these inputs: without it the gradients differ
    plain = _run(_make(cls, "torch", dtype, 21), xs)
    assert not torch.allclose(plain[2][0], ref[2][0])


def _kernel_sigmoid(a: torch.Tensor, threads: int) -> torch.Tensor:
    lib = load_library()
    suf = "f32" if a.dtype == torch.float32 else "f64"
    fn = getattr(lib, f"sf_clif_sigmoid_{suf}")
    fn.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    out = torch.empty_like(a)
    assert fn(a.numel(), a.data_ptr(), out.data_ptr(), threads, torch_vector_exp(a.dtype), torch_vector_bytes()) == 0
    return out


@pytest.mark.skipif(not CLIF_RUNS, reason=DECLINES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_clif_sigmoid_is_torch_sigmoid_bitwise(dtype: torch.dtype) -> None:
    """The kernel's sigmoid equals torch.sigmoid element for element, for every tail of a pair of
    vectors (0-31 elements: 2 x 8 or 16 floats, 2 x 4 or 8 doubles) and sizes around the 32768-element
    parallel grain, on 1-4 threads (chunk sizes not a multiple of 32)."""
    gen = torch.Generator().manual_seed(2)
    old = torch.get_num_threads()
    try:
        for threads in (1, 2, 3, 4):
            torch.set_num_threads(threads)
            for n in (*range(1, 100), 32768, 32769, 65537, 100003):
                a = (torch.randn(n, generator=gen, dtype=torch.float64) * 6).to(dtype)
                assert torch.equal(_kernel_sigmoid(a, threads), torch.sigmoid(a)), (threads, n)
        # the position rule matters: the vector and the scalar exp disagree on some of these elements
        a = (torch.randn(100003, generator=gen, dtype=torch.float64) * 6).to(dtype)
        strided = torch.stack([a, a], 1)[:, 0]  # non-contiguous: torch's scalar loop for every element
        assert not torch.equal(torch.sigmoid(a), torch.sigmoid(strided))
    finally:
        torch.set_num_threads(old)


@pytest.mark.skipif(not CLIF_RUNS, reason=DECLINES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_clif_layer_exact_for_every_tail_of_torch_vector_loop(dtype: torch.dtype) -> None:
    """Layers of 1-99 neurons and one of 2100 (several kernel blocks): every length of the scalar tail
    torch's sigmoid leaves after its pairs of vectors; spikes and both state fields bit for bit, gradients
    to tolerance on a few of them."""
    for n in (*range(1, 100), 2100):
        xs = _xs((7, 1, n), dtype, seed=n) * 2  # [T, B, N]
        if n % 16 == 5 or n == 2100:
            _assert_parity(_run(_make(CLIF, "torch", dtype, n), xs), _run(_make(CLIF, "cpp", dtype, n), xs), dtype)
            continue
        z0, s0 = CLIF(backend="torch", dtype=dtype).run(xs)
        z1, s1 = CLIF(backend="cpp", dtype=dtype).run(xs)
        assert torch.equal(z0, z1) and all(torch.equal(a, b) for a, b in zip(s0, s1)), n


@pytest.mark.skipif(not CLIF_RUNS, reason=DECLINES)
@pytest.mark.parametrize("threads", [2, 3])
def test_clif_layer_larger_than_torch_grain(threads: int) -> None:
    """80000 neurons per step: torch splits each sigmoid into per-thread chunks with scalar tails."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        xs = _xs((3, 2, 40000), torch.float32, seed=3) * 3
        z0, s0 = CLIF(backend="torch").run(xs)
        z1, s1 = CLIF(backend="cpp").run(xs)
        assert torch.equal(z0, z1) and all(torch.equal(a, b) for a, b in zip(s0, s1))
    finally:
        torch.set_num_threads(old)


def test_clif_declines_noncontiguous_state() -> None:
    if not CLIF_RUNS:  # it declines every call here, for its build reason first
        pytest.skip(DECLINES)
    xs = _xs((5, 4, 6), torch.float32)
    state = CLIF().init_state(xs[0])
    state = type(state)(*(s.t().contiguous().t() for s in state))  # [4, 6] stored transposed
    assert CLIF_KERNEL.supports(xs, state, CLIF().step_kwargs()) is not None
    with pytest.raises(BackendUnavailableError, match="contiguous"):
        CLIF(backend="cpp").run(xs, state)
    z0, _ = CLIF(backend="torch").run(xs, state)
    z1, _ = CLIF(backend="auto").run(xs, state)
    assert torch.equal(z0, z1)
