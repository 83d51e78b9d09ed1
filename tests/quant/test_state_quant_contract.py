"""State quantization (SQUAT) over every registered neuron: each spiking model with a membrane in
threshold units takes a ``StateQuant`` and its membrane then lies on the level set; the others
refuse with an error naming the reason; the quantizer survives ``state_dict`` save/load."""

from __future__ import annotations

import io

import pytest
import torch

from spikeforge.neurons import NEURONS
from spikeforge.quant import StateQuant, quantize_state

T, B, N = 16, 3, 5
NAMES = NEURONS.names()
ACCEPTING = [n for n in NAMES if NEURONS.get(n).state_quant_refusal() is None]
REFUSING = [n for n in NAMES if n not in ACCEPTING]


def _kwargs(name: str) -> dict:
    kw: dict = {"learn": (), "backend": "torch", "dtype": torch.float64}
    if NEURONS.get(name).accepts_state_quant():
        kw["reset"] = "none"  # in-step models round before the reset: without one the state is the rounded value
    return kw


def _v_th(neuron) -> float:
    return float(neuron.v_th) if "v_th" in neuron._stored_cls()._fields else 1.0


def _input(gen: torch.Generator, v_th: float) -> torch.Tensor:
    return (torch.rand(T, B, N, generator=gen, dtype=torch.float64) * 1.6 - 0.3) * v_th  # [T, B, N]


def test_the_split_is_as_documented() -> None:
    assert {"hh", "izhikevich", "li", "cuba_li", "i"} <= set(REFUSING)
    assert {"lif", "if", "alif", "cuba_lif", "burst_if", "signed_if", "tc_lif", "glif", "clif"} <= set(ACCEPTING)


@pytest.mark.parametrize("scheme", ["uniform", "threshold_centred"])
@pytest.mark.parametrize("name", ACCEPTING)
def test_quantized_membrane_lies_on_the_levels(name, scheme, gen) -> None:
    kw = _kwargs(name)
    float_neuron = NEURONS.create(name, **kw)
    v_th = _v_th(float_neuron)
    sq = getattr(StateQuant, scheme)(3, v_th=v_th)
    neuron = NEURONS.create(name, state_quant=sq, **kw)
    levels = sq.levels_tensor(torch.float64)
    field = neuron.state_quant_field
    xs = _input(gen, v_th).requires_grad_()
    state, zs = None, []
    for x in xs:  # x: [B, N]
        z, state = neuron.step(x, state)
        zs.append(z)
        v = getattr(state, field).detach()
        off = ~torch.isin(v, levels)
        assert not off.any(), f"{name}: membrane {v[off][:3].tolist()} not on the {scheme} levels"
    zs_run, state_run = neuron.run(xs)
    torch.testing.assert_close(torch.stack(zs), zs_run, rtol=0, atol=0)  # step loop == run
    float_state = float_neuron.run(xs)[1]
    assert not torch.equal(getattr(float_state, field), getattr(state_run, field))  # quantization did something
    zs_run.sum().backward()  # straight-through: the gradient still reaches the input
    assert xs.grad is not None and torch.isfinite(xs.grad).all() and xs.grad.abs().sum() > 0


@pytest.mark.parametrize("name", REFUSING)
def test_refusal_names_the_model_and_the_reason(name) -> None:
    cls = NEURONS.get(name)
    with pytest.raises(ValueError, match=f"{cls.__name__} does not take a state quantizer: .+"):
        NEURONS.create(name, state_quant=StateQuant.uniform(3))


@pytest.mark.parametrize("name", ACCEPTING)
def test_state_dict_round_trip_keeps_the_quantizer(name, gen) -> None:
    kw = _kwargs(name)
    v_th = _v_th(NEURONS.create(name, **kw))
    sq = StateQuant.threshold_centred(4, v_th=v_th, upper=0.5)
    neuron = NEURONS.create(name, state_quant=sq, **kw)
    buf = io.BytesIO()
    torch.save(neuron.state_dict(), buf)
    buf.seek(0)
    sd = torch.load(buf, weights_only=True)  # safe loading: plain tensors only
    assert torch.equal(sd["state_quant_levels"], sq.levels_tensor(torch.float64))
    fresh = NEURONS.create(name, **kw)  # a float neuron of the same model
    fresh.load_state_dict(sd)
    assert fresh.state_quant is not None and fresh.state_quant.levels == sq.levels
    assert fresh.state_quant.v_th == v_th
    xs = _input(gen, v_th)
    torch.testing.assert_close(fresh(xs), neuron(xs), rtol=0, atol=0)
    assert "state_quant_levels" not in NEURONS.create(name, **kw).state_dict()  # float: no extra keys


def test_nested_round_trip_and_threshold_mismatch() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), NEURONS.create("alif"), torch.nn.Linear(4, 2),
                              NEURONS.create("li"))
    q = quantize_state(net, StateQuant.uniform(4))
    assert q[1].state_quant is not None and q[3].state_quant is None  # the readout stays float
    sd = q.state_dict()
    assert "1.state_quant_levels" in sd and "3.state_quant_levels" not in sd
    net.load_state_dict(sd)  # strict: the extra keys are consumed, not reported unexpected
    assert net[1].state_quant.levels == StateQuant.uniform(4).levels
    other = torch.nn.Sequential(torch.nn.Linear(4, 4), NEURONS.create("alif", v_th=2.0), torch.nn.Linear(4, 2),
                                NEURONS.create("li"))
    sd = {k: v for k, v in sd.items() if k != "1.v_th"}
    with pytest.raises(RuntimeError, match="state_quant_levels: .*built for v_th=1"):
        other.load_state_dict(sd, strict=False)


def test_quantize_state_refuses_a_biophysical_neuron() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), NEURONS.create("hh"))
    with pytest.raises(ValueError, match="neuron '1': HH does not take a state quantizer"):
        quantize_state(net, StateQuant.uniform(4))
