"""E-I circuit layer (DeepEISNN, reference §4.11; check 24: scale invariance, sign constraints, n_I = n_E // 4).

The current is compared with an explicit float64 loop over neurons (written from the reference's
equations, not from ``ei_current``); E-I Init with its closed-form statistics; and deep activity at
init against PyTorch's default init without normalisation (measured: it is silent from the first layer).
"""

from __future__ import annotations

import math

import pytest
import torch
from sklearn.datasets import load_digits

from spikeforge.layers.ei import (EILinear, EIParams, build_ei_mlp, build_plain_mlp, ei_current, ei_init_params,
                                  ei_lif)
from spikeforge.neurons.lif import LIF


def _params(gen: torch.Generator, d: int = 6, n_e: int = 8, bias: bool = False) -> EIParams:
    n_i = n_e // 4
    r = lambda *s: torch.rand(*s, generator=gen, dtype=torch.float64)  # noqa: E731
    return EIParams(w_ee=r(n_e, d), w_ie=r(n_i, d), w_ei=r(n_e, n_i), g_i=r(n_i) + 0.5, g_e=r(n_e) + 0.5,
                    b_e=(r(n_e) - 0.5) if bias else torch.zeros(n_e, dtype=torch.float64))


def _loop_reference(x: torch.Tensor, p: EIParams) -> torch.Tensor:
    """Sample by sample, neuron by neuron: I = g_E (I_EE − Σ_k W_EI I_IE,k) / Σ_k W_EI g_I,k I_IE,k + b_E."""
    out = torch.empty(x.shape[0], p.w_ee.shape[0], dtype=torch.float64)
    for b in range(x.shape[0]):
        i_ie = [sum(float(p.w_ie[k, j]) * float(x[b, j]) for j in range(x.shape[1])) for k in range(p.w_ie.shape[0])]
        for n in range(p.w_ee.shape[0]):
            i_ee = sum(float(p.w_ee[n, j]) * float(x[b, j]) for j in range(x.shape[1]))
            bal = i_ee - sum(float(p.w_ei[n, k]) * i_ie[k] for k in range(len(i_ie)))
            sh = sum(float(p.w_ei[n, k]) * float(p.g_i[k]) * i_ie[k] for k in range(len(i_ie)))
            out[b, n] = float(p.g_e[n]) * bal / sh + float(p.b_e[n])
    return out


def test_current_matches_loop_reference(gen):
    p = _params(gen, bias=True)
    x = torch.rand(5, 6, generator=gen, dtype=torch.float64)
    torch.testing.assert_close(ei_current(x, p), _loop_reference(x, p), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha", [1e-3, 0.37, 5.0, 1e4])
def test_scale_invariance(gen, alpha):  # check 24: I(αx) = I(x) for α > 0 when b_E = 0
    p = _params(gen)
    x = torch.rand(4, 3, 6, generator=gen, dtype=torch.float64)
    base = ei_current(x, p)
    assert base.std() > 0.1  # not a trivially constant output
    assert (ei_current(alpha * x, p) - base).abs().max() < 1e-12
    # with a bias the invariance is lost only by the bias itself
    pb = p._replace(b_e=torch.linspace(-1, 1, 8, dtype=torch.float64))
    torch.testing.assert_close(ei_current(alpha * x, pb), base + pb.b_e, rtol=1e-12, atol=1e-12)


def test_readout_is_the_balanced_current(gen):  # the paper's output layer: I_bal, no bias, no division
    p = _params(gen, bias=True)
    x = torch.rand(3, 6, generator=gen, dtype=torch.float64)
    want = x @ p.w_ee.T - (x @ p.w_ie.T) @ p.w_ei.T
    torch.testing.assert_close(ei_current(x, p, readout=True), want, rtol=1e-12, atol=1e-12)


def test_zero_shunt_replaced_by_sample_minimum_with_straight_through_gradient():
    # neuron 0's only interneuron link is 0 -> I_sh = 0 there; replaced by that sample's smallest non-zero I_sh
    p = EIParams(w_ee=torch.ones(4, 2, dtype=torch.float64), w_ie=torch.tensor([[1.0, 2.0]], dtype=torch.float64),
                 w_ei=torch.tensor([[0.0], [1.0], [2.0], [3.0]], dtype=torch.float64),
                 g_i=torch.ones(1, dtype=torch.float64), g_e=torch.ones(4, dtype=torch.float64),
                 b_e=torch.zeros(4, dtype=torch.float64))
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64, requires_grad=True)  # I_IE = 3, I_sh = [0, 3, 6, 9]
    i = ei_current(x, p)
    assert i[0].tolist() == pytest.approx([2.0 / 3.0, (2 - 3) / 3, (2 - 6) / 6, (2 - 9) / 9], rel=1e-12)
    i[0, 0].backward()  # STE: d/dx of I_bal / 3 with the replacement value held constant
    assert x.grad is not None and x.grad[0].tolist() == pytest.approx([1 / 3, 1 / 3], rel=1e-12)


