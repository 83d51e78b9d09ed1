"""Contract tests over every registered sequence neuron (``SEQUENCE_NEURONS``: PSN, HD-LIF).

They hold what a fixed-T, non-causal neuron can hold: shape, binary spikes, dtype, gradients to the
input and every parameter, determinism and no leak between calls, pickling and ``state_dict``,
``nn.Sequential``, ``torch.compile``, the meta device, bad input (NaN/inf, another T, another width,
empty, integer) as clear errors, the NIR opt-out, and the operation count the profiler uses.

Items of the step-neuron contract (``test_neuron_contract.py``) that cannot hold are asserted as
refusals, not skipped: ``forward == loop of step()`` and ``run`` continued from a returned state
(the output at step t reads later inputs, so there is no step and no state), and "any T" (the
model is built for one T).
"""

from __future__ import annotations

import pickle

import pytest
import torch

from spikeforge.interop.nir._converters import NIR_UNSUPPORTED_MODULES
from spikeforge.metrics import profile
from spikeforge.neurons import SEQUENCE_NEURONS, build_sequence_neuron
from spikeforge.numerics import NonFiniteError

T, B, N = 6, 3, 5
NAMES = SEQUENCE_NEURONS.names()


def _make(name: str, steps: int = T, **kw):
    return build_sequence_neuron(name, t_steps=steps, features=N, **kw)


def _input(dtype=torch.float32, gen=None) -> torch.Tensor:
    return torch.rand(T, B, N, dtype=dtype, generator=gen) * 2.0 - 0.5


def test_registry_lists_the_step_models():
    assert {"psn", "hdlif"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_shape_and_binary_spikes(name, gen):
    out = _make(name)(_input(gen=gen))
    assert out.shape == (T, B, N)
    assert set(out.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name", NAMES)
def test_dtype_follows_input(name, gen):
    xs = _input(torch.float64, gen)
    assert _make(name, dtype=torch.float64)(xs).dtype == torch.float64
    assert _make(name)(xs).dtype == torch.float64  # float32 parameters, float64 input


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_input_and_every_parameter(name, gen):
    neuron = _make(name)
    xs = _input(gen=gen).requires_grad_()
    (neuron(xs) * torch.arange(1.0, T * B * N + 1).view(T, B, N)).sum().backward()
    assert xs.grad is not None and torch.isfinite(xs.grad).all() and xs.grad.abs().sum() > 0
    params = dict(neuron.named_parameters())
    assert params
    for pname, p in params.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}.{pname} has no finite grad"
        assert p.grad.abs().sum() > 0, f"{name}.{pname} gets a zero gradient"


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_and_no_leak_between_calls(name, gen):
    torch.manual_seed(7)
    a = _make(name)
    torch.manual_seed(7)
    b = _make(name)
    xs = _input(gen=gen)
    first = a(xs)
    a(xs * 3)
    torch.testing.assert_close(a(xs), first, rtol=0, atol=0)
    torch.testing.assert_close(b(xs), first, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_pickle_and_state_dict_roundtrip(name, gen):
    a, b = _make(name), _make(name)
    with torch.no_grad():
        for p in a.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.5)
    xs = _input(gen=gen)
    assert not torch.equal(a(xs), b(xs)), "the change must be visible"
    torch.testing.assert_close(pickle.loads(pickle.dumps(a))(xs), a(xs), rtol=0, atol=0)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b(xs), a(xs), rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_works_inside_sequential(name, gen):
    net = torch.nn.Sequential(torch.nn.Linear(4, N), _make(name), torch.nn.Linear(N, 2))
    assert net(torch.rand(T, B, 4, generator=gen)).shape == (T, B, 2)


@pytest.mark.parametrize("name", NAMES)
def test_torch_compile(name, gen):
    torch._dynamo.reset()
    neuron = _make(name)
    compiled = torch.compile(neuron, backend="aot_eager", fullgraph=False)
    x1 = _input(gen=gen).requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    torch.testing.assert_close(compiled(x1), neuron(x2))
    compiled(x1).sum().backward()
    neuron(x2).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)


@pytest.mark.parametrize("name", NAMES)
def test_meta_device(name):
    neuron = _make(name).to(torch.device("meta"))
    xs = torch.empty(T, B, N, device="meta", requires_grad=True)
    out = neuron(xs)
    assert out.device.type == "meta"
    out.sum().backward()
    assert xs.grad is not None and xs.grad.device.type == "meta"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_input_is_named(name, bad, gen):
    xs = _input(gen=gen)
    xs[2, 1, 3] = bad
    with pytest.raises(NonFiniteError, match=r"time step 2, index \(1, 3\)"):
        _make(name)(xs)


@pytest.mark.parametrize("name", NAMES)
def test_other_sequence_length_is_refused(name, gen):
    neuron = _make(name)
    with pytest.raises(ValueError, match=f"built for T = {T} steps, got a sequence of {T + 1}"):
        neuron(torch.rand(T + 1, B, N, generator=gen))
    with pytest.raises(ValueError, match="T = 0"):
        neuron(torch.rand(0, B, N))
    with pytest.raises(TypeError, match="floating-point"):
        neuron(torch.ones(T, B, N, dtype=torch.long))


@pytest.mark.parametrize("name", NAMES)
def test_step_and_state_continuation_are_refused(name, gen):
    neuron = _make(name)
    xs = _input(gen=gen)
    with pytest.raises(ValueError, match="cannot advance one step at a time"):
        neuron.step(xs[0])
    with pytest.raises(ValueError, match="cannot advance one step at a time"):
        neuron.init_state(xs[0])
    with pytest.raises(ValueError, match="has no state, so a run cannot be continued"):
        neuron.run(xs, (torch.zeros(B, N),))


@pytest.mark.parametrize("name", NAMES)
def test_building_without_t_is_refused(name):
    with pytest.raises(ValueError, match="number of time steps, which is not known here"):
        build_sequence_neuron(name, t_steps=None, features=N)


@pytest.mark.parametrize("name", NAMES)
def test_nir_opt_out_is_explicit(name):
    assert SEQUENCE_NEURONS.get(name) in NIR_UNSUPPORTED_MODULES


@pytest.mark.parametrize("name", NAMES)
def test_profiler_counts_the_class_op_count(name, gen):
    neuron = _make(name)
    xs = _input(gen=gen)
    expected = neuron.op_count(xs)
    assert expected > 0
    with profile(neuron) as prof:
        neuron(xs)
    assert prof.neuron_ops() == {"Effective": expected / B, "Dense": expected / B}
    assert prof.membrane_updates() == T * N
    assert prof.unpriced_neurons() == []
