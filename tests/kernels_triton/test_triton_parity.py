"""``backend="triton"`` vs the torch reference (the loop of the pure step function), in the spirit of
``tests/kernels/test_parity.py``: forward outputs and final state bit-identical, gradients of the
input, the initial state and every learnable parameter equal to float tolerance.

Here the kernels run in Triton's interpreter on CPU tensors (see ``conftest.py``); on a machine with
a CUDA GPU the same tests run the compiled kernels against torch's CUDA reference. Shapes are tiny
because the interpreter executes every operation of every step in NumPy.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.kernels import BackendUnavailableError, available_backends, cpu, triton_lif
from spikeforge.kernels.specs import spec_for
from spikeforge.neurons import LIF, NEURONS as REGISTRY
from spikeforge.numerics import NonFiniteError
from spikeforge.surrogate import SURROGATES, Custom

_CLASSES = {name: REGISTRY.get(name) for name in REGISTRY.names()}
NEURONS = {n: c for n, c in _CLASSES.items() if spec_for(c.step_fn) is not None and c.spiking}
READOUTS = {n: c for n, c in _CLASSES.items() if spec_for(c.step_fn) is not None and not c.spiking}
RESETS = ("subtract", "value", "zero", "none")
SURROGATE_NAMES = [n for n in SURROGATES.names() if n != "custom"]
TOL = {torch.float32: dict(rtol=2e-4, atol=2e-5), torch.float64: dict(rtol=1e-9, atol=1e-11)}
T, B, N = 6, 2, 37  # M = 74 columns: not a multiple of the test block (64)


def _make(name: str, backend: str, dtype: torch.dtype, device: torch.device, size: int | None = N, **kw):
    cls = {**NEURONS, **READOUTS}[name]
    fields = cls.params_cls._fields  # every parameter learnable: each coefficient's gradient is checked
    values = {"tau_mem": 5e-3, "tau_syn": 1e-3, "v_reset": -0.2, "tau_adapt": 30e-3}  # spiking in T = 6 steps
    extra = {k: v for k, v in values.items() if k in fields}
    torch.manual_seed(7)  # same parameters for both backends
    m = cls(backend=backend, learn=fields, size=size, dtype=dtype, **extra, **kw).to(device)
    if size is not None:  # heterogeneous per-neuron parameters
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.05 * torch.rand_like(p) * p.abs().clamp_min(0.1))
    return m


def _run(m, xs: torch.Tensor, v0_grad: bool = True, broadcast: bool = False):
    xs = xs.detach().clone().requires_grad_()
    state = None
    if v0_grad:
        state = m.init_state(xs[0])
        state = type(state)(*(s.detach().clone().add_(0.1).requires_grad_() for s in state))
    zs, final = m.run(xs, state)
    if broadcast:  # loss = z.sum(): a stride-0 output gradient
        loss = zs.sum()
    else:
        w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype, device=zs.device).reshape(zs.shape)
        loss = (zs * w).sum() + sum((s * s).sum() for s in final)
    params = [p for _, p in sorted(m.named_parameters())]
    inputs = [xs, *params] + (list(state) if state is not None else [])
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return zs, final, grads


def _inputs(shape, dtype, device, seed: int = 1234):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * 2.0 + 1.2).to(dtype).to(device)


def _compare(ref, got, dtype, spiking: bool = True):
    z0, s0, g0 = ref
    z1, s1, g1 = got
    assert torch.equal(z0, z1), "forward outputs differ"
    if spiking:
        assert 0 < float(z0.detach().mean()) < 1, "no spikes (or only spikes): the comparison would be weak"
    for a, b in zip(s0, s1):
        assert torch.equal(a, b), "final state differs"
    for a, b in zip(g0, g1):
        if a is None or b is None:  # unused parameter: None in one, zeros in the other
            assert all(g is None or not g.any() for g in (a, b))
            continue
        scale = a.abs().max().clamp_min(1.0)
        torch.testing.assert_close(b / scale, a / scale, **TOL[dtype])


def _parity(name, dtype, device, xs=None, size=N, broadcast=False, **kw):
    xs = _inputs((T, B, N), dtype, device) if xs is None else xs
    ref = _run(_make(name, "torch", dtype, device, size, **kw), xs, broadcast=broadcast)
    got = _run(_make(name, "triton", dtype, device, size, **kw), xs, broadcast=broadcast)
    _compare(ref, got, dtype, spiking=name in NEURONS)


@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("name", list(NEURONS))
def test_triton_parity_resets(name, reset, detach, tdevice):
    _parity(name, torch.float32, tdevice, reset=reset, detach_reset=detach)


@pytest.mark.parametrize("name", list(NEURONS))
def test_triton_parity_float64(name, tdevice):
    _parity(name, torch.float64, tdevice, reset="value")


@pytest.mark.parametrize("surrogate", SURROGATE_NAMES)
def test_triton_parity_surrogates(surrogate, tdevice):
    _parity("alif", torch.float32, tdevice, size=None, surrogate=surrogate)


@pytest.mark.parametrize("name", list(READOUTS))
def test_triton_li_readout_parity(name, tdevice):
    _parity(name, torch.float32, tdevice)


SHAPES = {
    "T1": lambda x: x[:1] * 4,  # one step: large enough inputs to spike
    "noncontig": lambda x: x.transpose(1, 2),  # [T, N, B] view with non-unit inner stride
    "nd": lambda x: x.reshape(x.shape[0], 2, -1, 3),  # [T, B, *] with two neuron dims
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_triton_parity_shapes(shape, tdevice):
    xs = SHAPES[shape](_inputs((T, 4, 9), torch.float32, tdevice))
    _parity("lif" if shape == "T1" else "cuba_lif", torch.float32, tdevice, xs=xs, size=None)


def test_triton_parity_channels_last(tdevice):
    """A conv output in channels-last layout runs in place and keeps its strides."""
    dense = _inputs((T, 2, 3, 4, 4), torch.float32, tdevice)  # [T, B, C, H, W]
    cl = dense.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (T, 2))
    assert not cl.is_contiguous() and torch.equal(cl, dense)
    ref = _run(_make("plif", "torch", torch.float32, tdevice, (3, 4, 4)), dense)
    got = _run(_make("plif", "triton", torch.float32, tdevice, (3, 4, 4)), cl)
    _compare(ref, got, torch.float32)
    assert got[0].stride() == cl.stride(), "output should keep the input's layout"


def test_triton_parity_broadcast_output_grad(tdevice):
    _parity("lif", torch.float32, tdevice, broadcast=True)


def test_triton_matches_cpp_kernel(tdevice):
    """Same spikes and final state as the C++ kernel (both are exact), when both run here."""
    if "cpp" not in available_backends():
        pytest.skip("no C++ compiler")
    xs = _inputs((T, B, N), torch.float32, tdevice)
    got = _make("alif", "triton", torch.float32, tdevice).run(xs)
    ref = _make("alif", "cpp", torch.float32, torch.device("cpu")).run(xs.cpu())
    assert torch.equal(got[0].cpu(), ref[0]) and torch.equal(got[1].v.cpu(), ref[1].v)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy, inside the interpreter
def test_triton_nonfinite_input_names_step_and_index(tdevice):
    xs = _inputs((T, B, N), torch.float32, tdevice)
    xs[3, 1, 5] = float("nan")
    xs[4, 0, 0] = float("inf")  # a later one is not the one reported
    for backend in ("torch", "triton"):
        with pytest.raises(NonFiniteError, match=r"time step 3, index \(1, 5\)") as info:
            LIF(backend=backend).to(tdevice).run(xs)
        assert "input" in str(info.value)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_triton_nonfinite_initial_state(tdevice):
    xs = _inputs((T, B, N), torch.float32, tdevice)
    m = LIF(backend="triton")
    state = m.init_state(xs[0])
    state = type(state)(v=state.v.clone())
    state.v[1, 3] = float("inf")
    with pytest.raises(NonFiniteError, match=r"initial state v.*\(1, 3\)"):
        m.run(xs, state)


def test_auto_never_picks_triton_on_cpu(monkeypatch):
    """CPU behaviour does not change with Triton installed: ``"auto"`` runs ``cpp`` or the reference."""
    def boom(*a, **k):
        raise AssertionError("auto dispatched a CPU tensor to Triton")
    monkeypatch.setattr("spikeforge.kernels.run_triton", boom)
    xs = _inputs((T, B, N), torch.float32, torch.device("cpu"))
    z, _ = LIF(backend="auto").run(xs)
    assert torch.equal(z, LIF(backend="torch").run(xs)[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_picks_triton_on_cuda(monkeypatch):
    calls = []
    real = triton_lif.run_triton
    monkeypatch.setattr("spikeforge.kernels.run_triton", lambda *a, **k: calls.append(1) or real(*a, **k))
    LIF(backend="auto").run(_inputs((T, B, N), torch.float32, torch.device("cuda")))
    assert calls, "auto did not use the Triton kernels on a CUDA tensor"


def test_named_triton_backend_explains_why_it_cannot_run(monkeypatch):
    xs = _inputs((T, B, N), torch.float32, torch.device("cpu"))
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        LIF(backend="triton").run(xs)
    monkeypatch.setattr(triton_lif.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackendUnavailableError, match="needs the triton package"):
        LIF(backend="triton").run(xs)
    assert "triton" not in available_backends()


def test_named_triton_backend_never_falls_back(tdevice):
    xs = _inputs((T, B, N), torch.float32, tdevice)
    with pytest.raises(BackendUnavailableError, match="surrogate Custom"):
        LIF(backend="triton", surrogate=Custom(grad_fn=torch.ones_like)).run(xs)
    with pytest.raises(BackendUnavailableError, match="float32/float64"):
        LIF(backend="triton", dtype=torch.float16).to(tdevice).run(xs.half())


def test_cpu_kernel_module_untouched():
    """The C++ backend still refuses CUDA tensors with its own reason (Triton is a separate backend)."""
    assert "CPU tensors" in (cpu.supports(spec_for(LIF.step_fn), torch.empty(1, 1, 1, device="meta"), None, {}) or "")
