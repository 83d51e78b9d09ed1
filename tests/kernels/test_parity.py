"""Fused ``cpp`` backend vs the torch reference (the loop of the pure step function).

Forward outputs and final state must be bit-identical in float32 (and float64); gradients of the
input, the initial state and every learnable parameter must agree to float tolerance.
"""

from __future__ import annotations

import pytest
import torch

from _fused import NEURONS, READOUTS, assert_parity, parity_inputs  # fused neurons from the registry

from spikeforge.kernels import BackendUnavailableError, available_backends
from spikeforge.kernels.cpu import threads_for
from spikeforge.neurons import LIF
from spikeforge.surrogate import SURROGATES, Custom

pytestmark = pytest.mark.skipif("cpp" not in available_backends(), reason="no C++ compiler")
RESETS = ("subtract", "value", "zero", "none")
SURROGATE_NAMES = [n for n in SURROGATES.names() if n != "custom"]


def _make(name: str, backend: str, dtype: torch.dtype, size: int | tuple[int, ...] | None, **kw):
    cls = NEURONS[name]
    fields = cls.params_cls._fields  # every parameter learnable: each coefficient's gradient is checked
    extra = {k: v for k, v in {"tau_mem": 5e-3, "v_reset": -0.2, "tau_adapt": 30e-3}.items() if k in fields}
    torch.manual_seed(7)  # same parameters for both backends
    m = cls(backend=backend, learn=fields, size=size, dtype=dtype, **extra, **kw)
    if size is not None:  # heterogeneous per-neuron parameters
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.05 * torch.rand_like(p) * p.abs().clamp_min(0.1))
    return m


def _run(m, xs: torch.Tensor, v0_grad: bool = False):
    xs = xs.detach().clone().requires_grad_()
    state = None
    if v0_grad:
        state = m.init_state(xs[0])
        state = type(state)(*(s.detach().clone().add_(0.1).requires_grad_() for s in state))
    zs, final = m.run(xs, state)
    w = torch.linspace(-1, 2, zs.numel(), dtype=zs.dtype).reshape(zs.shape)  # generic output gradient
    loss = (zs * w).sum() + sum((s * s).sum() for s in final)
    params = [p for _, p in sorted(m.named_parameters())]
    inputs = [xs, *params] + (list(state) if state is not None else [])
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return zs, final, grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("name", list(NEURONS))
def test_parity_resets(name, reset, detach, dtype, gen):
    xs = parity_inputs((12, 3, 21), dtype, gen)
    kw = dict(reset=reset, detach_reset=detach)
    ref = _run(_make(name, "torch", dtype, 21, **kw), xs)
    got = _run(_make(name, "cpp", dtype, 21, **kw), xs)
    assert_parity(ref, got, dtype)


@pytest.mark.parametrize("surrogate", SURROGATE_NAMES)
@pytest.mark.parametrize("name", list(NEURONS))
def test_parity_surrogates(name, surrogate, gen):
    xs = parity_inputs((9, 4, 13), torch.float32, gen)
    ref = _run(_make(name, "torch", torch.float32, None, surrogate=surrogate), xs)
    got = _run(_make(name, "cpp", torch.float32, None, surrogate=surrogate), xs)
    assert_parity(ref, got, torch.float32)


