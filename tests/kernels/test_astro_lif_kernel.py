"""AstroLIF's model kernel beyond the registry contract (``tests/kernels/test_model_kernels.py``).

The contract's surrogate case only reaches neurons whose ``__init__`` names ``surrogate`` (AstroLIF
takes it through ``**kwargs``), and it runs the default ``domain=None``. Here: every surrogate, every
reset with and without ``detach_reset``, both integrators, and shared astrocytes (``domain > 1``:
neighbours coupled through their mean spike) in several layouts and on several threads, against the
torch reference; plus the calls the kernel declines and a non-finite initial astrocyte state.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels import BackendUnavailableError, available_backends
from spikeforge.neurons.astro_lif import AstroLIF, AstroLIFState
from spikeforge.numerics import NonFiniteError
from spikeforge.surrogate import SURROGATES

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")


def _make(backend: str, dtype: torch.dtype, size: int | None, **kw) -> AstroLIF:
    torch.manual_seed(0)
    m = AstroLIF(backend=backend, learn=AstroLIF.params_cls._fields, size=size, dtype=dtype, k_astro=2.0,
                 tau_astro=30e-3, **kw)
    if size is not None:  # heterogeneous per-neuron parameters
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(1 + 0.05 * torch.rand_like(p))
    return m


def _run(m: AstroLIF, xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    xs = xs.detach().clone().requires_grad_()
    s0 = m.init_state(xs[0])
    s0 = AstroLIFState(*(s.detach().clone().add_(0.2 * torch.rand_like(s)).requires_grad_() for s in s0))
    zs, st = m.run(xs, s0)
    w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)  # generic output gradient
    loss = (zs * w).sum() + (st.v * st.v).sum() + (st.a * st.a).sum()
    params = [p for _, p in sorted(m.named_parameters())]
    grads = torch.autograd.grad(loss, [xs, *s0, *params], allow_unused=True)  # v_reset: unused by most resets
    return (zs, *st, *grads)


def _compare(xs: torch.Tensor, size: int | None, **kw) -> None:
    dtype = xs.dtype
    ref, got = _run(_make("torch", dtype, size, **kw), xs), _run(_make("cpp", dtype, size, **kw), xs)
    assert ref[0].sum() > 0, "no spikes: the case would not test the reset or the astrocyte"
    for a, b in zip(ref[:3], got[:3], strict=True):
        assert torch.equal(a, b), "outputs or final state differ"
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-11)
    for a, b in zip(ref[3:], got[3:], strict=True):
        if a is None or b is None:  # unused: None in one, zeros in the other
            assert all(g is None or not g.any() for g in (a, b))
            continue
        scale = a.abs().max().clamp_min(1.0)
        torch.testing.assert_close(b / scale, a / scale, **tol)


def _inputs(shape: tuple[int, ...], dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return ((torch.randn(shape, generator=gen, dtype=torch.float64) + 0.8) * 40).to(dtype)


@pytest.mark.parametrize("surrogate", [n for n in SURROGATES.names() if n != "custom"])
def test_every_surrogate(surrogate: str) -> None:
    _compare(_inputs((10, 3, 11)), 11, surrogate=surrogate)


@pytest.mark.parametrize("integrator", ["euler", "exp"])
@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("reset", ["subtract", "value", "zero", "none"])
def test_every_reset_detach_and_integrator(reset: str, detach: bool, integrator: str) -> None:
    _compare(_inputs((10, 3, 11), torch.float64), 11, reset=reset, detach_reset=detach, integrator=integrator)


@pytest.mark.parametrize("layout", ["contiguous", "neurons_outer", "two_dims"])
@pytest.mark.parametrize("domain", [2, 3, 7])
def test_shared_astrocyte_domains(domain: int, layout: str) -> None:
    xs = _inputs((12, 4, 42), seed=domain)
    if layout == "neurons_outer":  # same values, memory order [T, N, B]: a domain is strided in memory
        xs = xs.transpose(1, 2).contiguous().transpose(1, 2)
    elif layout == "two_dims":
        xs = xs.reshape(12, 2, 2, 42)
    _compare(xs, None if layout == "two_dims" else 42, domain=domain)


@pytest.mark.parametrize("domain", [5, 150])
def test_shared_astrocyte_domains_many_threads(domain: int, many_threads: int) -> None:
    _compare(_inputs((8, 6, 300), seed=1), 300, domain=domain)


def test_domains_matter() -> None:
    """The domain case is not vacuous: sharing the astrocyte changes the spikes."""
    xs = _inputs((12, 4, 42))
    assert not torch.equal(_make("cpp", torch.float32, 42, domain=7)(xs), _make("cpp", torch.float32, 42)(xs))


def test_declined_domain_raises_for_cpp_and_runs_the_reference_for_auto() -> None:
    xs = _inputs((3, 2, 1024))
    with pytest.raises(BackendUnavailableError, match="domain=512"):
        _make("cpp", torch.float32, None, domain=512)(xs)
    assert torch.equal(_make("auto", torch.float32, None, domain=512)(xs),
                       _make("torch", torch.float32, None, domain=512)(xs))


@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_nonfinite_initial_astrocyte_state_is_named(backend: str) -> None:
    xs = torch.rand(4, 2, 5)
    a = torch.zeros(2, 5)
    a[1, 3] = float("inf")
    with pytest.raises(NonFiniteError, match="initial state a"):
        AstroLIF(backend=backend).run(xs, AstroLIFState(torch.zeros(2, 5), a))
