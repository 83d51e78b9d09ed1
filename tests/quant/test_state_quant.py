"""SQUAT membrane quantization: the reference's levels (check 13), placement inside the neuron
step, snnTorch's ``state_quant`` as a peer, and the errors for unsupported uses."""

from __future__ import annotations

import math

import pytest
import torch

import spikeforge as sf
from spikeforge.kernels import BackendUnavailableError
from spikeforge.quant import StateQuant, quantize_state, quantize_to_levels, threshold_centred_levels, uniform_levels

# reference §3.2 item 6 (5 decimals), theta=1, lower=0, upper=0.2
B4 = [-1, 0.00006, 0.50009, 0.75011, 0.87511, 0.93762, 0.96887, 0.98450, 0.99231, 0.99622, 0.99817, 0.99915,
      0.99963, 1, 1.06667, 1.2]


def test_reference_levels_b2_b4() -> None:
    assert threshold_centred_levels(2) == pytest.approx([-1, 0.8018, 1, 1.2], abs=5e-5)
    assert threshold_centred_levels(4) == pytest.approx(B4, abs=5e-6)


@pytest.mark.parametrize("bits", range(2, 9))
@pytest.mark.parametrize("v_th, lower, upper", [(1.0, 0.0, 0.2), (2.5, 0.3, 0.5), (0.7, 0.0, 0.0)])
def test_level_invariants(bits, v_th, lower, upper) -> None:
    for lv in (threshold_centred_levels(bits, v_th, lower, upper), uniform_levels(bits, v_th, lower, upper)):
        assert len(lv) == 2**bits
        assert all(b > a for a, b in zip(lv, lv[1:]))
        assert lv[0] == pytest.approx(-v_th * (1 + lower), abs=1e-9)
        assert lv[-1] == pytest.approx(v_th * (1 + upper), abs=1e-9)
    assert v_th in threshold_centred_levels(bits, v_th, lower, upper)  # θ is a level (exactly)


def test_threshold_centred_steps_shrink_toward_theta() -> None:
    lv = threshold_centred_levels(4)
    gaps = [b - a for a, b in zip(lv, lv[1:])]
    below = gaps[:13]  # 13 gaps up to θ (index 13)
    assert all(g2 / g1 == pytest.approx(0.5, rel=1e-9) for g1, g2 in zip(below, below[1:-1]))
    assert gaps[14] / gaps[13] == pytest.approx(2.0)  # above θ: steps grow by 1/m


def test_nearest_level_and_identity_backward(gen) -> None:
    levels = torch.tensor(threshold_centred_levels(3, 1.5, 0.1, 0.3), dtype=torch.float64)
    v = (torch.rand(2000, generator=gen, dtype=torch.float64) * 5 - 2.5).requires_grad_()
    q = quantize_to_levels(v, levels)
    brute = levels[(v.detach()[:, None] - levels[None, :]).abs().argmin(dim=1)]  # argmin over all levels
    assert torch.equal(q.detach(), brute)
    g = torch.randn(2000, generator=gen, dtype=torch.float64)
    (q * g).sum().backward()
    assert torch.equal(v.grad, g)


def _hand_lif(xs: torch.Tensor, beta: float, q) -> tuple[torch.Tensor, torch.Tensor]:
    v, zs, vs = torch.zeros_like(xs[0]), [], []
    for x in xs:
        v = q(beta * v + x)  # update, then quantize, then spike test, then reset
        z = (v > 1.0).to(v.dtype)
        v = v - z
        zs.append(z)
        vs.append(v)
    return torch.stack(zs), torch.stack(vs)


def test_lif_quantizes_before_the_spike_test(gen) -> None:
    sq = StateQuant.threshold_centred(3)
    xs = torch.rand(30, 4, 6, generator=gen, dtype=torch.float64) * 0.8
    lif = sf.LIF.from_decay(0.8, state_quant=sq, backend="torch", dtype=torch.float64)
    zs, state = lif.run(xs)
    hz, hv = _hand_lif(xs, 0.8, sq)
    assert torch.equal(zs, hz) and torch.equal(state.v, hv[-1])
    zs_float = sf.LIF.from_decay(0.8, backend="torch", dtype=torch.float64)(xs)
    assert not torch.equal(zs, zs_float)  # 3-bit state changes the spikes
    assert lif.run(xs, None)[0].requires_grad is False
    # the same neuron, step by step
    s, steps = None, []
    for x in xs:
        z, s = lif.step(x, s)
        steps.append(z)
    assert torch.equal(torch.stack(steps), zs)


