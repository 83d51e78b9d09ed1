"""E/I self-adapting reservoir: check 24 (rates reach heterogeneous targets; δ = 0 changes nothing), check 25
(Dale's law kept by the plasticity), and the one-shot rescaling's fixed point (exact, derived from the update)."""

from __future__ import annotations

import pytest
import torch

from spikeforge.reservoir.ei import EIParams, EIReservoir, EIState, ei_step, inhibitory_plasticity


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny per-step ops (tests/conftest.py)


def _setup(n: int = 80) -> tuple[EIReservoir, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    res = EIReservoir(n, 1, density=0.2, exc_scale=2.0, inh_scale=2.0, seed=0)
    rho = 0.1 + 0.3 * torch.rand(n, generator=g, dtype=torch.float64)  # heterogeneous targets in [0.1, 0.4]
    u = torch.rand(7000, 1, 1, generator=g, dtype=torch.float64)  # stationary i.i.d. input
    return res, rho, u


def test_check24_rates_reach_heterogeneous_targets() -> None:
    res, rho, u = _setup()
    before, _ = res(u[5000:])
    assert (before.mean((0, 1)) - rho).abs().max() > 0.2  # far off before adapting
    a_exc0 = res.a_exc.clone()
    _, s = res.adapt(u[:2500], rho, delta=0.05)
    _, s = res.adapt(u[2500:5000], rho, delta=0.005, state=s)  # smaller δ: A^I fluctuates less when frozen
    after, _ = res(u[5000:], s)  # frozen weights, 2000 more steps of the same input process
    err = (after.mean((0, 1)) - rho).abs()
    assert err.max() < 0.02, err.max()
    # check 25: Dale's law and the structure kept; excitation untouched
    assert (res.a_inh >= 0).all() and (res.a_inh[~res.mask_inh] == 0).all()
    assert torch.equal(res.a_exc, a_exc0)


def test_check24_zero_delta_changes_nothing() -> None:
    res, rho, u = _setup(40)
    a_inh0 = res.a_inh.clone()
    r_adapt, _ = res.adapt(u[:300], rho, delta=0.0)
    r_plain, _ = res(u[:300])
    assert torch.equal(res.a_inh, a_inh0) and torch.equal(r_adapt, r_plain)


def test_plasticity_rule_by_hand() -> None:
    r = torch.tensor([[0.5, 0.1], [0.3, 0.3]], dtype=torch.float64)  # batch mean [0.4, 0.2]
    mask = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    da = inhibitory_plasticity(r, torch.tensor([0.2, 0.2], dtype=torch.float64), mask, 0.5)
    torch.testing.assert_close(da, torch.tensor([[0.0, 0.1], [0.0, 0.0]], dtype=torch.float64))


def test_one_shot_rescaling_makes_target_a_fixed_point() -> None:
    res = EIReservoir(50, 2, density=0.3, exc_scale=2.0, inh_scale=2.0, input_sign="positive", leak=0.3, seed=2)
    res.params = EIParams(leak=0.3, theta=0.5, gain=2.0)
    rho = torch.full((50,), 0.2, dtype=torch.float64)  # homogeneous target
    u_mean = torch.tensor([0.4, 0.7], dtype=torch.float64)
    omega = res.rescale_inhibition(rho, u_mean)
    assert (omega > 0).all() and (res.a_inh >= 0).all()
    v_star = 0.5 + torch.log(rho / (1 - rho)) / 2.0  # θ + φ⁻¹(ρ)
    r, s = ei_step(u_mean[None], EIState(v=v_star[None], r=rho[None]), res.a_exc, res.a_inh, res.w_in, res.params)
    torch.testing.assert_close(s.v[0], v_star, rtol=0, atol=1e-12)
    torch.testing.assert_close(r[0], rho, rtol=0, atol=1e-12)
