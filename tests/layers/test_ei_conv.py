"""Conv E-I circuit layer (DeepEISNN's conv block, reference §4.11; check 24's analogues for conv:
scale invariance, sign constraints after optimizer steps, n_I = n_E // 4).

The forward is compared with an explicit float64 loop over samples, channels and pixels (written from
the reference's equations with explicit zero padding, stride and dilation; it calls neither conv2d nor
``ei_conv_current``), and with the linear E-I layer on a kernel that covers the whole input.
"""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.layers import EIConv2d, ei_conv_current
from spikeforge.layers.ei import EIParams, ei_current
from spikeforge.layers.ei_conv import EIConvParams, ei_conv_init_params


def _params(gen: torch.Generator, c: int = 2, n_e: int = 8, k: int = 3, bias: bool = False) -> EIConvParams:
    n_i = n_e // 4
    r = lambda *s: torch.rand(*s, generator=gen, dtype=torch.float64)  # noqa: E731
    return EIConvParams(w_ee=r(n_e, c, k, k), w_ie=r(n_i, c, k, k), w_ei=r(n_e, n_i), g_i=r(n_i) + 0.5,
                        g_e=r(n_e) + 0.5, b_e=(r(n_e) - 0.5) if bias else torch.zeros(n_e, dtype=torch.float64))


def _loop_reference(x: torch.Tensor, p: EIConvParams, stride: int, padding: int, dilation: int) -> torch.Tensor:
    """I[n, e, i, j] = g_E,e (I_EE − Σ_k W_EI,ek I_IE,k) / Σ_k W_EI,ek g_I,k I_IE,k + b_E,e, each drive a
    sum over the receptive field with out-of-range pixels read as 0."""
    n_b, c, h, w = x.shape
    k = p.w_ee.shape[-1]
    ho = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    wo = (w + 2 * padding - dilation * (k - 1) - 1) // stride + 1

    def drive(kern: torch.Tensor, b: int, i: int, j: int) -> float:
        tot = 0.0
        for ch in range(c):
            for u in range(k):
                for v in range(k):
                    r, s = i * stride - padding + u * dilation, j * stride - padding + v * dilation
                    if 0 <= r < h and 0 <= s < w:
                        tot += float(kern[ch, u, v]) * float(x[b, ch, r, s])
        return tot

    n_e, n_i = p.w_ei.shape
    out = torch.empty(n_b, n_e, ho, wo, dtype=torch.float64)
    for b in range(n_b):
        for i in range(ho):
            for j in range(wo):
                i_ie = [drive(p.w_ie[q], b, i, j) for q in range(n_i)]
                for e in range(n_e):
                    bal = drive(p.w_ee[e], b, i, j) - sum(float(p.w_ei[e, q]) * i_ie[q] for q in range(n_i))
                    sh = sum(float(p.w_ei[e, q]) * float(p.g_i[q]) * i_ie[q] for q in range(n_i))
                    out[b, e, i, j] = float(p.g_e[e]) * bal / sh + float(p.b_e[e])
    return out


@pytest.mark.parametrize(("stride", "padding", "dilation"), [(1, 0, 1), (2, 1, 1), (1, 2, 2)])
def test_conv_current_matches_loop_reference(gen, stride, padding, dilation):
    p = _params(gen, bias=True)
    x = torch.rand(2, 2, 5, 4, generator=gen, dtype=torch.float64) + 0.05  # no all-zero receptive field
    want = _loop_reference(x, p, stride, padding, dilation)
    got = ei_conv_current(x, p, stride=stride, padding=padding, dilation=dilation)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    # leading dims are samples: [T, B, C, H, W] gives the same numbers as [T·B, C, H, W]
    got5 = ei_conv_current(x.reshape(1, 2, 2, 5, 4), p, stride=stride, padding=padding, dilation=dilation)
    torch.testing.assert_close(got5[0], want, rtol=1e-12, atol=1e-12)