def test_sign_constraints_after_an_optimizer_step(gen):  # check 24: weights >= 0 after each step; n_I = n_E // 4
    layer = EILinear(6, 12, generator=gen)
    xs = torch.rand(3, 5, 6, generator=gen)
    layer(xs)  # E-I Init
    assert layer.w_ie.shape == (3, 6) and layer.w_ei.shape == (12, 3)  # n_I = 12 // 4
    opt = torch.optim.SGD(layer.parameters(), lr=100.0)
    for p in layer.parameters():
        p.grad = torch.ones_like(p)  # a step that drives every parameter negative
    opt.step()
    assert all(bool((p < 0).any()) for p in layer.parameters())
    layer(xs)  # the forward projects first
    for name in ("w_ee", "w_ie", "w_ei", "g_i", "g_e"):
        assert bool((getattr(layer, name) >= 0).all()), name
    assert bool((layer.b_e < 0).all())  # the bias is not sign-constrained
    # Dale's law in effect: more interneuron drive never raises an E current's balance term
    x = torch.rand(4, 6, generator=gen)
    i_ie = (x @ layer.w_ie.T).requires_grad_()
    bal = x @ layer.w_ee.T - i_ie @ layer.w_ei.T
    (g,) = torch.autograd.grad(bal.sum(), i_ie)
    assert bool((g <= 0).all())


def test_ei_init_statistics(gen):
    x = torch.rand(2000, 50, generator=gen, dtype=torch.float64) ** 2  # E[x] = 1/3, E[x^2] = 1/5
    p = ei_init_params(x, 400, generator=gen)
    m1, m2, v = 1 / 3, 1 / 5, 1 / 5 - 1 / 9
    scale = math.sqrt(v / (50 * (m2 + v)))
    assert float(p.w_ee.mean()) == pytest.approx(scale, rel=0.02)  # Exponential: mean = std = scale
    assert float(p.w_ee.std()) == pytest.approx(scale, rel=0.04)
    assert bool((p.w_ee >= 0).all() and (p.w_ie >= 0).all())
    assert p.w_ei.shape == (400, 100) and bool((p.w_ei == 1 / 100).all())
    assert float(p.g_i[0]) == pytest.approx(math.sqrt(m2 + v) / (math.sqrt(50) * m1), rel=0.01)
    assert bool((p.g_e == 1).all() and (p.b_e == 0).all())
    i = ei_current(x, p)  # the point of the init: a standardised current
    assert abs(float(i.mean())) < 0.05 and 0.6 < float(i.std()) < 1.2


def test_ei_init_uses_the_per_feature_variance(gen):
    # features with very different means: the variance over all elements (≈ 0.27 here) is far larger
    # than the per-feature variance over samples averaged over features (the paper's Var[x], 1/12 · 0.01)
    n, d = 4000, 8
    x = 0.1 * torch.rand(n, d, generator=gen, dtype=torch.float64) + torch.linspace(0, 1.5, d, dtype=torch.float64)
    v = sum(float(x[:, j].var()) for j in range(d)) / d  # unbiased, feature by feature
    m1, m2 = float(x.mean()), float((x * x).mean())
    p = ei_init_params(x, 40, generator=gen)
    assert float(p.g_i[0]) == pytest.approx(math.sqrt(m2 + v) / (math.sqrt(d) * m1), rel=1e-9)
    assert float(x.var()) > 30 * v  # the two definitions really differ on this batch
    assert float(p.w_ee.mean()) == pytest.approx(math.sqrt(v / (d * (m2 + v))), rel=0.1)