def test_if_neuron_takes_state_quant(gen) -> None:
    sq = StateQuant.uniform(2)  # levels linspace(-1, 1.2, 4)
    neuron = sf.IF(state_quant=sq, backend="torch")
    xs = torch.rand(10, 3, generator=gen)
    v = torch.zeros(3)
    for x in xs:  # hand loop
        v = sq(v + x)
        v = v - (v > 1).float()
    assert torch.allclose(neuron.run(xs)[1].v, v)


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="v_th=1"):
        sf.LIF(v_th=2.0, state_quant=StateQuant.uniform(4, v_th=1.0))
    with pytest.raises(ValueError, match="learnable v_th"):
        sf.LIF(learn=("v_th",), state_quant=StateQuant.uniform(4))
    with pytest.raises(ValueError, match="HH does not take a state quantizer: its membrane is a biophysical"):
        sf.neurons.HH(state_quant=StateQuant.uniform(4))
    with pytest.raises(ValueError, match="LI does not take a state quantizer: it is a non-spiking readout"):
        sf.LI(state_quant=StateQuant.uniform(4))
    with pytest.raises(ValueError, match="strictly increasing"):
        StateQuant((0.0, 0.0))
    with pytest.raises(ValueError, match="multiplier"):
        threshold_centred_levels(4, multiplier=1.5)
    lif = sf.LIF(state_quant=lambda v: StateQuant.uniform(4)(v), backend="cpp")  # no level table: no kernel
    with pytest.raises(BackendUnavailableError, match="state quantization"):
        lif(torch.rand(3, 2, 4))
    with pytest.raises(ValueError, match="no spiking neuron"):
        quantize_state(torch.nn.Sequential(torch.nn.Linear(2, 2)), StateQuant.uniform(4))


def test_auto_backend_runs_the_quantized_reference(gen) -> None:
    sq = StateQuant.uniform(3)
    xs = torch.rand(12, 2, 8, generator=gen)
    auto = sf.LIF.from_decay(0.9, state_quant=sq)(xs)
    ref = sf.LIF.from_decay(0.9, state_quant=sq, backend="torch")(xs)
    assert torch.equal(auto, ref)


def test_quantize_state_sets_every_lif() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), sf.LIF(), torch.nn.Linear(4, 2), sf.LIF())
    q = quantize_state(net, StateQuant.uniform(4))
    assert [m.state_quant is not None for m in q if isinstance(m, sf.LIF)] == [True, True]
    assert all(m.state_quant is None for m in net if isinstance(m, sf.LIF))  # a copy by default
    assert StateQuant.uniform(4).bits == 4 and math.isclose(StateQuant((0.0, 1.0, 2.0)).bits, math.log2(3))


# --- snnTorch peer (test-only extra) ---------------------------------------------------------


def _snntorch_levels(bits: int, **kw) -> torch.Tensor:
    quant = pytest.importorskip("snntorch.functional.quant")
    q = quant.state_quant(num_bits=bits, **kw)
    cells = [c.cell_contents for c in (q.__closure__ or ()) if isinstance(c.cell_contents, torch.Tensor)]
    if len(cells) == 1:  # the level table the returned closure rounds to
        return torch.sort(cells[0]).values
    return torch.unique(q(torch.linspace(-3, 3, 400001)))  # else: probe it (levels < 1.5e-5 apart merge)


@pytest.mark.peers
@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 8])
def test_levels_equal_snntorch(bits) -> None:
    """Uniform levels equal snnTorch's; threshold-centred equal snnTorch 1.0.0's with
    ``theta_level=False`` (snnTorch 1.0.0 keeps θ - m^(n_lo-1)/ρ_lo where the reference has θ)."""
    got = _snntorch_levels(bits, uniform=True, threshold=1.5, upper_limit=0.3)
    torch.testing.assert_close(got.double(), torch.tensor(uniform_levels(bits, 1.5, 0.0, 0.3), dtype=torch.float64),
                               rtol=0, atol=1e-6)
    got = _snntorch_levels(bits, uniform=False, thr_centered=True)
    ours = torch.tensor(threshold_centred_levels(bits, theta_level=False), dtype=torch.float64)
    torch.testing.assert_close(got.double(), ours, rtol=0, atol=1e-6)
    ref = torch.tensor(threshold_centred_levels(bits), dtype=torch.float64)
    assert (ref != ours).sum() == 1  # the one definitional difference


@pytest.mark.peers
def test_quantized_lif_equals_snntorch_leaky(gen) -> None:
    snn = pytest.importorskip("snntorch")
    from snntorch.functional import quant

    bits, beta = 4, 0.85
    xs = torch.rand(40, 3, 7, generator=gen) * 0.6
    peer = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism="zero", reset_delay=False,
                     state_quant=quant.state_quant(num_bits=bits, uniform=True))
    mem, spk_p, mem_p = peer.init_leaky(), [], []
    for x in xs:
        s, mem = peer(x, mem)
        spk_p.append(s)
        mem_p.append(mem)
    lif = sf.LIF.from_decay(beta, reset="zero", state_quant=StateQuant.uniform(bits), backend="torch")
    s, zs, vs = None, [], []
    for x in xs:
        z, s = lif.step(x, s)
        zs.append(z)
        vs.append(s.v)
    assert torch.equal(torch.stack(zs), torch.stack(spk_p))
    torch.testing.assert_close(torch.stack(vs), torch.stack(mem_p), rtol=0, atol=1e-6)
    assert torch.stack(zs).sum() > 0
