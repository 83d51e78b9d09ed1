"""Meta neuron: LIF dynamics (exact exponential integration) with every intrinsic parameter learned."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.neurons import NEURONS, LIFParams
from spikeforge.neurons.meta import META_LEARN, MetaNeuron


def test_golden_trajectory_float64():
    p = dict(tau_mem=2e-3, r=2.5, v_leak=0.1, v_th=0.8, v_reset=-0.2)
    meta = MetaNeuron(**p, dtype=torch.float64)
    xs = torch.tensor([0.5, 0.9, 0.0, 1.2, 0.3, 0.0, 1.0, 1.0, 1.0], dtype=torch.float64).view(9, 1, 1)
    zs, _ = meta.run(xs)
    a = math.exp(-1e-3 / p["tau_mem"])  # exact solution for input held over the step
    v, ref = 0.1, []
    for x in xs.flatten().tolist():
        v = a * v + (1 - a) * (p["v_leak"] + p["r"] * x)
        z = float(v > p["v_th"])
        ref.append(z)
        v = p["v_reset"] if z else v
    assert zs.flatten().tolist() == ref and sum(ref) > 0


def test_every_intrinsic_parameter_is_learned():
    meta = NEURONS.create("meta", size=4)
    # every intrinsic field of the LIF parameters, named independently of META_LEARN
    assert set(META_LEARN) == set(LIFParams._fields) == {"tau_mem", "r", "v_leak", "v_th", "v_reset"}
    assert {n for n, _ in meta.named_parameters()} == set(LIFParams._fields)
    xs = (torch.rand(30, 8, 4, generator=torch.Generator().manual_seed(1)) * 3).requires_grad_()
    meta(xs).sum().backward()
    for name in META_LEARN:
        g = getattr(meta, name).grad
        assert g is not None and g.abs().sum() > 0, name


def test_learned_tau_stays_valid_with_exp_integrator():
    meta = MetaNeuron(tau_mem=0.5e-3, size=2)  # dt > tau: refused by Euler, exact with exp
    assert meta(torch.rand(5, 1, 2)).shape == (5, 1, 2)
    with pytest.raises(ValueError):
        MetaNeuron(tau_mem=0.5e-3, integrator="euler")
