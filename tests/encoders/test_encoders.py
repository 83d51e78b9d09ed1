"""Encoders: hand-computed spike times, statistics, determinism, registry contract, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.encoders import (
    ENCODERS, DeltaEncoder, PopulationEncoder, bernoulli_encode, delta_encode, direct_encode,
    gaussian_receptive_fields, latency_encode, log_latency_encode, poisson_encode, population_encode,
)
from spikeforge.numerics import allow_nonfinite

T, B, F = 12, 3, 5


# --- registry contract ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ENCODERS.names())
def test_every_encoder_builds_from_steps_and_keeps_time_major_shape(name: str) -> None:
    enc = ENCODERS.create(name, steps=T)
    if ENCODERS.meta(name)["input"] == "signal":
        xs = torch.rand(T, B, F)
        out = enc(xs)
    else:
        out = enc(torch.rand(B, F))
    assert out.shape[:2] == (T, B)
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", [n for n in ENCODERS.names() if ENCODERS.meta(n)["input"] == "static"])
def test_static_encoders_reject_wrong_rank_and_bad_steps(name: str) -> None:
    enc = ENCODERS.create(name, steps=T)
    with pytest.raises(ValueError, match=r"\[B, \*F\]"):
        enc(torch.tensor(0.5))
    with pytest.raises(ValueError, match="steps must be a positive int"):
        ENCODERS.create(name, steps=-1)
    with pytest.raises(ValueError, match="steps must be a positive int"):
        ENCODERS.create(name, steps=0)
    with pytest.raises(TypeError, match="steps must be a positive int"):
        ENCODERS.create(name, steps=2.5)
    with pytest.raises(TypeError, match="floating-point"):
        enc(torch.ones(B, F, dtype=torch.int64))


@pytest.mark.parametrize("fn", [bernoulli_encode, poisson_encode, latency_encode, log_latency_encode])
@pytest.mark.parametrize("bad", [-0.1, 1.5, float("inf")])
def test_intensities_outside_unit_interval_are_rejected(fn, bad: float) -> None:  # type: ignore[no-untyped-def]
    x = torch.tensor([[0.2, bad]])
    with pytest.raises(ValueError, match=r"intensities must lie in \[0, 1\]|non-finite input"):
        fn(x, 10)
    with allow_nonfinite(), pytest.raises(ValueError, match=r"intensities must lie in \[0, 1\]"):
        fn(x, 10)  # inf is out of range even where non-finite values may pass


def test_unknown_encoder_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown encoder 'nope'; valid names: .*poisson"):
        ENCODERS.create("nope", steps=4)


# --- rate -----------------------------------------------------------------------------------
def test_bernoulli_mean_and_variance_match_binomial() -> None:
    g = torch.Generator().manual_seed(7)
    p, steps, n = 0.3, 40, 20_000
    counts = bernoulli_encode(torch.full((n,), p), steps, generator=g).sum(0)
    assert counts.mean().item() == pytest.approx(steps * p, abs=0.1)  # std of the mean ~0.02
    assert counts.var().item() == pytest.approx(steps * p * (1 - p), rel=0.05)


def test_poisson_counts_have_poisson_mean_and_variance_and_one_spike_per_step() -> None:
    g = torch.Generator().manual_seed(3)
    rate, steps, n = 0.2, 50, 20_000
    z = poisson_encode(torch.full((n,), rate), steps, generator=g)
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    counts = z.sum(0)
    lam = rate * steps
    assert counts.mean().item() == pytest.approx(lam, abs=0.15)
    # Poisson: variance == mean (10); a Bernoulli/binomial count would give 8.
    assert counts.var().item() == pytest.approx(lam, rel=0.05)
    # spikes spread uniformly over the steps
    per_step = z.mean(1)
    assert torch.allclose(per_step, torch.full_like(per_step, rate), atol=0.015)


def test_rate_encoders_extremes() -> None:
    x = torch.tensor([[0.0, 1.0]])
    for fn in (bernoulli_encode, poisson_encode):
        z = fn(x, 20)
        assert z[:, 0, 0].sum() == 0
    assert bernoulli_encode(x, 20)[:, 0, 1].sum() == 20


@pytest.mark.parametrize("name", ["bernoulli", "poisson"])
def test_stochastic_encoders_are_deterministic_given_a_seed(name: str) -> None:
    enc = ENCODERS.create(name, steps=T)
    x = torch.rand(B, F)
    a = enc(x, generator=torch.Generator().manual_seed(11))
    b = enc(x, generator=torch.Generator().manual_seed(11))
    c = enc(x, generator=torch.Generator().manual_seed(12))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# --- latency --------------------------------------------------------------------------------
def test_linear_latency_hand_computed_times() -> None:
    x = torch.tensor([[1.0, 0.5, 0.3, 0.0]])
    z = latency_encode(x, 11)  # t = round(10 * (1 - x)) = 0, 5, 7, 10
    assert z.sum(0).tolist() == [[1.0, 1.0, 1.0, 1.0]]
    assert z.argmax(0).tolist() == [[0, 5, 7, 10]]


def test_linear_latency_tau_and_threshold() -> None:
    x = torch.tensor([[1.0, 0.5, 0.05, 0.0]])
    z = latency_encode(x, 10, tau=4.0, threshold=0.1)  # t = 0, 2; x < 0.1 -> silent
    assert z.sum(0).tolist() == [[1.0, 1.0, 0.0, 0.0]]
    assert z[:, 0, :2].argmax(0).tolist() == [0, 2]
    z = latency_encode(torch.tensor([[0.0]]), 5, tau=20.0)  # t = 20 > T - 1: no spike
    assert z.sum() == 0


def test_log_latency_hand_computed_times() -> None:
    x = torch.tensor([[1.0, 0.5, math.exp(-1.0), 0.01, 0.0]])
    z = log_latency_encode(x, 10, tau=2.0)  # t = 2 ln(1/x) = 0, 1.386 -> 1, 2, 9.21 -> 9, inf
    assert z.sum(0).tolist() == [[1.0, 1.0, 1.0, 1.0, 0.0]]
    assert z[:, 0, :4].argmax(0).tolist() == [0, 1, 2, 9]
    # default tau maps [0.01, 1] onto the whole window
    assert log_latency_encode(torch.tensor([[0.01, 0.1]]), 21).argmax(0).tolist() == [[20, 10]]


def test_latency_rejects_bad_tau() -> None:
    with pytest.raises(ValueError, match="tau must be a positive number of steps"):
        latency_encode(torch.rand(2, 3), 5, tau=-1.0)


# --- delta ----------------------------------------------------------------------------------
def test_delta_hand_computed_on_off_spikes() -> None:
    sig = torch.tensor([0.0, 0.5, 1.2, 1.0, 0.4, 1.0, 1.0])
    xs = torch.stack([sig, -sig], dim=1).view(7, 1, 2)  # [T, B=1, C=2]
    z = delta_encode(xs, threshold=0.5)  # [7, 1, 4]: on0, on1, off0, off1
    # channel 0: ref 0 -> +0.5 on (ref .5) -> +0.7 on (ref 1.2) -> -0.2 none -> -0.8 off (ref .4)
    #            -> +0.6 on (ref 1.0) -> 0 none
    assert z[:, 0, 0].tolist() == [0, 1, 1, 0, 0, 1, 0]
    assert z[:, 0, 2].tolist() == [0, 0, 0, 0, 1, 0, 0]
    # the negated signal swaps ON and OFF
    assert torch.equal(z[:, 0, 1], z[:, 0, 2]) and torch.equal(z[:, 0, 3], z[:, 0, 0])


def test_delta_reference_follows_slow_drift_only_when_spiking() -> None:
    xs = (torch.arange(10.0) * 0.3).view(10, 1, 1)  # +0.3 per step, threshold 0.5: spike every 2nd step
    z = delta_encode(xs, threshold=0.5)
    assert z[:, 0, 0].tolist() == [0, 0, 1, 0, 1, 0, 1, 0, 1, 0]
    assert z[:, 0, 1].sum() == 0


def test_delta_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\[T, B, C, \*S\] \(at least 3 dims\)"):
        delta_encode(torch.rand(10, 4), threshold=0.1)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        delta_encode(torch.rand(10, 4, 2), threshold=0.0)
    with pytest.raises(ValueError, match="expected a signal with T=5 steps"):
        DeltaEncoder(steps=5)(torch.rand(10, 4, 2))


# --- direct ---------------------------------------------------------------------------------
def test_direct_repeats_and_passes_gradient() -> None:
    x = torch.rand(B, F, requires_grad=True)
    xs = direct_encode(x, 4)
    assert torch.equal(xs, x.detach().expand(4, B, F))
    xs.sum().backward()
    assert torch.equal(x.grad, torch.full((B, F), 4.0))


# --- population -----------------------------------------------------------------------------
def test_population_centres_and_widths() -> None:
    r = gaussian_receptive_fields(torch.tensor([0.0, 0.25, 0.5, 1.0]), 5)  # centres 0, .25, .5, .75, 1
    assert r.shape == (4, 5)
    assert r.argmax(-1).tolist() == [0, 1, 2, 4]
    assert r[0, 0] == 1.0
    # sigma defaults to the spacing 0.25: a neighbour one spacing away responds exp(-1/2)
    assert r[2, 1].item() == pytest.approx(math.exp(-0.5))
    assert r[2, 3].item() == pytest.approx(math.exp(-0.5))
    assert r[2, 0].item() == pytest.approx(math.exp(-2.0))


def test_population_latency_code_hand_computed() -> None:
    z = population_encode(torch.tensor([[0.5]]), 11, n_pop=5, threshold=0.1)  # [11, 1, 1, 5]
    assert z.shape == (11, 1, 1, 5)
    # responses exp(-2), exp(-.5), 1, exp(-.5), exp(-2)=0.135: t = round(10 (1 - r)) = 9, 4, 0, 4, 9
    assert z.sum(0).flatten().tolist() == [1.0] * 5
    assert z[:, 0, 0].argmax(0).tolist() == [9, 4, 0, 4, 9]
    quiet = population_encode(torch.tensor([[0.5]]), 11, n_pop=5, threshold=0.2)
    assert quiet.sum(0).flatten().tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_population_bad_config() -> None:
    with pytest.raises(ValueError, match="n_pop must be an int >= 2"):
        PopulationEncoder(steps=4, n_pop=1)
    with pytest.raises(ValueError, match="need finite x_min < x_max"):
        PopulationEncoder(steps=4, x_min=1.0, x_max=0.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        gaussian_receptive_fields(torch.rand(2), 4, sigma=0.0)
