"""Contract tests over every registered neuron (a new neuron is tested once registered)."""

from __future__ import annotations

import pickle

import pytest
import torch

from spikeforge.neurons import NEURONS

T, B, N = 12, 3, 5
NAMES = NEURONS.names()


def _make(name: str, **kw):
    return NEURONS.create(name, **kw)


def _input(name: str, dtype=torch.float32, gen=None) -> torch.Tensor:
    scale = 15.0 if name == "izhikevich" else 3.0
    return torch.rand(T, B, N, dtype=dtype, generator=gen) * scale


@pytest.mark.parametrize("name", NAMES)
def test_forward_equals_loop_of_step(name, gen):
    neuron = _make(name)
    xs = _input(name, gen=gen)
    zs = neuron(xs)
    assert zs.shape == xs.shape
    state, steps = None, []
    for x in xs:
        z, state = neuron.step(x, state)
        steps.append(z)
    torch.testing.assert_close(torch.stack(steps), zs, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_run_continuation_equals_one_long_run(name, gen):
    neuron = _make(name)
    xs = _input(name, gen=gen)
    zs_full, s_full = neuron.run(xs)
    zs_a, s = neuron.run(xs[:5])
    zs_b, s = neuron.run(xs[5:], s)
    torch.testing.assert_close(torch.cat([zs_a, zs_b]), zs_full, rtol=0, atol=0)
    for a, b in zip(s, s_full):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_input_and_learnable_params(name, gen):
    cls = NEURONS.get(name)
    learn = cls.params_cls._fields
    extra = {"reset": "value"} if "v_reset" in learn else {}  # so v_reset takes part
    neuron = _make(name, learn=learn, size=N, **extra)
    xs = _input(name, gen=gen).requires_grad_()
    out = neuron(xs)
    (out * torch.linspace(0.5, 1.5, N)).sum().backward()
    assert xs.grad is not None and torch.isfinite(xs.grad).all() and xs.grad.abs().sum() > 0
    params = dict(neuron.named_parameters())
    assert params, f"{name}: learn={learn} registered no parameters"
    for pname, p in params.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}.{pname} has no finite grad"
    assert any(p.grad.abs().sum() > 0 for p in params.values())


@pytest.mark.parametrize("name", NAMES)
def test_dtype_and_device_preserved(name, device, gen):
    neuron = _make(name).to(device=device, dtype=torch.float64)
    xs = _input(name, dtype=torch.float64, gen=gen).to(device)
    out = neuron(xs)
    assert out.dtype == torch.float64 and out.device.type == device.type
    # float32 parameters with a float64 input also give float64 (parameters follow the input)
    out32 = _make(name).to(device)(xs)
    assert out32.dtype == torch.float64


@pytest.mark.parametrize("name", NAMES)
def test_pickle_roundtrip(name, gen):
    neuron = _make(name)
    xs = _input(name, gen=gen)
    clone = pickle.loads(pickle.dumps(neuron))
    torch.testing.assert_close(clone(xs), neuron(xs), rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_roundtrip(name, gen):
    # `a` gets every parameter moved per neuron (x0.8..1.25, +0..0.05: valid for every model),
    # `b` stays at the defaults; loading a's state dict into b must make them behave identically.
    a = _make(name, size=N, learn=(NEURONS.get(name).params_cls._fields[0],))
    b = _make(name, size=N)
    with torch.no_grad():
        for t in a.state_dict().values():
            if t.is_floating_point():
                t.mul_(torch.rand(t.shape, generator=gen, dtype=t.dtype) * 0.45 + 0.8)
                t.add_(torch.rand(t.shape, generator=gen, dtype=t.dtype) * 0.05)
    a.validate()
    xs = _input(name, gen=gen)

    def outputs(n):  # outputs and final state, flattened
        with torch.no_grad():
            zs, state = n.run(xs)
        return [zs, *state]

    assert any(not torch.equal(u, w) for u, w in zip(outputs(a), outputs(b))), "the change must be visible"
    b.load_state_dict(a.state_dict())
    for u, w in zip(outputs(a), outputs(b)):
        torch.testing.assert_close(w, u, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_works_inside_sequential(name, gen):
    net = torch.nn.Sequential(torch.nn.Linear(N, 7), _make(name), torch.nn.Linear(7, 2))
    out = net(_input(name, gen=gen))
    assert out.shape == (T, B, 2)


@pytest.mark.parametrize("name", NAMES)
def test_no_state_leaks_between_calls(name, gen):
    neuron = _make(name)
    xs = _input(name, gen=gen)
    first = neuron(xs)
    neuron(xs * 2)
    torch.testing.assert_close(neuron(xs), first, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_torch_compile(name, gen):
    """torch.compile (dynamo + aot autograd) gives the eager result, forward and backward."""
    torch._dynamo.reset()  # independent of what earlier tests compiled
    neuron = _make(name)
    xs = _input(name, gen=gen)
    compiled = torch.compile(neuron, backend="aot_eager", fullgraph=False)
    x1 = xs.clone().requires_grad_()
    x2 = xs.clone().requires_grad_()
    torch.testing.assert_close(compiled(x1), neuron(x2))
    compiled(x1).sum().backward()
    neuron(x2).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
