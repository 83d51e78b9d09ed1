"""UltraLIF's model kernel beyond the registry contract (``tests/kernels/test_model_kernels.py``).

The kernel reproduces torch's ``logaddexp``/``sigmoid``, which round differently on torch's vector
path (SLEEF) and on the scalar tail of each loop (the C library); which elements are on the tail
depends on how torch splits an op across threads (more than 32768 elements). These tests cross that
split, the clamps of ``eps``/``decay`` and ``detach_reset``, and the calls the kernel must decline.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels import BackendUnavailableError, available_backends
from spikeforge.kernels import ultralif_kernel as uk
from spikeforge.kernels.ultradlif_kernel import torch_vml
from spikeforge.neurons.ultradlif import UltraDLIF
from spikeforge.neurons.ultralif import UltraLIF, UltraLIFState

pytestmark = pytest.mark.skipif("cpp" not in available_backends() or isinstance(uk._sleef(), str),
                                reason="no C++ compiler, or torch without the AVX2/AVX512 SLEEF kernels the model "
                                       "reproduces")


def _fwd_bwd(m: UltraLIF, xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    xs = xs.detach().clone().requires_grad_()
    zs, st = m.run(xs)
    w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)  # generic output gradient
    ((zs * w).sum() + (st.v * st.v).sum()).backward()
    return (zs.detach(), st.v.detach(), xs.grad, *(p.grad for _, p in sorted(m.named_parameters())))


@pytest.mark.parametrize("threads, n", [(2, 70001), (3, 100003), (2, 32769)])
def test_forward_exact_where_torch_splits_an_op_across_threads(threads: int, n: int) -> None:
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(n)
        xs = torch.randn(6, 1, n, generator=gen) * 3  # [T, B, N]: one step is n elements
        z0, s0 = UltraLIF(backend="torch").run(xs)
        z1, s1 = UltraLIF(backend="cpp").run(xs)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(z0, z1) and torch.equal(s0.v, s1.v)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_forward_exact_for_every_tail_of_torch_vector_loop(dtype: torch.dtype) -> None:
    """Steps of 1-99 neurons: every length of the scalar tail torch's loop leaves after its pairs of
    vectors (0-31 floats / 0-15 doubles with ATen's AVX512 kernels, 0-15 / 0-7 with its AVX2 ones),
    for UltraLIF (logaddexp and sigmoid; its spikes are the sigmoid's bits) and UltraDLIF (sigmoid)."""
    gen = torch.Generator().manual_seed(11)
    for n in range(1, 100):
        xs = (torch.randn(8, 1, n, generator=gen, dtype=torch.float64) * 3).to(dtype)  # [T, B, N]
        for cls in (UltraLIF, UltraDLIF):
            if cls is UltraDLIF and isinstance(torch_vml(dtype), str):
                continue  # UltraDLIF also needs torch's MKL exp/log (its own tests say why)
            z0, s0 = cls(backend="torch", dtype=dtype).run(xs)
            z1, s1 = cls(backend="cpp", dtype=dtype).run(xs)
            assert torch.equal(z0, z1) and torch.equal(s0.v, s1.v), (cls.__name__, n)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("params", [dict(eps=50.0, decay=0.995), dict(eps=0.05, decay=0.05), dict(eps=0.7, decay=0.5)],
                         ids=["above", "below", "inside"])
@pytest.mark.parametrize("detach", [False, True])
def test_clamped_parameters_and_detach_reset(dtype: torch.dtype, params: dict, detach: bool) -> None:
    gen = torch.Generator().manual_seed(3)
    xs = (torch.randn(15, 3, 17, generator=gen, dtype=torch.float64) * 4).to(dtype)

    def make(backend: str) -> UltraLIF:
        torch.manual_seed(0)
        m = UltraLIF(backend=backend, learn=("decay", "eps", "v_th"), size=17, dtype=dtype, detach_reset=detach,
                     **params)
        with torch.no_grad():  # heterogeneous, same side of the clamp bounds
            for p in m.parameters():
                p.mul_(1 + 0.002 * torch.rand_like(p))
        return m

    ref, got = _fwd_bwd(make("torch"), xs), _fwd_bwd(make("cpp"), xs)
    assert torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1])
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-11)
    for a, b in zip(ref[2:], got[2:], strict=True):
        scale = a.abs().max().clamp_min(1.0)
        torch.testing.assert_close(b / scale, a / scale, **tol)


def test_declined_calls_raise_for_cpp_and_run_the_reference_for_auto() -> None:
    xs = torch.rand(4, 3, 5) * 2
    v_t = torch.zeros(5, 3).t()  # a state laid out unlike the input step: torch iterates them differently
    for args, match in [((xs.half(), None), "float32/float64"), ((xs, UltraLIFState(v_t)), "laid out")]:
        with pytest.raises(BackendUnavailableError, match=match):
            UltraLIF(backend="cpp", dtype=args[0].dtype).run(*args)
        ref = UltraLIF(backend="torch", dtype=args[0].dtype).run(*args)
        auto = UltraLIF(backend="auto", dtype=args[0].dtype).run(*args)
        assert torch.equal(ref[0], auto[0]) and torch.equal(ref[1].v, auto[1].v)


def test_other_cpu_capability_is_declined(monkeypatch: pytest.MonkeyPatch) -> None:
    uk._sleef.cache_clear()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "DEFAULT")  # ATen without vector code
    try:
        with pytest.raises(BackendUnavailableError, match="DEFAULT"):
            UltraLIF(backend="cpp")(torch.rand(3, 2, 4))
    finally:
        uk._sleef.cache_clear()
