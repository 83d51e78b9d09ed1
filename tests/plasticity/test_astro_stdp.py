"""AstroSTDP (registered "astro_stdp"): pair STDP whose depression rate is an astrocyte's output (NALSM)."""

from __future__ import annotations

import torch

from spikeforge.plasticity import PLASTICITY, STDP, AstroSTDP, STDPState


def _spikes(t: int, b: int, n: int, p: float, seed: int) -> torch.Tensor:
    return (torch.rand(t, b, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) < p).double()


def test_astro_stdp_equals_stdp_with_the_astrocyte_rate() -> None:
    pre, post = _spikes(40, 3, 6, 0.2, 0), _spikes(40, 3, 4, 0.5, 1)  # post outruns pre: A rises above b
    w = torch.rand(4, 6, dtype=torch.float64)
    rule = PLASTICITY.create("astro_stdp", tau_astro=20e-3, w_astro=0.05, bias=0.1)
    s, a = rule.init_state(pre[0], post[0], w), 0.1
    for t in range(40):
        prev = s
        dw, s = rule.step(pre[t], post[t], s, w)
        a = a + 1e-3 / 20e-3 * (0.05 * float(post[t].sum() - pre[t].sum()) / 3 + 0.1 - a)  # by hand
        assert abs(float(s.a) - a) < 1e-12
        ref = STDP(tau_pre=10e-3, tau_post=10e-3, eta_plus=0.15, eta_minus=a, a_pre=0.1, a_post=0.1)
        dw_ref, _ = ref.step(pre[t], post[t], STDPState(x=prev.x, y=prev.y), w)  # this step's A, same traces
        torch.testing.assert_close(dw, dw_ref, rtol=0, atol=1e-12)
    assert float(s.a) > 0.1


def test_astro_stdp_without_astrocyte_weight_is_plain_stdp() -> None:
    pre, post = _spikes(30, 2, 5, 0.3, 2), _spikes(30, 2, 3, 0.3, 3)
    w = torch.rand(3, 5, dtype=torch.float64)
    astro = AstroSTDP(w_astro=0.0, bias=0.12)
    plain = STDP(tau_pre=10e-3, tau_post=10e-3, eta_plus=0.15, eta_minus=0.12, a_pre=0.1, a_post=0.1)
    sa = sp = None
    for t in range(30):
        da, sa = astro.step(pre[t], post[t], sa, w)
        dp, sp = plain.step(pre[t], post[t], sp, w)
        torch.testing.assert_close(da, dp, rtol=0, atol=1e-15)
    assert float(sa.a) == 0.12
