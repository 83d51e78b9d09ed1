"""Contract of every model kernel (``kernels/model_kernels.py``), derived from the registry.

Each registered neuron whose step function has a model kernel of its own is run through
``backend="cpp"`` and the torch reference with every parameter learnable and heterogeneous per
neuron: outputs and final state bit-identical, gradients of the input, the initial state and each
parameter equal to float tolerance, in float32 and float64, over shapes that stress the kernel's
indexing (T = 1, a non-contiguous view, two neuron dims, a long T), on several threads, and every
surrogate: where the kernel declines one, ``"cpp"`` must raise and ``"auto"`` equal the reference.
A new entry in ``MODEL_KERNELS`` is tested here without editing this file.
"""

from __future__ import annotations

import pytest
import torch

from _fused import assert_parity, parity_inputs

from spikeforge.kernels import BackendUnavailableError, available_backends
from spikeforge.kernels.model_kernels import MODEL_KERNELS, _qualname, model_kernel_for
from spikeforge.kernels.specs import spec_for
from spikeforge.neurons import NEURONS as REGISTRY
from spikeforge.numerics import NonFiniteError
from spikeforge.surrogate import SURROGATES

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")

CLASSES = {name: REGISTRY.get(name) for name in REGISTRY.names()}
KERNELED = {name: cls for name, cls in CLASSES.items() if model_kernel_for(cls.step_fn) is not None}
SHAPES = {
    "T1": lambda x: x[:1],
    "noncontig": lambda x: x.transpose(1, 2),  # [T, N, B] view with non-unit inner stride
    "nd": lambda x: x.reshape(x.shape[0], 2, -1, 3),  # [T, B, *] with two neuron dims
    "long": lambda x: torch.cat([x] * 40),  # T = 240
}


def test_every_model_kernel_belongs_to_a_registered_neuron_without_a_spec() -> None:
    steps = {_qualname(cls.step_fn): name for name, cls in CLASSES.items()}
    for qualname in MODEL_KERNELS:
        assert qualname in steps, f"model kernel for {qualname}, which no registered neuron steps with"
        assert spec_for(CLASSES[steps[qualname]].step_fn) is None, "a neuron has either a spec or a model kernel"


def _environment_declines(name: str) -> str | None:
    """Why this machine's torch build cannot run ``name``'s kernel at all (some kernels call the exp /
    SLEEF routines torch's own AVX2 / AVX512 or MKL kernels use, and decline elsewhere), or ``None``."""
    m = KERNELED[name](backend="cpp")
    xs = torch.rand(3, 2, 4)  # [T, B, N]
    _, state, kwargs = m.prepare_run(xs, None)
    return model_kernel_for(KERNELED[name].step_fn).supports(xs, state, kwargs)


REFERENCE_BUILD = torch.backends.cpu.get_cpu_capability() == "AVX2" and torch.backends.mkl.is_available()


@pytest.mark.skipif(not REFERENCE_BUILD, reason="not an AVX2 + MKL torch build (the reference VM's)")
@pytest.mark.parametrize("name", list(KERNELED))
def test_model_kernel_runs_its_default_call_on_the_reference_build(name):
    assert _environment_declines(name) is None


def _make(name: str, backend: str, dtype: torch.dtype, size: int | None, **kw):
    cls = KERNELED[name]
    reason = _environment_declines(name) if backend == "cpp" else None
    if reason is not None:  # elsewhere the contract is what "auto" does: run the reference
        pytest.skip(f"{name}'s kernel declines this torch build: {reason}")
    torch.manual_seed(7)  # same parameters for both backends
    m = cls(backend=backend, learn=cls.params_cls._fields, size=size, dtype=dtype, **kw)
    if size is not None:  # heterogeneous per-neuron parameters, same sign as the defaults
        with torch.no_grad():
            for p in m.parameters():
                p.mul_(1 + 0.05 * torch.rand_like(p))
    return m


def _run(m, xs: torch.Tensor, v0_grad: bool = False):
    xs = xs.detach().clone().requires_grad_()
    state = None
    if v0_grad:
        state = m.init_state(xs[0])
        state = type(state)(*(s.detach().clone().add_(0.1 * torch.rand_like(s)).requires_grad_() for s in state))
    zs, final = m.run(xs, state)
    w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)  # generic output gradient
    loss = (zs * w).sum() + sum((s * s).sum() for s in final if s.is_floating_point())
    params = [p for _, p in sorted(m.named_parameters())]
    inputs = [xs, *params] + (list(state) if state is not None else [])
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return zs, final, grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(KERNELED))
def test_model_kernel_parity_per_neuron_parameters(name, dtype, gen):
    xs = parity_inputs((12, 3, 21), dtype, gen)
    assert_parity(_run(_make(name, "torch", dtype, 21), xs), _run(_make(name, "cpp", dtype, 21), xs), dtype)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("name", list(KERNELED))
def test_model_kernel_parity_shapes(name, shape, gen):
    xs = SHAPES[shape](parity_inputs((6, 4, 9), torch.float32, gen))
    ref = _run(_make(name, "torch", torch.float32, None), xs, v0_grad=True)
    got = _run(_make(name, "cpp", torch.float32, None), xs, v0_grad=True)
    assert_parity(ref, got, torch.float32)


@pytest.mark.parametrize("name", list(KERNELED))
def test_model_kernel_parity_many_threads(name, gen, monkeypatch):
    from spikeforge.kernels import cpu
    monkeypatch.setattr(cpu, "PARALLEL_GRAIN", 1)
    old = torch.get_num_threads()
    torch.set_num_threads(4)
    try:
        xs = parity_inputs((20, 8, 300), torch.float32, gen)
        assert_parity(_run(_make(name, "torch", torch.float32, 300), xs),
                 _run(_make(name, "cpp", torch.float32, 300), xs), torch.float32)
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("surrogate", [n for n in SURROGATES.names() if n != "custom"])
@pytest.mark.parametrize("name", [n for n, c in KERNELED.items() if "surrogate" in c().step_kwargs()])
def test_model_kernel_surrogates_run_or_are_declined(name, surrogate, gen):
    xs = parity_inputs((9, 4, 13), torch.float32, gen)
    ref = _run(_make(name, "torch", torch.float32, None, surrogate=surrogate), xs)
    cpp = _make(name, "cpp", torch.float32, None, surrogate=surrogate)
    p, state, kwargs = cpp.prepare_run(xs, None)
    if model_kernel_for(KERNELED[name].step_fn).supports(xs, state, kwargs) is not None:
        with pytest.raises(BackendUnavailableError):
            cpp.run(xs)
        assert_parity(ref, _run(_make(name, "auto", torch.float32, None, surrogate=surrogate), xs), torch.float32)
        return
    assert_parity(ref, _run(cpp, xs), torch.float32)


@pytest.mark.parametrize("name", list(KERNELED))
def test_model_kernel_reports_nonfinite_input(name):
    xs = torch.rand(5, 2, 7)
    xs[3, 1, 4] = float("nan")
    with pytest.raises(NonFiniteError, match=r"time step 3"):
        _make(name, "cpp", torch.float32, None)(xs)
