"""What the fused LIF path remembers between calls never goes stale (issue 17).

Two memos save torch ops on every call: the kernel coefficients of a layer whose parameters are
all fixed 0-d tensors, by the parameters' bits (``kernels/cpu.py::_coefficients``), and the
expanded resting state, by ``v_leak``'s value and the input's shape (``neurons/lif.py::_rest``).
Each test changes one thing between two calls of the same module — a parameter (in place, through
``.data``, replaced), the threshold, ``dt``, the dtype, the shape, the surrogate, the reset, the
backend, the thread count, ``requires_grad``, a hook, inference mode — and checks that the next call
follows it. The reference is a fresh module with the new configuration on the ``"torch"`` backend
(the loop of ``lif_step``), started from an explicit state; its spikes and final state are matched
bit for bit, its gradients to float tolerance. Each test fails when the memo's key leaves out what
the test changes (checked by hand: values, dt, inference mode, the version check).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from spikeforge.kernels import cpu
from spikeforge.kernels.specs import spec_for
from spikeforge.neurons import LIF, lif
from spikeforge.neurons._reset import get_reset
from spikeforge.neurons.lif import LIFDecayParams, LIFState, lif_step
from spikeforge.surrogate import FastSigmoid

BASE: dict[str, Any] = {"beta": 0.9, "gain": 1.0, "v_leak": 0.0, "v_th": 1.0, "reset": "zero",
                        "detach_reset": True, "surrogate": FastSigmoid(slope=25.0)}


@pytest.fixture(autouse=True)
def _empty_memos() -> None:
    """Each test starts with empty memos, so what it fills is its own (not an earlier test's entry)."""
    cpu._COEF_MEMO.clear()
    lif._RESTS.clear()


def _decay_lif(backend: str, learn: tuple[str, ...] = (), **cfg: Any) -> LIF:
    return LIF(integrator="decay", backend=backend, learn=learn, **cfg)


def _input(T: int = 12, B: int = 3, N: int = 17, dtype: torch.dtype = torch.float32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, N, generator=g, dtype=dtype) * 0.7  # [T, B, N]: some neurons spike, some not


def _check(layer: LIF, xs: torch.Tensor, ref: LIF) -> None:
    """``layer`` from rest equals ``ref`` (torch backend) from an explicit resting state: spikes and final
    state bitwise, gradients of the input and of every learnable parameter to float tolerance."""
    x1, x2 = xs.clone().requires_grad_(), xs.clone().requires_grad_()
    z1, s1 = layer.run(x1)
    v0 = torch.full(xs.shape[1:], float(ref.v_leak), dtype=xs.dtype)  # [B, N]
    z2, s2 = ref.run(x2, LIFState(v0))
    assert torch.equal(z1, z2)
    torch.testing.assert_close(s1.v, s2.v, rtol=0, atol=0)
    (z1.sum() + s1.v.sum()).backward()
    (z2.sum() + s2.v.sum()).backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    for name, p in layer.named_parameters():
        q = dict(ref.named_parameters())[name]
        torch.testing.assert_close(p.grad, q.grad)
        p.grad, q.grad = None, None


CHANGES: list[tuple[str, Callable[[LIF], Any], dict[str, Any]]] = [
    ("decay in place", lambda m: m.beta.fill_(0.7), {"beta": 0.7}),
    ("decay through .data (no version bump)", lambda m: m.beta.data.fill_(0.6), {"beta": 0.6}),
    ("gain in place", lambda m: m.gain.fill_(1.5), {"gain": 1.5}),
    ("threshold replaced", lambda m: setattr(m, "v_th", torch.tensor(0.45)), {"v_th": 0.45}),
    ("leak in place (resting state and c3)", lambda m: m.v_leak.fill_(0.2), {"v_leak": 0.2}),
    ("leak back to zero", lambda m: m.v_leak.zero_(), {"v_leak": 0.0}),
    ("surrogate", lambda m: setattr(m, "surrogate", FastSigmoid(slope=3.0)), {"surrogate": FastSigmoid(slope=3.0)}),
    ("reset", lambda m: setattr(m, "reset_fn", get_reset("subtract")), {"reset": "subtract"}),
    ("detach_reset", lambda m: setattr(m, "detach_reset", False), {"detach_reset": False}),
]


def test_every_change_takes_effect_on_the_next_call() -> None:
    layer, cfg, xs = _decay_lif("cpp", **BASE), dict(BASE), _input()
    _check(layer, xs, _decay_lif("torch", **cfg))  # fills the memos
    for what, change, new in CHANGES:
        with torch.no_grad():
            change(layer)
        cfg.update(new)
        try:
            _check(layer, xs, _decay_lif("torch", **cfg))
            _check(layer, xs, _decay_lif("torch", **cfg))  # and again, now from the memo
        except AssertionError as e:
            raise AssertionError(f"after changing {what}: {e}") from e


def test_dt_dtype_and_shape_changes_are_followed() -> None:
    layer = LIF(tau_mem=20e-3, dt=1e-3, v_leak=0.1, backend="cpp")  # Euler: coefficients from dt / tau_mem
    for dt, xs in ((1e-3, _input()), (2e-3, _input()), (2e-3, _input(dtype=torch.float64, seed=1)),
                   (2e-3, _input(5, 1, 4, seed=2)), (1e-3, _input(5, 1, 4, seed=3))):
        layer.dt = dt
        _check(layer, xs, LIF(tau_mem=20e-3, dt=dt, v_leak=0.1, backend="torch"))  # float32 parameters, as layer


def test_requires_grad_switched_on_between_calls() -> None:
    cfg = {**BASE, "v_leak": 0.1}  # c3 = (1 - beta) v_leak depends on beta: a stale one has no gradient path
    layer, ref, xs = _decay_lif("cpp", ("beta",), **cfg), _decay_lif("torch", ("beta",), **cfg), _input()
    layer.beta.requires_grad_(False)
    ref.beta.requires_grad_(False)
    _check(layer, xs, ref)  # all parameters fixed: the coefficients are memoised
    layer.beta.requires_grad_(True)
    ref.beta.requires_grad_(True)
    _check(layer, xs, ref)
    assert layer.beta.grad is None  # _check compared, then cleared it


@pytest.fixture
def kernel_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The ``_Config`` of every fused LIF kernel call."""
    calls: list[Any] = []
    real = cpu._FusedRun.apply
    monkeypatch.setattr(cpu._FusedRun, "apply", lambda cfg, *a: calls.append(cfg) or real(cfg, *a))
    yield calls


def test_backend_and_thread_count_are_read_on_every_call(kernel_calls: list[Any], monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    layer, xs = _decay_lif("cpp", **BASE), _input()
    ref = _decay_lif("torch", **BASE)
    _check(layer, xs, ref)
    assert len(kernel_calls) == 1
    layer.backend = "torch"
    _check(layer, xs, ref)
    assert len(kernel_calls) == 1  # the reference loop ran
    layer.backend = "cpp"
    monkeypatch.setenv("SPIKEFORGE_BACKEND", "torch")
    _check(layer, xs, ref)
    assert len(kernel_calls) == 1
    monkeypatch.delenv("SPIKEFORGE_BACKEND")
    monkeypatch.setattr(cpu, "PARALLEL_GRAIN", 1)  # this small call may use every thread
    monkeypatch.setattr(cpu, "CONTENDED_FACTOR", 1)
    old = torch.get_num_threads()
    try:
        for n in (1, 3, 2):
            torch.set_num_threads(n)
            _check(layer, xs, ref)
            assert kernel_calls[-1].nthreads == n
    finally:
        torch.set_num_threads(old)


def test_hooks_take_effect_on_the_next_call() -> None:
    layer, xs = _decay_lif("cpp", **BASE), _input()
    plain = layer(xs)
    h = layer.register_forward_pre_hook(lambda m, args: (args[0] * 2,))
    assert torch.equal(layer(xs), _decay_lif("torch", **BASE)(xs * 2))
    h.remove()
    h = layer.register_forward_hook(lambda m, args, out: out * 3)
    assert torch.equal(layer(xs), plain * 3)
    h.remove()
    assert torch.equal(layer(xs), plain)


def test_inference_mode_call_then_training_call() -> None:
    layer, xs = _decay_lif("cpp", **{**BASE, "v_leak": 0.1}), _input()
    with torch.inference_mode():  # memoised tensors made here are inference tensors
        layer(xs)
    _check(layer, xs, _decay_lif("torch", **{**BASE, "v_leak": 0.1}))  # autograd saves the coefficients and state


def test_memoised_resting_state_stays_inside_run() -> None:
    """``init_state`` gives every caller its own tensor; the memoised one (``run`` from rest) is not
    handed out again once written in place (possible with one neuron: it has one element)."""
    layer = _decay_lif("cpp", **{**BASE, "v_leak": 0.25})
    x = torch.zeros(1, 1)  # [B=1, N=1]
    assert layer.init_state(x).v is not layer.init_state(x).v
    v = layer._start_state(x).v
    assert layer._start_state(x).v is v  # memoised
    v.add_(1.0)
    assert float(layer._start_state(x).v) == 0.25
    _check(layer, _input(6, 1, 1), _decay_lif("torch", **{**BASE, "v_leak": 0.25}))


def test_coefficient_memo_keys_on_bits() -> None:
    """Signed zeros give differently signed coefficients; the memo hands out each its own (exactly as
    computing them: compared against the spec's own expressions)."""
    spec = spec_for(lif_step)
    assert spec is not None
    xs = _input(2, 1, 3)
    for leak in (0.0, -0.0, 0.0, 0.3, -0.0):
        p = LIFDecayParams(*(torch.tensor(v) for v in (0.9, 1.0, leak, 1.0, 0.0)))
        names, got = cpu._coefficients(spec, p, 1e-3, "decay", xs)
        want = spec.coefs(p, 1e-3, "decay")
        for n, c in zip(names, got):
            w = torch.as_tensor(want[n], dtype=xs.dtype)
            assert torch.equal(c, w) and torch.equal(torch.signbit(c), torch.signbit(w)), (leak, n)
        assert got[names.index("c1")] is p.beta  # a parameter goes in as itself (autograd saves it)


def test_double_backward_is_still_refused() -> None:
    """The backward skips torch's ``once_differentiable`` wrapper only with grad mode off; under
    ``create_graph=True`` with an output gradient that requires grad a second differentiation still
    raises (as before) instead of silently returning a gradient with no graph."""
    layer, x = _decay_lif("cpp", **BASE), _input().requires_grad_()
    z = layer(x)
    (g,) = torch.autograd.grad(z, x, torch.ones_like(z).requires_grad_(), create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g.sum().backward()