def test_full_kernel_equals_the_linear_layer(gen):
    # a kernel covering the whole input is the linear E-I layer on the flattened input
    p = _params(gen, c=3, n_e=12, k=4, bias=True)
    x = torch.rand(5, 3, 4, 4, generator=gen, dtype=torch.float64)
    lin = EIParams(w_ee=p.w_ee.flatten(1), w_ie=p.w_ie.flatten(1), w_ei=p.w_ei, g_i=p.g_i, g_e=p.g_e, b_e=p.b_e)
    torch.testing.assert_close(ei_conv_current(x, p)[:, :, 0, 0], ei_current(x.flatten(1), lin),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("alpha", [1e-3, 0.37, 5.0, 1e4])
def test_conv_scale_invariance(gen, alpha):  # check 24's analogue: I(αx) = I(x) for α > 0 when b_E = 0
    p = _params(gen)
    x = torch.rand(2, 3, 2, 7, 7, generator=gen, dtype=torch.float64)  # [T, B, C, H, W]
    base = ei_conv_current(x, p, padding=1)
    assert base.std() > 0.1
    assert (ei_conv_current(alpha * x, p, padding=1) - base).abs().max() < 1e-12
    pb = p._replace(b_e=torch.linspace(-1, 1, 8, dtype=torch.float64))
    torch.testing.assert_close(ei_conv_current(alpha * x, pb, padding=1), base + pb.b_e[:, None, None],
                               rtol=1e-12, atol=1e-12)


def test_zero_shunt_replaced_by_sample_minimum_over_channels_and_pixels():
    # one input pixel lit: with a 1x1 kernel only that pixel has I_sh != 0; every other pixel of the
    # sample takes the smallest non-zero I_sh of the sample, here E channel 0's, over all channels
    p = EIConvParams(w_ee=torch.ones(4, 1, 1, 1, dtype=torch.float64), w_ie=torch.ones(1, 1, 1, 1, dtype=torch.float64),
                     w_ei=torch.tensor([[1.0], [2.0], [3.0], [4.0]], dtype=torch.float64),
                     g_i=torch.ones(1, dtype=torch.float64), g_e=torch.ones(4, dtype=torch.float64),
                     b_e=torch.zeros(4, dtype=torch.float64))
    x = torch.zeros(2, 1, 2, 2, dtype=torch.float64)
    x[0, 0, 0, 0], x[1, 0, 1, 1] = 2.0, 5.0  # sample 1 has a larger minimum (5 vs 2)
    i = ei_conv_current(x, p)
    # lit pixel: (I_EE − w·I_IE)/(w·I_IE) = (1 − w)/w ; dark pixels: 0 / (sample min = 1·x_lit)
    torch.testing.assert_close(i[0, :, 0, 0], torch.tensor([0.0, -0.5, -2 / 3, -0.75], dtype=torch.float64))
    assert bool((i[0, :, 1, 1] == 0).all()) and bool(torch.isfinite(i).all())
    x.requires_grad_()
    p2 = p._replace(b_e=torch.zeros(4, dtype=torch.float64), w_ee=2 * p.w_ee)  # dark pixels: I_bal = 0 still
    out = ei_conv_current(x + 0.0, p2)
    out[1, 0, 0, 0].backward()  # STE: d/dx of I_bal / 5 at that pixel, the replacement held constant
    assert x.grad is not None and float(x.grad[1, 0, 0, 0]) == pytest.approx((2 - 1) / 5, rel=1e-12)


def test_sign_constraints_kept_after_optimizer_steps(gen):  # Dale's law after each step; n_I = n_E // 4
    layer = EIConv2d(3, 12, 3, padding=1, generator=gen)
    xs = (torch.rand(2, 2, 3, 5, 5, generator=gen) < 0.3).float()  # [T, B, C, H, W] spikes
    layer(xs)  # E-I Init
    assert layer.w_ie.shape == (3, 3, 3, 3) and layer.w_ei.shape == (12, 3) and layer.g_i.shape == (3,)
    for opt in (torch.optim.SGD(layer.parameters(), lr=100.0), torch.optim.Adam(layer.parameters(), lr=10.0)):
        for _ in range(2):  # two steps each: the second starts from projected (clamped) parameters
            for p in layer.parameters():
                p.grad = torch.ones_like(p)  # a step that drives every parameter negative
            opt.step()
            assert all(bool((p < 0).any()) for p in layer.parameters())
            out = layer(xs)  # the forward projects first
            for name in ("w_ee", "w_ie", "w_ei", "g_i", "g_e"):
                assert bool((getattr(layer, name) >= 0).all()), name
            assert bool((layer.b_e < 0).all())  # the bias is not sign-constrained
            assert bool(torch.isfinite(out).all())
    # Dale's law in effect: more inhibitory drive never raises an E channel's balanced current
    i_ie = torch.rand(2, 3, 5, 5, generator=gen).requires_grad_()
    bal = -torch.einsum("ek,nkhw->nehw", layer.w_ei, i_ie)
    (g,) = torch.autograd.grad(bal.sum(), i_ie)
    assert bool((g <= 0).all())


def test_conv_ei_init_statistics(gen):
    c, k, n_e = 4, 3, 64
    x = (torch.rand(3, 64, c, 8, 8, generator=gen, dtype=torch.float64) < 0.2).double()  # spikes, rate 0.2
    rows = x.reshape(-1, c * 64)  # [T·B, C·H·W]
    v = float(rows.var(dim=0).mean())  # per-element variance over samples, averaged
    m1, m2, d = float(x.mean()), float((x * x).mean()), c * k * k
    p = ei_conv_init_params(x, n_e, k, generator=gen)
    scale = math.sqrt(v / (d * (m2 + v)))
    assert float(p.w_ee.mean()) == pytest.approx(scale, rel=0.06)  # Exponential: mean = std = scale
    assert float(p.w_ee.std()) == pytest.approx(scale, rel=0.12)
    assert p.w_ee.shape == (n_e, c, k, k) and p.w_ie.shape == (16, c, k, k)
    assert bool((p.w_ee >= 0).all() and (p.w_ie >= 0).all())
    assert bool((p.w_ei == 1 / 16).all())
    assert float(p.g_i[0]) == pytest.approx(math.sqrt(m2 + v) / (math.sqrt(d) * m1), rel=1e-9)
    assert bool((p.g_e == 1).all() and (p.b_e == 0).all())
    # the point of the init: a centred current of order-1 spread. With a fan-in of only 36 each channel's
    # mean is off by ~0.3 (measured over seeds 0-3: grand mean -0.12…0.08, std 0.80–0.86)
    i = ei_conv_current(x, p)
    assert abs(float(i.mean())) < 0.25 and 0.6 < float(i.std()) < 1.1


def test_conv_ei_init_is_scale_free(gen):
    x = torch.rand(2, 16, 2, 6, 6, generator=gen, dtype=torch.float64)
    a = ei_conv_init_params(x, 8, 3, generator=torch.Generator().manual_seed(3))
    b = ei_conv_init_params(250.0 * x, 8, 3, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(ei_conv_current(250.0 * x, b), ei_conv_current(x, a), rtol=1e-10, atol=1e-10)


def test_conv_ei_prop_divides_the_inhibitory_gradient_by_fan_in(gen):
    xs = torch.rand(2, 3, 3, 6, 6, generator=gen)
    grads = []
    for prop in (True, False):
        layer = EIConv2d(3, 8, 3, ei_prop=prop, generator=torch.Generator().manual_seed(0))
        layer(xs).pow(2).sum().backward()
        grads.append(layer.w_ei.grad)
    torch.testing.assert_close(grads[0], grads[1] / 27)  # d = C · k² = 3 · 9


def test_conv_bad_inputs_are_named():
    with pytest.raises(ValueError, match="non-negative"):
        EIConv2d(1, 8, 3)(-torch.ones(2, 2, 1, 5, 5))
    with pytest.raises(ValueError, match="constant"):
        EIConv2d(1, 8, 3)(torch.zeros(2, 2, 1, 5, 5))
    with pytest.raises(ValueError, match="n_I"):
        EIConv2d(1, 3, 3)
    with pytest.raises(ValueError, match=r"\[T, B, 2, H, W\]"):
        EIConv2d(2, 8, 3)(torch.rand(2, 1, 3, 5, 5))
    with pytest.raises(ValueError, match=r"\[T, B, 2, H, W\]"):
        EIConv2d(2, 8, 3)(torch.rand(2, 2, 5, 5))
    with pytest.raises(ValueError, match="span"):
        EIConv2d(1, 8, 5)(torch.rand(2, 2, 1, 3, 3))
    with pytest.raises(ValueError, match="padding"):
        EIConv2d(1, 8, 3, padding=-1)
