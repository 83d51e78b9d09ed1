"""UltraLIF (Miñoza, arXiv 2602.11206; reference §4.2): golden trajectory against a float64 recurrence
written here with ``math``, the LSE bounds and derivative (reference check 16), the clamps, the
no-surrogate gradient, and the density flag (check 17: outputs strictly in (0, 1))."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.metrics import profile
from spikeforge.neurons import NEURONS, UltraLIF, UltraLIFParams, UltraLIFState, ultralif_step
from spikeforge.neurons.ultralif import lse


def _reference(xs: list[float], decay: float, eps: float, theta: float) -> tuple[list[float], list[float]]:
    """Scalar float64 recurrence of the paper's equations: V' = ε log(e^{(V+log τ)/ε} + e^{I/ε}),
    s = 1/(1 + e^{-(V'-θ)/ε}), V = V'(1 - s); returns (spikes, membranes)."""
    eps = min(max(eps, 0.1), 20.0)
    decay = min(max(decay, 0.1), 0.99)
    v, ss, vs = 0.0, [], []
    for x in xs:
        a, b = (v + math.log(decay)) / eps, x / eps
        m = max(a, b)
        v1 = eps * (m + math.log(math.exp(a - m) + math.exp(b - m)))
        s = 1.0 / (1.0 + math.exp(-(v1 - theta) / eps))
        v = v1 * (1.0 - s)
        ss.append(s)
        vs.append(v)
    return ss, vs


@pytest.mark.parametrize(("decay", "eps", "theta"), [(0.9, 1.0, 1.0), (0.5, 0.1, 0.7), (0.99, 3.0, 2.0),
                                                     (0.95, 40.0, 1.0), (1.5, 0.02, 1.0)])
def test_golden_trajectory_against_float64_recurrence(decay, eps, theta, gen):
    # the last two rows exercise the clamps: eps 40 -> 20, eps 0.02 -> 0.1, decay 1.5 -> 0.99
    T, N = 40, 6
    xs = (torch.rand(T, 1, N, generator=gen, dtype=torch.float64) * 4 - 1)  # [T, B=1, N], some negative
    neuron = UltraLIF(decay=decay, eps=eps, v_th=theta, dtype=torch.float64, backend="torch")
    zs, state = neuron.run(xs)
    for i in range(N):
        ss, vs = _reference(xs[:, 0, i].tolist(), decay, eps, theta)
        torch.testing.assert_close(zs[:, 0, i], torch.tensor(ss, dtype=torch.float64), rtol=0, atol=1e-12)
        assert abs(float(state.v[0, i]) - vs[-1]) < 1e-12


def test_per_neuron_parameters_follow_the_recurrence(gen):
    decay, eps = [0.3, 0.9, 0.6], [0.2, 1.0, 5.0]
    xs = torch.rand(25, 1, 3, generator=gen, dtype=torch.float64) * 3
    zs = UltraLIF(decay=torch.tensor(decay, dtype=torch.float64), eps=torch.tensor(eps, dtype=torch.float64),
                  dtype=torch.float64)(xs)
    for i in range(3):
        ss, _ = _reference(xs[:, 0, i].tolist(), decay[i], eps[i], 1.0)
        torch.testing.assert_close(zs[:, 0, i], torch.tensor(ss, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("eps", [0.1, 1.0, 20.0])
def test_lse_bounds_and_derivative(eps, gen):
    """Check 16 (✓ in the reference): max(a,b) <= LSE_ε(a,b) <= max(a,b) + ε ln 2; ∂LSE/∂a = σ((a−b)/ε)."""
    a = (torch.rand(2000, generator=gen, dtype=torch.float64) * 200 - 100).requires_grad_()
    b = torch.rand(2000, generator=gen, dtype=torch.float64) * 200 - 100
    b[:10] = a.detach()[:10]  # ties: the upper bound is attained exactly
    y = lse(a, b, eps)
    m = torch.maximum(a, b).detach()
    assert torch.isfinite(y).all()
    assert (y.detach() >= m - 1e-12).all()
    assert (y.detach() <= m + eps * math.log(2) + 1e-12).all()
    torch.testing.assert_close(y.detach()[:10], m[:10] + eps * math.log(2), rtol=0, atol=1e-12)
    y.sum().backward()
    torch.testing.assert_close(a.grad, torch.sigmoid((a.detach() - b) / eps), rtol=0, atol=1e-12)


def test_lse_is_stable_for_large_arguments():
    y = lse(torch.tensor([1e4, -1e4], dtype=torch.float64), torch.tensor([1e4 - 1, -1e4], dtype=torch.float64), 0.1)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y, torch.tensor([1e4 + 0.1 * math.log1p(math.exp(-10)), -1e4 + 0.1 * math.log(2)],
                                               dtype=torch.float64), rtol=0, atol=1e-9)


@pytest.mark.parametrize(("raw", "clamped"), [(50.0, 20.0), (0.01, 0.1), (7.0, 7.0)])
def test_eps_is_clamped_to_0_1_and_20(raw, clamped, gen):
    """Check 16: the ε clamp keeps ε in [0.1, 20] (the learnable parameter may leave the range)."""
    xs = torch.rand(15, 2, 4, generator=gen) * 3
    torch.testing.assert_close(UltraLIF(eps=raw)(xs), UltraLIF(eps=clamped)(xs), rtol=0, atol=0)
    if raw != clamped:
        assert not torch.equal(UltraLIF(eps=raw)(xs), UltraLIF(eps=7.0)(xs))


def test_spike_gradient_is_the_forward_function():
    """No surrogate: for one step from V = 0, ∂s/∂I = s(1 − s)/ε · σ((I − log τ)/ε), the exact derivative."""
    x = torch.linspace(-2, 4, 13, dtype=torch.float64).requires_grad_()
    p = UltraLIFParams(decay=torch.tensor(0.8, dtype=torch.float64), eps=torch.tensor(0.5, dtype=torch.float64),
                       v_th=torch.tensor(1.0, dtype=torch.float64))
    s, _ = ultralif_step(x, UltraLIFState(torch.zeros_like(x)), p)
    s.sum().backward()
    expected = s.detach() * (1 - s.detach()) / 0.5 * torch.sigmoid((x.detach() - math.log(0.8)) / 0.5)
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=1e-12)


def test_learnable_eps_and_decay_get_gradients(gen):
    neuron = UltraLIF(learn=("eps", "decay"), size=4)
    neuron(torch.rand(10, 2, 4, generator=gen) * 3).sum().backward()
    assert neuron.eps.grad is not None and neuron.eps.grad.abs().sum() > 0
    assert neuron.decay.grad is not None and neuron.decay.grad.abs().sum() > 0


def test_outputs_are_never_exactly_zero_and_profile_flags_the_layer(gen):
    """Check 17: every output lies strictly in (0, 1) (even with zero or very negative input), so a
    nonzero count sees a dense layer; the profiler lists the layer in ``dense_output_layers``."""
    xs = torch.rand(20, 3, 8, generator=gen, dtype=torch.float64) * 6 - 3
    xs[:, :, 0] = 0.0
    xs[:, :, 1] = -30.0
    model = torch.nn.Sequential(UltraLIF(dtype=torch.float64), torch.nn.Linear(8, 2, dtype=torch.float64))
    with profile(model) as prof, torch.no_grad():
        zs = model[0](xs)
        model(xs)
    assert ((zs > 0) & (zs < 1)).all()
    assert prof.dense_output_layers() == ["0"]
    assert prof.layer_activation_sparsity()["0"] == 0.0
    lif = torch.nn.Sequential(NEURONS.create("lif"), torch.nn.Linear(8, 2))
    with profile(lif) as prof2, torch.no_grad():
        lif(xs.float())
    assert prof2.dense_output_layers() == []


def test_own_reset_and_no_surrogate_are_enforced():
    with pytest.raises(ValueError, match="own reset"):
        UltraLIF(reset="zero")
    with pytest.raises(ValueError, match="no surrogate"):
        UltraLIF(surrogate="sigmoid")
    with pytest.raises(ValueError, match="eps must be > 0"):
        UltraLIF(eps=0.0)


def test_gradient_through_time_matches_finite_differences(gen):
    """The whole trajectory is differentiable as written (reset V'(1 − s) included): autograd equals
    central finite differences in float64."""
    neuron = UltraLIF(eps=0.7, decay=0.8, dtype=torch.float64)
    xs = (torch.rand(6, 2, 3, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    assert torch.autograd.gradcheck(neuron, (xs,), eps=1e-6, atol=1e-8)


def test_even_the_default_surrogate_name_is_refused():
    """UltraLIF/UltraDLIF use no surrogate at all, so an explicit ``surrogate="atan"`` would be silently
    ignored (a wrong sweep cell); like I-LIF/NI-LIF, any explicit surrogate is refused."""
    from spikeforge.neurons import UltraDLIF

    for cls in (UltraLIF, UltraDLIF):
        with pytest.raises(ValueError, match="no surrogate"):
            cls(surrogate="atan")
        cls()  # no surrogate given: fine
