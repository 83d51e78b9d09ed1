"""Weight fake-quantization against float64 hand computations, exact grids, STE gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.quant import QUANTIZERS, LSQ, BinaryQuant, IntQuant, TernaryQuant, TWNQuant


def _w(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen)


def _hand_int(w: np.ndarray, bits: int, symmetric: bool, per_channel: bool) -> np.ndarray:
    """float64 numpy, written from the formulas of the reference (§3.1.5) independently of the code."""
    axes = tuple(range(1, w.ndim)) if per_channel else None
    if symmetric:
        qmax = 2 ** (bits - 1) - 1
        s = np.abs(w).max(axis=axes, keepdims=True) / qmax
        return np.clip(np.round(w / s), -qmax, qmax) * s
    qmax = 2**bits - 1
    hi = np.maximum(w.max(axis=axes, keepdims=True), 0)
    lo = np.minimum(w.min(axis=axes, keepdims=True), 0)
    s = (hi - lo) / qmax
    z = np.round(-lo / s)
    return (np.clip(np.round(w / s) + z, 0, qmax) - z) * s


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("per_channel", [True, False])
def test_int_quant_matches_float64_hand_computation(gen, bits, symmetric, per_channel) -> None:
    w = _w(gen, 6, 5, 3).double()
    q = IntQuant(bits=bits, symmetric=symmetric, per_channel=per_channel).q(w)
    np.testing.assert_allclose(q.numpy(), _hand_int(w.numpy(), bits, symmetric, per_channel), rtol=0, atol=1e-12)


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_int_quant_integer_grid_membership(gen, bits, symmetric) -> None:
    w = _w(gen, 8, 16)
    iw = IntQuant(bits=bits, symmetric=symmetric, per_channel=True).to_int(w)
    v = iw.values.long()
    lo, hi = (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if symmetric else (0, 2**bits - 1)
    assert int(v.min()) >= lo and int(v.max()) <= hi
    assert len(torch.unique(v)) <= 2**bits
    # the integers times the scale are exactly the fake-quantized weight (float32)
    assert torch.equal(iw.dequantize(), IntQuant(bits=bits, symmetric=symmetric, per_channel=True).q(w))
    # each channel's extreme lands on the end of the grid (the scale comes from max/min)
    if symmetric:
        assert torch.equal(v.abs().amax(dim=1), torch.full((8,), hi))
    assert iw.scale.shape == (8, 1)  # per output channel, broadcast over the input dim


def test_ste_gradient_is_identity(gen) -> None:
    for quant in (IntQuant(4), IntQuant(3, symmetric=False, per_channel=True), BinaryQuant(), TernaryQuant(),
                  TWNQuant()):
        w = _w(gen, 5, 7).requires_grad_()
        g = torch.randn(5, 7, generator=gen)
        (quant.q(w) * g).sum().backward()
        assert torch.equal(w.grad, g), quant


def test_ternary_absmean_closed_form_and_not_idempotent(gen) -> None:
    w = _w(gen, 32, 16).double()
    gamma = w.abs().mean()
    q = TernaryQuant().q(w)
    ratio = q / gamma
    assert set(ratio.unique().tolist()) <= {-1.0, 0.0, 1.0}  # check 11
    expected = torch.where(w.abs() < gamma / 2, 0.0, torch.sign(w)) * gamma  # round(w/γ) clipped to [-1, 1]
    torch.testing.assert_close(q, expected, rtol=0, atol=1e-15)
    q2 = TernaryQuant().q(q)
    assert torch.equal(torch.sign(q2), torch.sign(q))  # signs kept
    assert not torch.allclose(q2.abs().max(), q.abs().max())  # scale changes: zeros lower the mean


def test_binary_per_channel_alpha(gen) -> None:
    w = _w(gen, 4, 9).double()
    alpha = w.abs().mean(dim=1, keepdim=True)
    torch.testing.assert_close(BinaryQuant().q(w), alpha * torch.where(w >= 0, 1.0, -1.0).double(), rtol=0, atol=0)


def test_twn_closed_form() -> None:
    w = torch.tensor([0.9, -0.1, 0.4, -0.8, 0.05, 0.0], dtype=torch.float64)
    delta = 0.7 * w.abs().mean()  # 0.7 * 2.25 / 6 = 0.2625
    kept = w.abs() > delta  # 0.9, 0.4, -0.8
    alpha = (0.9 + 0.4 + 0.8) / 3
    assert kept.tolist() == [True, False, True, True, False, False]
    torch.testing.assert_close(TWNQuant().q(w), torch.tensor([alpha, 0, alpha, -alpha, 0, 0], dtype=torch.float64))


def test_lsq_forward_and_gradients_against_hand(gen) -> None:
    quant = LSQ(bits=3, per_channel=False)  # Q_p = 3
    w = torch.tensor([0.05, -0.31, 0.52, 2.0, -1.7], dtype=torch.float64, requires_grad=True)
    s = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    q = quant.q(w, s)
    v = w.detach() / 0.2  # [0.25, -1.55, 2.6, 10, -8.5]
    vc = v.clamp(-3, 3)
    torch.testing.assert_close(q.detach(), torch.round(vc) * 0.2)
    q.sum().backward()
    inside = (v > -3) & (v < 3)
    torch.testing.assert_close(w.grad, inside.double())  # STE masked to the clip range
    # LSQ step gradient: round(v) - v inside, ±Q_p outside, scaled by 1 / sqrt(N Q_p)
    dq_ds = torch.where(inside, torch.round(v) - v, vc)
    torch.testing.assert_close(s.grad, dq_ds.sum() / math.sqrt(5 * 3))


def test_lsq_init_and_per_channel_shape(gen) -> None:
    w = _w(gen, 6, 10)
    step = LSQ(bits=4).init_step(w)
    assert step.shape == (6, 1)
    torch.testing.assert_close(step, 2 * w.abs().mean(dim=1, keepdim=True) / math.sqrt(7))
    iw = LSQ(bits=4).to_int(w, step)
    assert torch.equal(iw.dequantize(), LSQ(bits=4).q(w, step))


def test_registry_and_bad_input() -> None:
    assert {"int", "lsq", "binary", "ternary", "twn"} <= set(QUANTIZERS.names())
    assert QUANTIZERS.create("int", bits=4) == IntQuant(bits=4)
    with pytest.raises(ValueError, match="BinaryQuant for 1 bit"):
        IntQuant(bits=1)
    with pytest.raises(ValueError, match="bits must be an int"):
        IntQuant(bits=4.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN/inf"):
        IntQuant(4).q(torch.tensor([1.0, float("nan")]))
    with pytest.raises(TypeError, match="floating-point"):
        TernaryQuant().q(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="learnable step"):
        LSQ().q(torch.ones(2, 2))
    with pytest.raises(ValueError, match="output-channel dim"):
        IntQuant(4, per_channel=True).q(torch.ones(3))
    assert torch.equal(IntQuant(4).q(torch.zeros(3, 3)), torch.zeros(3, 3))  # no NaN from a zero scale
