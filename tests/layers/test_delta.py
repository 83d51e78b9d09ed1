"""Delta activation layer (reference §4.6, check 20): golden against a scalar float64 loop written here,
Θ = 0 reproduces the dense network (1e-12, float64), |x_t − x̂_t| ≤ Θ, and the transmitted count is
non-increasing in Θ."""

from __future__ import annotations

import pytest
import torch

from spikeforge.layers import DeltaActivation, delta_accumulate, delta_activation


def _reference(seq: list[float], theta: float) -> tuple[list[float], float]:
    """Neil et al. (2017), one element: send Δ = x − x̂ if |Δ| > Θ and set x̂ = x, else send 0."""
    x_hat, out = 0.0, []
    for x in seq:
        d = x - x_hat
        if abs(d) > theta:
            out.append(d)
            x_hat = x
        else:
            out.append(0.0)
    return out, x_hat


def _signal(gen, T=30, B=2, N=5):
    # a slow random walk: most steps change little, a few jump
    steps = torch.randn(T, B, N, generator=gen, dtype=torch.float64) * 0.05
    steps[::7] += torch.randn(steps[::7].shape, generator=gen, dtype=torch.float64)
    return steps.cumsum(0)  # [T, B, N]


@pytest.mark.parametrize("theta", [0.0, 0.03, 0.2, 1.0])
def test_golden_against_scalar_loop(theta, gen):
    xs = _signal(gen)
    deltas, x_hat = delta_activation(xs, theta)
    for b in range(xs.shape[1]):
        for i in range(xs.shape[2]):
            want, last = _reference(xs[:, b, i].tolist(), theta)
            assert deltas[:, b, i].tolist() == pytest.approx(want, rel=0, abs=1e-15)
            assert float(x_hat[b, i]) == last


def test_theta_zero_reproduces_the_dense_network(gen):
    xs = _signal(gen)
    lin = torch.nn.Linear(5, 3, dtype=torch.float64)
    deltas, _ = delta_activation(xs, 0.0)
    sparse = delta_accumulate(deltas, lambda d: d @ lin.weight.T, bias=lin.bias)
    torch.testing.assert_close(sparse, lin(xs), rtol=0, atol=1e-12)
    torch.testing.assert_close(deltas.cumsum(0), xs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("theta", [0.01, 0.1, 0.5])
def test_reconstruction_error_bounded_by_theta(theta, gen):
    xs = _signal(gen)
    deltas, _ = delta_activation(xs, theta)
    x_hat = deltas.cumsum(0)  # what the receiver holds, [T, B, N]
    assert ((xs - x_hat).abs() <= theta + 1e-12).all()
    assert ((xs - x_hat).abs() > 0).any()  # the bound is not vacuous


def test_transmitted_count_non_increasing_in_theta(gen):
    xs = _signal(gen)
    counts = [int((delta_activation(xs, th)[0] != 0).sum()) for th in [0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == xs.numel() and counts[-1] < counts[0]


def test_continuation_equals_one_run(gen):
    xs = _signal(gen)
    full, hat_full = delta_activation(xs, 0.1)
    a, hat = delta_activation(xs[:11], 0.1)
    b, hat = delta_activation(xs[11:], 0.1, hat)
    assert torch.equal(torch.cat([a, b]), full) and torch.equal(hat, hat_full)


def test_module_gradient_and_bad_input(gen):
    xs = _signal(gen).requires_grad_()
    layer = DeltaActivation(threshold=0.05)
    layer(xs).sum().backward()
    assert xs.grad is not None and torch.isfinite(xs.grad).all()
    with pytest.raises(ValueError, match="threshold must be finite and >= 0"):
        DeltaActivation(threshold=-0.1)
    with pytest.raises(TypeError, match="threshold must be a number"):
        DeltaActivation(threshold="0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"time-major input"):
        layer(torch.rand(4))
    with pytest.raises(ValueError, match="x_hat must be a tensor of shape"):
        delta_activation(torch.rand(3, 2, 4), 0.1, torch.zeros(2, 5))


def test_hand_case_strict_threshold():
    """|Δ| = Θ exactly is not sent (strict >, Neil et al.): Θ = 0.5, x = 0.5, 1.0, 1.25, 0.75, 0.25."""
    xs = torch.tensor([0.5, 1.0, 1.25, 0.75, 0.25], dtype=torch.float64)[:, None, None]  # [T, 1, 1]
    deltas, x_hat = delta_activation(xs, 0.5)
    assert deltas.flatten().tolist() == [0.0, 1.0, 0.0, 0.0, -0.75]
    assert float(x_hat) == 0.25
