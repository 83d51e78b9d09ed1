"""UltraDLIF (Miñoza, arXiv 2602.11206; reference §4.2 eq. 2-4): golden trajectories against a float64
recurrence written here with ``math`` (ring of neighbours over the last dim), the analytic no-surrogate
gradient, the density flag (check 17: outputs strictly in (0, 1)), the NIR opt-out and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.interop.nir._converters import NEURON_TO_NIR, NIR_UNSUPPORTED
from spikeforge.metrics import profile
from spikeforge.metrics.neuron_ops import ops_per_update
from spikeforge.neurons import NEURONS, UltraDLIF, UltraDLIFParams, UltraDLIFState, ultradlif_step


def _reference(xs: list[list[float]], eps: list[float], theta: float) -> tuple[list[list[float]], list[float]]:
    """Float64 recurrence of the paper's equations for one ring of H neurons (xs[t][i]):
    V'_i = ε_i log(e^{V_{i-1}/ε_i} + e^{V_i/ε_i} + e^{V_{i+1}/ε_i}) + I_i (indices mod H),
    s_i = 1/(1 + e^{-(V'_i - θ)/ε_i}), V_i = V'_i (1 - s_i); returns (spikes per step, final V)."""
    h = len(xs[0])
    eps = [min(max(e, 0.1), 20.0) for e in eps]
    v, out = [0.0] * h, []
    for x in xs:
        new, s_t = [], []
        for i in range(h):
            e = eps[i]
            terms = [v[(i - 1) % h] / e, v[i] / e, v[(i + 1) % h] / e]
            m = max(terms)
            v1 = e * (m + math.log(sum(math.exp(a - m) for a in terms))) + x[i]
            s = 1.0 / (1.0 + math.exp(-(v1 - theta) / e))
            s_t.append(s)
            new.append(v1 * (1.0 - s))
        v = new
        out.append(s_t)
    return out, v


@pytest.mark.parametrize(("eps", "theta"), [(1.0, 1.0), (0.1, 0.7), (3.0, 2.0), (40.0, 1.0), (0.02, 1.0)])
def test_golden_trajectory_against_float64_recurrence(eps, theta, gen):
    # the last two rows exercise the clamp: eps 40 -> 20, eps 0.02 -> 0.1
    T, B, H = 30, 2, 7
    xs = torch.rand(T, B, H, generator=gen, dtype=torch.float64) * 4 - 1.5  # [T, B, H], some negative
    neuron = UltraDLIF(eps=eps, v_th=theta, dtype=torch.float64, backend="torch")
    zs, state = neuron.run(xs)
    for b in range(B):
        ss, v = _reference(xs[:, b].tolist(), [eps] * H, theta)
        torch.testing.assert_close(zs[:, b], torch.tensor(ss, dtype=torch.float64), rtol=0, atol=1e-12)
        torch.testing.assert_close(state.v[b], torch.tensor(v, dtype=torch.float64), rtol=0, atol=1e-12)


def test_per_neuron_eps_and_the_ring_is_the_last_dim(gen):
    """Per-neuron ε_i (neuron i's own), a [B, C, H] input: each of the C rows is its own ring."""
    eps = [0.2, 1.0, 5.0, 0.5, 2.0]
    xs = torch.rand(25, 2, 3, 5, generator=gen, dtype=torch.float64) * 3 - 0.5  # [T, B, C, H]
    zs = UltraDLIF(eps=torch.tensor(eps, dtype=torch.float64), dtype=torch.float64)(xs)
    for b in range(2):
        for c in range(3):
            ss, _ = _reference(xs[:, b, c].tolist(), eps, 1.0)
            torch.testing.assert_close(zs[:, b, c], torch.tensor(ss, dtype=torch.float64), rtol=0, atol=1e-12)


def test_ring_of_one_and_coupling_order():
    """H = 1: the three terms are V itself, V' = V + ε ln 3 + I. H = 4: the units are coupled by index,
    so permuting the input's units (not a rotation or reflection of the ring) changes the outputs."""
    x = torch.tensor([[0.3], [-0.2], [0.9]], dtype=torch.float64).view(3, 1, 1)  # [T, B, H=1]
    zs, st = UltraDLIF(eps=0.5, dtype=torch.float64).run(x)
    v = 0.0
    for t, xt in enumerate([0.3, -0.2, 0.9]):
        v1 = v + 0.5 * math.log(3.0) + xt
        s = 1.0 / (1.0 + math.exp(-(v1 - 1.0) / 0.5))
        assert abs(float(zs[t, 0, 0]) - s) < 1e-14
        v = v1 * (1.0 - s)
    xs = torch.tensor([[[3.0, -2.0, 0.0, 1.0]]], dtype=torch.float64).expand(6, 1, 4)  # [T, B, H]
    n = UltraDLIF(eps=0.3, dtype=torch.float64)
    perm = torch.tensor([0, 2, 1, 3])
    assert not torch.allclose(n(xs[..., perm]), n(xs)[..., perm], rtol=0, atol=1e-6)


def test_spike_gradient_is_the_exact_derivative_no_surrogate():
    """From rest V' = ε ln 3 + I, so ∂s/∂I = s(1 − s)/ε with s = σ((V' − θ)/ε) (reference eq. 4)."""
    x = torch.linspace(-2, 3, 11, dtype=torch.float64).view(1, 1, 11).requires_grad_()  # [T=1, B=1, H]
    eps = 0.7
    s = UltraDLIF(eps=eps, dtype=torch.float64)(x)
    s.sum().backward()
    s_ref = 1.0 / (1.0 + torch.exp(-(x.detach() + eps * math.log(3.0) - 1.0) / eps))
    torch.testing.assert_close(s.detach(), s_ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(x.grad, s_ref * (1 - s_ref) / eps, rtol=0, atol=1e-14)


def test_gradient_through_time_matches_finite_differences(gen):
    neuron = UltraDLIF(eps=0.7, dtype=torch.float64)
    xs = (torch.rand(5, 2, 4, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    assert torch.autograd.gradcheck(neuron, (xs,), eps=1e-6, atol=1e-8)


def test_learnable_eps_gets_a_gradient_and_detach_reset_cuts_it(gen):
    xs = torch.rand(10, 2, 4, generator=gen) * 3
    neuron = UltraDLIF(learn=("eps",), size=4)
    neuron(xs).sum().backward()
    assert neuron.eps.grad is not None and neuron.eps.grad.abs().sum() > 0
    p = UltraDLIFParams(eps=torch.tensor(0.8), v_th=torch.tensor(1.0))
    x = torch.ones(2, 4, requires_grad=True)
    _, st = ultradlif_step(x, UltraDLIFState(torch.zeros(2, 4)), p, detach_reset=True)
    (g,) = torch.autograd.grad(st.v.sum(), x)
    s = torch.sigmoid((1 + 0.8 * math.log(3.0) - 1.0) / torch.tensor(0.8))
    torch.testing.assert_close(g, (1 - s).expand(2, 4), rtol=0, atol=1e-6)  # only V'·(1 − s) with s constant


def test_outputs_are_never_exactly_zero_and_profile_flags_the_layer(gen):
    """Check 17: outputs lie strictly in (0, 1) even for zero or very negative input, so a nonzero
    count sees a dense layer; the profiler lists the layer and its activation sparsity is 0."""
    xs = torch.rand(20, 3, 8, generator=gen, dtype=torch.float64) * 6 - 3
    xs[:, :, 0] = 0.0
    xs[:, :, 1] = -30.0
    model = torch.nn.Sequential(UltraDLIF(dtype=torch.float64), torch.nn.Linear(8, 2, dtype=torch.float64))
    with profile(model) as prof, torch.no_grad():
        zs = model[0](xs)
        model(xs)
    assert ((zs > 0) & (zs < 1)).all()
    assert prof.dense_output_layers() == ["0"]
    assert prof.layer_activation_sparsity()["0"] == 0.0
    assert prof.unpriced_neurons() == []
    assert ops_per_update(model[0]) == 16


def test_nir_opt_out_and_bad_input():
    assert "ultradlif" not in NEURON_TO_NIR and "ring" in NIR_UNSUPPORTED["ultradlif"]
    assert NEURONS.get("ultradlif") is UltraDLIF
    with pytest.raises(ValueError, match="own reset"):
        UltraDLIF(reset="zero")
    with pytest.raises(ValueError, match="no surrogate"):
        UltraDLIF(surrogate="sigmoid")
    with pytest.raises(ValueError, match="eps must be > 0"):
        UltraDLIF(eps=0.0)
    with pytest.raises(ValueError, match="no neuron dim"):
        UltraDLIF().step(torch.ones(4))
    with pytest.raises(ValueError, match="no neuron dim"):
        UltraDLIF()(torch.ones(3, 4))  # [T, B]: there is no ring to couple
