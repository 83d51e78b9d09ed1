"""Each registered surrogate's derivative, pinned against its closed form written out here.

The closed forms below are transcribed from the papers the surrogates come from (not from
``spikeforge/surrogate/functions.py``), with their default constants stated explicitly, so a
changed constant or a slip in a formula fails here even when the derivative still matches its own
primitive (which is all the gradcheck in ``tests/contracts`` can see). The derivative is read
through the autograd path a neuron uses (``SpikeFn`` backward), in float64.
"""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.surrogate import SURROGATES, Custom


def _sigmoid(x: float, alpha: float) -> float:
    e = math.exp(-alpha * x)
    return alpha * e / (1.0 + e) ** 2  # d/dx 1/(1 + e^{-alpha x})


def _atan(x: float, alpha: float) -> float:
    # d/dx [atan(pi/2 alpha x)/pi + 1/2] (Fang et al. 2021, SpikingJelly's ATan)
    return (1.0 / math.pi) * (math.pi * alpha / 2.0) / (1.0 + (math.pi * alpha * x / 2.0) ** 2)


def _fast_sigmoid(x: float, slope: float) -> float:
    return (1.0 + slope * abs(x)) ** -2  # SuperSpike (Zenke & Ganguli 2018)


def _triangle(x: float, width: float) -> float:
    return max(0.0, (width - abs(x)) / width**2)  # unit-area triangle of half-width `width`


def _rectangle(x: float, width: float) -> float:
    return 1.0 / width if abs(x) < width / 2.0 else 0.0  # unit-area box of total width `width`


def _erf(x: float, sigma: float) -> float:
    return math.exp(-x * x / (2.0 * sigma * sigma)) / math.sqrt(2.0 * math.pi * sigma * sigma)


def _piecewise_quadratic(x: float, alpha: float) -> float:
    return alpha - alpha * alpha * abs(x) if abs(x) <= 1.0 / alpha else 0.0


def _q_pseudo_spike(x: float, q: float) -> float:  # Herranz-Celotti & Rouat 2022
    return (1.0 + 2.0 * abs(x) / (q - 1.0)) ** -q


def _pdsg(x: float, sigma: float) -> float:  # N(x; σ/2, σ²), Lun et al. 2025
    return math.exp(-((x - sigma / 2) ** 2) / (2.0 * sigma * sigma)) / math.sqrt(2.0 * math.pi * sigma * sigma)


def _custom_grad(x: torch.Tensor) -> torch.Tensor:
    return torch.exp(-x.abs())


# name -> (closed form, documented default constants, other constants)
CLOSED_FORMS = {
    "straight_through": (lambda x: 1.0, {}, None),
    "sigmoid": (_sigmoid, {"alpha": 4.0}, {"alpha": 1.5}),
    "atan": (_atan, {"alpha": 2.0}, {"alpha": 5.0}),
    "fast_sigmoid": (_fast_sigmoid, {"slope": 25.0}, {"slope": 3.0}),
    "triangle": (_triangle, {"width": 1.0}, {"width": 2.5}),
    "rectangle": (_rectangle, {"width": 1.0}, {"width": 2.0}),
    "erf": (_erf, {"sigma": 0.5}, {"sigma": 1.3}),
    "piecewise_quadratic": (_piecewise_quadratic, {"alpha": 1.0}, {"alpha": 2.0}),
    "q_pseudo_spike": (_q_pseudo_spike, {"q": 2.0}, {"q": 5.0}),
    "custom": (lambda x, grad_fn: math.exp(-abs(x)), {"grad_fn": _custom_grad}, None),
    "pdsg": (_pdsg, {"sigma": 1.0}, {"sigma": 0.3}),
}
# distances to threshold v - v_th: both sides, the centre, and past every kink of the defaults
POINTS = [-2.0, -0.9, -0.3, -0.05, 0.0, 0.04, 0.25, 0.7, 1.4]


def _autograd_derivative(sg, xs: list[float]) -> list[float]:
    x = torch.tensor(xs, dtype=torch.float64, requires_grad=True)
    sg(x).sum().backward()
    assert x.grad is not None
    return x.grad.tolist()


def test_every_registered_surrogate_has_a_closed_form():
    assert sorted(CLOSED_FORMS) == SURROGATES.names(), "add the new surrogate's closed form to CLOSED_FORMS"


@pytest.mark.parametrize("name", SURROGATES.names())
def test_default_constants_match_closed_form(name):
    fn, defaults, _ = CLOSED_FORMS[name]
    sg = Custom(**defaults) if name == "custom" else SURROGATES.create(name)  # no arguments: the defaults
    want = [fn(x, **defaults) for x in POINTS]
    assert _autograd_derivative(sg, POINTS) == pytest.approx(want, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", [n for n, (_, _, other) in CLOSED_FORMS.items() if other])
def test_non_default_constants_match_closed_form(name):
    fn, _, other = CLOSED_FORMS[name]
    sg = SURROGATES.create(name, **other)
    want = [fn(x, **other) for x in POINTS]
    assert _autograd_derivative(sg, POINTS) == pytest.approx(want, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name,x,value", [
    ("atan", 0.0, 1.0),                 # alpha / 2 at threshold
    ("atan", 1.0 / math.pi, 0.5),       # (pi/2 * 2 * 1/pi)^2 = 1 -> halved
    ("sigmoid", 0.0, 1.0),              # alpha / 4
    ("fast_sigmoid", 0.04, 0.25),       # 1 / (1 + 1)^2
    ("triangle", 0.25, 0.75),
    ("rectangle", 0.49, 1.0),
    ("rectangle", 0.51, 0.0),
    ("erf", 0.0, 1.0 / (0.5 * math.sqrt(2 * math.pi))),
    ("piecewise_quadratic", 0.5, 0.5),
])
def test_default_derivative_hand_values(name, x, value):
    assert _autograd_derivative(SURROGATES.create(name), [x]) == pytest.approx([value], rel=1e-12, abs=1e-15)
