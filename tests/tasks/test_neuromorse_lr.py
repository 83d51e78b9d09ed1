"""The NeuroMorse likelihood-ratio detector (:mod:`spikeforge.tasks.neuromorse_lr`) and the oracle upper-bound
analysis built on it (:mod:`spikeforge.tasks.neuromorse_oracle`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.data.generators.neuromorse import TOP50_WORDS, NoiseLevels, encode_word

torch.set_num_threads(1)


def _pois(k: int, m: float) -> float:
    return math.exp(-m) * m ** k / math.factorial(k) if k >= 0 else 0.0


def test_lr_statistic_equals_the_likelihood_ratio_by_enumeration() -> None:
    """Λ of keyword "a" (".-": one spike per channel) at one label time against the likelihood ratio written
    from its definition in float64: H1 = Poisson(λ) per step + each keyword spike dropped (1 − q) or moved to
    step s with probability h(s − t_i) (the spike adds one count there: Pois(x_s − 1; λ)), H0 = Poisson(ν_c)
    per step — summed over every placement, without the algebra of ``lr_statistic``."""
    from spikeforge.tasks.neuromorse_lr import jitter_pmf, lr_statistic

    rng = np.random.default_rng(0)
    lam, sigma, q, rho = 0.1, 1.0, 0.9, np.array([0.05, 0.03])
    x = rng.poisson(0.15, (90, 2)).astype(np.float64)  # [T, 2]
    k = TOP50_WORDS.index("a")
    ev = encode_word("a")
    last = int(ev.t[-1])
    h, J = jitter_pmf(sigma)
    got = lr_statistic(x, lam, sigma, q, rho)[:, k]
    for e in (60, 75, 89):
        window = range(e - (last + 30), e + 1)
        nu = lam + q * rho
        log_p0 = sum(math.log(_pois(int(x[s, c]), nu[c])) for c in (0, 1) for s in window)
        log_p1 = 0.0
        for c in (0, 1):
            t_i = e - (last + 15) + int(ev.t[list(ev.x).index(c)])  # the one spike on channel c
            base = math.prod(_pois(int(x[s, c]), lam) for s in window)
            moved = 0.0
            for j in range(-J, J + 1):
                s = t_i + j
                others = math.prod(_pois(int(x[u, c]), lam) for u in window if u != s)
                moved += h[j + J] * _pois(int(x[s, c]) - 1, lam) * others
            log_p1 += math.log((1 - q) * base + q * moved)
        assert abs(got[e] - (log_p1 - log_p0)) < 1e-9, (e, got[e], log_p1 - log_p0)


def test_jitter_pmf_is_the_truncated_normal() -> None:
    from spikeforge.tasks.neuromorse_lr import jitter_pmf

    h, J = jitter_pmf(2.0)
    draws = np.floor(np.random.default_rng(1).normal(0, 2.0, 400_000)).astype(int)
    emp = np.array([(draws == j).mean() for j in range(-J, J + 1)])
    assert np.abs(emp - h).max() < 3e-3 and abs(h.sum() - 1) < 1e-12
    with pytest.raises(ValueError, match="sigma"):
        jitter_pmf(-1.0)


def test_oracle_finds_every_keyword_of_the_clean_stream() -> None:
    """Hand count: the default text has 145 keyword occurrences; the oracle finds all, no false alarm."""
    from spikeforge.tasks.neuromorse_oracle import oracle_scores

    t = oracle_scores(NoiseLevels()).totals
    assert (t.tp, t.fp, t.fn) == (145, 0, 0)


@pytest.mark.slow
def test_lr_fit_reads_no_noise_parameter_and_picks_the_jitter() -> None:
    """``fit_lr`` estimates everything on a generated validation stream: σ chosen 0 without jitter and ≥ 1.5
    under high jitter (σ = 2), λ̂ within 5 % of 0.1; and its source reads no parameter of the variant."""
    import ast
    import inspect

    import spikeforge.tasks.neuromorse_lr as lr

    banned = {"jitter_std", "poisson_rate", "drop_probability", "jitter", "poisson", "dropout"}
    tree = ast.parse(inspect.getsource(lr))
    assert not [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in banned]
    d0 = lr.fit_lr(NoiseLevels(), 200, sigmas=(0.0, 2.0), keeps=(0.95,))
    d2 = lr.fit_lr(NoiseLevels("none", "high", "high"), 200, sigmas=(0.0, 1.0, 2.0), keeps=(0.95,))
    assert d0.sigma == 0.0 and d2.sigma >= 1.5 and abs(d2.rate - 0.1) < 0.005, (d0, d2)