SHAPES = {
    "T1": lambda x: x[:1],
    "noncontig": lambda x: x.transpose(1, 2),  # [T, N, B] view with non-unit inner stride
    "nd": lambda x: x.reshape(x.shape[0], 2, -1, 3),  # [T, B, *] with two neuron dims
    "long": lambda x: torch.cat([x] * 40),  # T = 240: several cache blocks in backward
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("name", list(NEURONS))
def test_parity_shapes(name, shape, gen):
    xs = SHAPES[shape](parity_inputs((6, 4, 9), torch.float32, gen))
    ref = _run(_make(name, "torch", torch.float32, None), xs, v0_grad=True)
    got = _run(_make(name, "cpp", torch.float32, None), xs, v0_grad=True)
    assert_parity(ref, got, torch.float32)


def test_parity_large_blocks(gen):
    """More neurons than one kernel block, several threads, per-neuron learnable tau (PLIF)."""
    xs = parity_inputs((30, 8, 300), torch.float32, gen)
    ref = _run(_make("plif", "torch", torch.float32, 300), xs)
    got = _run(_make("plif", "cpp", torch.float32, 300), xs)
    assert_parity(ref, got, torch.float32)


@pytest.mark.parametrize("name", list(READOUTS))
def test_li_readout_parity(name, gen):
    xs = parity_inputs((15, 3, 5), torch.float32, gen)
    cls = READOUTS[name]
    outs = []
    for backend in ("torch", "cpp"):
        m = cls(backend=backend, learn=cls.params_cls._fields, size=5)
        x = xs.clone().requires_grad_()
        v, _ = m.run(x)
        (v * v).sum().backward()
        outs.append((v, x.grad, *(p.grad for _, p in sorted(m.named_parameters()))))
    assert torch.equal(outs[0][0], outs[1][0])
    for a, b in zip(outs[0][1:], outs[1][1:]):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_state_continuation_matches_one_run(gen):
    xs = parity_inputs((10, 2, 7), torch.float32, gen)
    m = LIF(backend="cpp")
    z_all, s_all = m.run(xs)
    z1, s1 = m.run(xs[:4])
    z2, s2 = m.run(xs[4:], s1)
    assert torch.equal(torch.cat([z1, z2]), z_all) and torch.equal(s2.v, s_all.v)


def test_named_backend_never_falls_back():
    with pytest.raises(BackendUnavailableError, match="surrogate Custom"):
        LIF(backend="cpp", surrogate=Custom(grad_fn=torch.ones_like)).run(torch.ones(3, 2, 4))
    with pytest.raises(ValueError, match="unknown backend"):
        LIF(backend="cuda-magic").run(torch.ones(3, 2, 4))


def test_auto_uses_reference_when_no_kernel_applies(gen):
    xs = parity_inputs((5, 2, 4), torch.float32, gen)
    sg = Custom(grad_fn=torch.ones_like)
    z_auto, _ = LIF(backend="auto", surrogate=sg).run(xs)
    z_ref, _ = LIF(backend="torch", surrogate=sg).run(xs)
    assert torch.equal(z_auto, z_ref)


def test_no_grad_inference(gen):
    xs = parity_inputs((5, 2, 4), torch.float32, gen)
    with torch.inference_mode():
        z, _ = LIF(backend="cpp").run(xs)
    assert torch.equal(z, LIF(backend="torch").run(xs)[0])


def test_mixed_state_dtype_is_not_fused(gen):
    xs = parity_inputs((4, 2, 3), torch.float32, gen)
    state = LIF().init_state(xs[0]).__class__(v=torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(BackendUnavailableError, match="dtype"):
        LIF(backend="cpp").run(xs, state)


@pytest.mark.parametrize("name", list(NEURONS))
def test_parity_channels_last(name, gen):
    """A conv output in channels-last layout runs in place: same values, the input's strides kept,
    per-neuron parameters and a contiguous initial state permuted to match."""
    dense = parity_inputs((6, 4, 3, 5, 5), torch.float32, gen)  # [T, B, C, H, W]
    cl = dense.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (6, 4))
    assert not cl.is_contiguous() and torch.equal(cl, dense)
    ref = _run(_make(name, "torch", torch.float32, (3, 5, 5)), dense, v0_grad=True)
    got = _run(_make(name, "cpp", torch.float32, (3, 5, 5)), cl, v0_grad=True)
    assert_parity(ref, got, torch.float32)
    zs, _ = _make(name, "cpp", torch.float32, (3, 5, 5)).run(cl)
    assert zs.stride() == cl.stride(), "output should keep the input's layout"


def test_registry_list_is_complete():
    """The derived lists hold the models the kernels were written for (catches a broken derivation)."""
    assert {"lif", "plif", "cuba_lif", "alif"} <= set(NEURONS) and "li" in READOUTS
    assert "izhikevich" not in NEURONS  # no spec: runs the reference


# Parameters whose kernel coefficients are exact in binary with dt = 2**-10 (dt / tau is a power of
# two, sigmoid(logit(1/2)) = 1/2 for PLIF), so membranes on a binary input grid land exactly on
# the threshold. A new fused neuron with other parameters must add its exact values here.
TIE_DT = 2.0 ** -10
TIE_PARAMS = {"tau_mem": 2 * TIE_DT, "tau_syn": 2 * TIE_DT, "tau_adapt": 4 * TIE_DT, "adapt": 0.5, "r": 1.0,
              "w_in": 1.0, "v_leak": 0.0, "v_th": 1.0, "v_reset": 0.0}
TIE_OVERRIDES = {"if": {"r": 1 / TIE_DT}}  # IF's drive is dt * r * x: r = 1 / dt puts v on the input grid


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("name", list(NEURONS))
def test_parity_exact_threshold_ties(name, reset, dtype, gen):
    """``v == v_th`` does not spike (strict ``H(v - v_th)``) on either backend."""
    cls = NEURONS[name]
    params = {k: v for k, v in {**TIE_PARAMS, **TIE_OVERRIDES.get(name, {})}.items() if k in cls.params_cls._fields}
    xs = (torch.randint(0, 5, (40, 3, 16), generator=gen) * 0.5).to(dtype)  # {0, 0.5, ..., 2}

    # Euler: its coefficients are exact at these parameters (an exp integrator's e^{-dt/tau} is not)
    euler = {"integrator": "euler"} if "euler" in cls.integrators else {}

    def make(backend: str, **override):
        return cls(backend=backend, dt=TIE_DT, reset=reset, dtype=dtype, learn=cls.params_cls._fields,
                   **euler, **{**params, **override})

    # ties happen: a threshold one ulp lower (spike iff v >= v_th) changes the reference's spikes
    below = torch.nextafter(torch.tensor(1.0, dtype=dtype), torch.tensor(0.0, dtype=dtype)).item()
    z_ref = make("torch").run(xs)[0]
    assert not torch.equal(z_ref, make("torch", v_th=below).run(xs)[0]), "no exact threshold tie in the input"
    assert_parity(_run(make("torch"), xs), _run(make("cpp"), xs), dtype)


@pytest.mark.parametrize("name", list(NEURONS) + list(READOUTS))
def test_parity_multithreaded(name, gen, many_threads):
    """Several blocks of neurons on several threads (forward and backward), per-neuron parameters."""
    xs = parity_inputs((20, 4, 700), torch.float32, gen)  # M = 2800 neurons: 6 blocks of 512
    assert threads_for(xs.numel()) == many_threads
    cls = NEURONS.get(name) or READOUTS[name]
    if name in READOUTS:
        def make(backend):
            torch.manual_seed(7)
            m = cls(backend=backend, learn=cls.params_cls._fields, size=700)
            with torch.no_grad():
                for p in m.parameters():
                    p.add_(0.05 * torch.rand_like(p))
            return m
        ref, got = _run(make("torch"), xs, v0_grad=True), _run(make("cpp"), xs, v0_grad=True)
    else:
        ref = _run(_make(name, "torch", torch.float32, 700), xs, v0_grad=True)
        got = _run(_make(name, "cpp", torch.float32, 700), xs, v0_grad=True)
    assert_parity(ref, got, torch.float32)