def test_ei_lif_is_the_papers_neuron():
    # SpikingJelly LIFNode(tau=2, decay_input=False, v_threshold=1, soft reset): u <- u/2 + I, hand-computed
    xs = torch.full((6, 1, 1), 0.6, dtype=torch.float64)
    # u: 0.6, 0.9, 1.05 -> spike, 0.05; 0.625; 0.9125; 1.05625 -> spike
    assert ei_lif()(xs).flatten().tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    assert ei_lif()(torch.full((3, 1, 1), 0.99, dtype=torch.float64)).flatten().tolist() == [0.0, 1.0, 1.0]


def test_ei_init_is_scale_free(gen):
    x = torch.rand(64, 20, generator=gen, dtype=torch.float64)
    a = ei_init_params(x, 16, generator=torch.Generator().manual_seed(3))
    b = ei_init_params(250.0 * x, 16, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(ei_current(250.0 * x, b), ei_current(x, a), rtol=1e-10, atol=1e-10)


def test_ei_prop_divides_the_inhibitory_gradient_by_d(gen):
    xs = torch.rand(2, 4, 10, generator=gen)
    grads = []
    for prop in (True, False):
        layer = EILinear(10, 8, ei_prop=prop, generator=torch.Generator().manual_seed(0))
        layer(xs).pow(2).sum().backward()
        grads.append(layer.w_ei.grad)
    torch.testing.assert_close(grads[0], grads[1] / 10)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="non-negative"):
        EILinear(3, 8)(-torch.ones(2, 1, 3))
    with pytest.raises(ValueError, match="constant"):
        EILinear(3, 8)(torch.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="n_I"):
        EILinear(3, 3)
    with pytest.raises(ValueError, match="4 input features"):
        layer = EILinear(4, 8)
        layer(torch.rand(2, 1, 3))


def _rates(net: torch.nn.Sequential, xs: torch.Tensor) -> list[float]:
    out, h = [], xs
    with torch.no_grad():
        for m in net:
            h = m(h)
            if isinstance(m, LIF):
                out.append(float(h.mean()))
    return out


def test_deep_activity_at_init_ei_vs_default_init():
    """8 layers, width 256, T = 4, digits: E-I Init keeps every layer firing at a steady rate (measured
    0.20 0.16 0.16 0.17 0.12 0.16 0.15, tools/ei_deep.py); PyTorch's default init without a norm is
    nearly silent in the first hidden layer (0.014) and silent from the second on."""
    torch.set_num_threads(1)
    X, _ = load_digits(return_X_y=True)
    xs = torch.tensor(X[:256] / 16.0, dtype=torch.float32).expand(4, 256, 64)  # [T, B, 64]
    ei = _rates(build_ei_mlp(64, 256, 8, 10, generator=torch.Generator().manual_seed(0)), xs)
    torch.manual_seed(0)
    plain = _rates(build_plain_mlp(64, 256, 8, 10), xs)
    assert len(ei) == 7 and all(0.05 < r < 0.35 for r in ei), ei
    assert ei[-1] > 0.4 * ei[0], ei  # no decay with depth (with the input decayed it fell 8x: 0.049 -> 0.006)
    assert plain[0] < 0.05 and max(plain[1:]) < 1e-3, plain


def test_loaded_state_is_not_re_initialised_and_fresh_layers_are() -> None:
    """A layer loaded from a trained state dict keeps those weights (E-I Init must not run again on
    its first batch); a fresh layer runs E-I Init once, and the flag lives on the host (no device
    read per forward)."""
    from spikeforge.layers.ei_conv import EIConv2d

    torch.manual_seed(0)
    for make, x in ((lambda: EILinear(6, 8), torch.rand(3, 4, 6)),
                    (lambda: EIConv2d(2, 8, 3, padding=1), torch.rand(3, 4, 2, 5, 5))):
        trained = make()
        trained(x)
        with torch.no_grad():
            trained.w_ee.mul_(3.0)  # "training" moved the weights away from E-I Init
        loaded = make()
        loaded.load_state_dict(trained.state_dict())
        out = loaded(x * 0.5)  # a batch with other statistics: re-running E-I Init would change w_ee
        torch.testing.assert_close(loaded.w_ee, trained.w_ee, rtol=0, atol=0)
        torch.testing.assert_close(out, trained(x * 0.5), rtol=0, atol=0)
        fresh = make()
        assert not fresh.initialized
        fresh(x)
        assert bool(fresh.initialized)
        first = fresh.w_ee.detach().clone()
        fresh(x * 0.5)
        torch.testing.assert_close(fresh.w_ee, first, rtol=0, atol=0)
