"""BitLinear against a float64 hand computation of RMSNorm → 8-bit absmax → absmean ternary."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.quant import BitLinear, absmax_quantize, export_quantized


def _hand_bitlinear(x: np.ndarray, w: np.ndarray, g: np.ndarray) -> np.ndarray:
    h = x / np.sqrt((x**2).mean(-1, keepdims=True) + 1e-8) * g
    s = 127.0 / np.abs(h).max(-1, keepdims=True)
    hq = np.clip(np.round(h * s), -128, 127) / s
    gamma = max(np.abs(w).mean(), 1e-5)
    wq = np.clip(np.round(w / gamma), -1, 1) * gamma
    return hq @ wq.T


def test_bitlinear_matches_float64_hand(gen) -> None:
    layer = BitLinear(12, 5, dtype=torch.float64)
    with torch.no_grad():
        layer.norm_weight.copy_(torch.rand(12, generator=gen, dtype=torch.float64) + 0.5)
    xs = torch.randn(7, 3, 12, generator=gen, dtype=torch.float64)  # [T, B, in]
    out = layer(xs)
    hand = _hand_bitlinear(xs.numpy(), layer.weight.detach().numpy(), layer.norm_weight.detach().numpy())
    np.testing.assert_allclose(out.detach().numpy(), hand, rtol=0, atol=1e-12)


def test_weights_are_ternary_times_absmean_and_init(gen) -> None:
    torch.manual_seed(3)
    layer = BitLinear(64, 32)
    bound = 2**-2.5 * (6 / (64 + 32)) ** 0.5  # xavier-uniform with gain 2^-2.5
    w = layer.weight.detach()
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > 0.9 * bound
    wq = layer.quantized_weight().detach()
    gamma = w.abs().mean()
    assert set((wq / gamma).round().unique().tolist()) <= {-1.0, 0.0, 1.0}
    torch.testing.assert_close(wq.abs().max(), gamma)
    blob = export_quantized(torch.nn.Sequential(layer))
    assert set(blob["0.weight_int"].unique().tolist()) <= {-1, 0, 1} and "0.norm_weight" in blob


def test_absmax_8bit_error_bound(gen) -> None:
    x = torch.randn(50, 33, generator=gen, dtype=torch.float64) * torch.rand(50, 1, generator=gen, dtype=torch.float64)
    xq = absmax_quantize(x)
    bound = x.abs().amax(dim=-1, keepdim=True) / 254  # check 12, per token
    assert bool(((xq - x).abs() <= bound * (1 + 1e-12)).all())
    s = 127 / x.abs().amax(dim=-1, keepdim=True)
    ints = xq * s
    assert torch.allclose(ints, ints.round(), atol=1e-9) and float(ints.abs().max()) <= 127 + 1e-9
    # a token's quantization depends only on itself
    x2 = x.clone()
    x2[0] *= 100
    assert torch.equal(absmax_quantize(x2)[1:], xq[1:])


def test_ste_gradients_reach_weight_input_and_gain(gen) -> None:
    layer = BitLinear(8, 4, bias=True)
    x = torch.randn(5, 2, 8, generator=gen, requires_grad=True)
    layer(x).square().sum().backward()
    for t in (x.grad, layer.weight.grad, layer.norm_weight.grad, layer.bias.grad):
        assert t is not None and bool(torch.isfinite(t).all()) and t.abs().sum() > 0
    # with the roundings straight-through, the weight gradient is that of y = x_q W_q^T w.r.t. W_q
    layer.zero_grad()
    y = layer(x.detach())
    g = torch.randn_like(y)
    (y * g).sum().backward()
    from spikeforge.quant import rms_norm
    xq = absmax_quantize(rms_norm(x.detach()) * layer.norm_weight.detach())
    torch.testing.assert_close(layer.weight.grad, (g.reshape(-1, 4).T @ xq.reshape(-1, 8)), rtol=1e-5, atol=1e-5)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="last dim 8"):
        BitLinear(8, 4)(torch.rand(3, 2, 7))
    with pytest.raises(ValueError, match="bits"):
        BitLinear(8, 4, act_bits=1)
