"""Contract tests over every registered surrogate."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
import torch

from spikeforge.surrogate import SURROGATES, Custom, SpikeFn, Surrogate


def _exp_grad(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.exp(-x.abs())


def _exp_primitive(x: torch.Tensor) -> torch.Tensor:
    # d/dx: 0.5 exp(-|x|); range 0..1
    return torch.where(x < 0, 0.5 * torch.exp(x), 1 - 0.5 * torch.exp(-x))


def _make(name: str) -> Surrogate:
    if name == "custom":
        return Custom(grad_fn=_exp_grad, primitive_fn=_exp_primitive)
    return SURROGATES.create(name)


NAMES = SURROGATES.names()


class _Smooth(torch.autograd.Function):
    """primitive() forward, grad() backward: gradcheck verifies grad is primitive's derivative."""

    @staticmethod
    def forward(ctx, x, sg):
        ctx.save_for_backward(x)
        ctx.sg = sg
        return sg.primitive(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ctx.sg.grad(x), None


@pytest.mark.parametrize("name", NAMES)
def test_backward_is_derivative_of_primitive_gradcheck(name, gen):
    sg = _make(name)
    # avoid the kinks of piecewise surrogates by sampling away from them
    x = (torch.rand(64, dtype=torch.float64, generator=gen) * 3 - 1.5)
    kinks = torch.tensor([-1.0, -0.5, 0.5, 1.0, 0.0], dtype=torch.float64)
    x = x[(x[:, None] - kinks).abs().min(1).values > 1e-3].requires_grad_()
    assert torch.autograd.gradcheck(lambda t: _Smooth.apply(t, sg), (x,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_spike_forward_is_strict_heaviside_and_backward_uses_grad(name):
    sg = _make(name)
    x = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 0.3], dtype=torch.float64, requires_grad=True)
    z = sg(x)
    assert z.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    w = torch.arange(1.0, 6.0, dtype=torch.float64)
    (z * w).sum().backward()
    torch.testing.assert_close(x.grad, w * sg.grad(x.detach()))
    assert SpikeFn.apply(x, sg).dtype == torch.float64


@pytest.mark.parametrize("name", NAMES)
def test_frozen_and_picklable(name):
    sg = _make(name)
    assert pickle.loads(pickle.dumps(sg)) == sg
    if dataclasses.fields(sg):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(sg, dataclasses.fields(sg)[0].name, 1.0)


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("custom", "straight_through")])
def test_width_parameter_must_be_positive(name):
    cls = SURROGATES.get(name)
    field = dataclasses.fields(cls)[0].name
    with pytest.raises(ValueError, match=field):
        cls(**{field: -1.0})


@pytest.mark.parametrize("name", NAMES)
def test_grad_peaks_at_threshold(name):
    sg = _make(name)
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    g = sg.grad(x)
    assert (g >= 0).all()
    peak = float(getattr(sg, "peak", 0.0))  # where the derivative is largest: the threshold, except PDSG (σ/2)
    assert g[round((peak + 2) * 100)] == g.max()
