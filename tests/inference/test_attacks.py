"""FGSM/PGD against closed forms, SDA's invariants (reference check 22), surrogate swapping for
the attacker, and PDSG's σ from the victim's membranes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.inference import (attack_success_rate, attack_surrogate, cw_margin, fgsm, logits_of, pdsg_for, pgd,
                                  sparse_dynamic_attack)
from spikeforge.monitors import trace
from spikeforge.surrogate.pdsg import PDSG, membrane_sigma


def test_fgsm_on_a_linear_model_is_the_closed_form_sign() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(6, 3).double()
    x = torch.rand(5, 6, dtype=torch.float64) * 0.6 + 0.2
    y = torch.tensor([0, 1, 2, 1, 0])
    p = torch.softmax(lin(x), 1)
    onehot = torch.nn.functional.one_hot(y, 3).double()
    grad = (p - onehot) @ lin.weight / 5  # d mean-CE / dx, by hand
    want = (x + 0.1 * grad.sign()).clamp(0, 1)
    assert torch.equal(fgsm(lin, x, y, 0.1), want)
    one = pgd(lin, x, y, 0.1, alpha=0.1, steps=1, random_start=False)
    assert torch.equal(one, want)


def test_pgd_stays_in_the_ball_and_box() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(10, 16), sf.LIF.from_decay(0.8), nn.Linear(16, 4), sf.LI.from_decay(0.9))
    x = torch.rand(6, 3, 10)  # time-major real-valued input
    y = torch.tensor([0, 1, 2])
    adv = pgd(net, x, y, 0.05, steps=5, generator=torch.Generator().manual_seed(0))
    assert float((adv - x).abs().max()) <= 0.05 + 1e-7 and adv.min() >= 0 and adv.max() <= 1
    with pytest.raises(ValueError, match="eps"):
        fgsm(net, x, y, 2.0)


def test_cw_margin_by_hand() -> None:
    z = torch.tensor([[3.0, 1.0, 2.5], [0.0, 2.0, 1.0]])
    assert cw_margin(z, torch.tensor([0, 0])).tolist() == [0.5, 0.0]


class SpikeCountReadout(nn.Module):
    """logits = W · (spike counts over time): a model whose margin each bit moves by a known step."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        return xs.sum(0) @ self.w.T  # [T, B, F] -> [B, K]


def test_sda_invariants_check_22() -> None:
    torch.manual_seed(2)
    model = SpikeCountReadout(torch.randn(3, 20))
    xs = (torch.rand(5, 1, 20) < 0.4).float()
    y = int(logits_of(model, xs).argmax(1))
    r = sparse_dynamic_attack(model, xs, y, k_init=2, max_iter=200)
    assert r.success
    assert bool(((r.adversarial == 0) | (r.adversarial == 1)).all())  # stays binary
    assert r.flips <= r.flips_before_reduction and r.flips == int((r.adversarial != xs).sum()) > 0
    assert int(logits_of(model, r.adversarial).argmax(1)) != y
    # a model that cannot be fooled: the input is returned unchanged
    frozen = SpikeCountReadout(torch.zeros(3, 20))
    frozen.w.data[0] = 0.0
    biased = nn.Sequential(frozen)
    biased.register_forward_hook(lambda m, i, o: o + torch.tensor([5.0, 0.0, 0.0]))
    r0 = sparse_dynamic_attack(biased, xs, 0, max_iter=5)
    assert not r0.success and torch.equal(r0.adversarial, xs) and r0.flips == 0
    with pytest.raises(ValueError, match="binary"):
        sparse_dynamic_attack(model, xs * 0.5, y)


def test_sda_reduction_removes_every_surplus_flip() -> None:
    """Check 22's reduction, by hand: 4 bits with Z_0-weight 1 are on, 6 bits with Z_1-weight 1 are
    off, so the margin is 4 and each of the 10 helpful flips lowers it by exactly 1. With k_init = 10
    generation keeps all 10 in its first iteration; 4 flips suffice, so reduction must undo 6."""
    w = torch.zeros(2, 10)
    w[0, :4] = 1.0
    w[1, 4:] = 1.0
    xs = torch.zeros(1, 1, 10)
    xs[0, 0, :4] = 1.0  # [T=1, B=1, 10]
    r = sparse_dynamic_attack(SpikeCountReadout(w), xs, 0, k_init=10, max_iter=5)
    assert r.success and r.iterations == 1
    assert r.flips_before_reduction == 10 and r.flips == 4
    with torch.no_grad():
        assert float(cw_margin(logits_of(SpikeCountReadout(w), r.adversarial), torch.tensor([0]))[0]) == 0.0


def test_sda_candidates_are_only_contributing_bits() -> None:
    """Generation keeps only bits whose flip moves along -g (``0 <= x - sign(g) <= 1``). Margin
    Z_0 - Z_1 = 0.5: bit 0 is off with g = +10 (turning it on would raise the margin), bit 1 off
    with g = -1 (on: margin -0.5), bit 2 on with g = +0.5. With k_init = 1 and one iteration the
    single candidate must be bit 1, not the larger-|g| bit 0 (which the finite difference would
    reject, leaving the attack without a flip)."""
    w = torch.tensor([[10.0, 0.0, 0.5], [0.0, 1.0, 0.0]])
    xs = torch.tensor([[[0.0, 0.0, 1.0]]])  # [T=1, B=1, 3]
    r = sparse_dynamic_attack(SpikeCountReadout(w), xs, 0, k_init=1, max_iter=1)
    assert r.success and r.iterations == 1 and r.flips == 1
    assert r.adversarial.flatten().tolist() == [0.0, 1.0, 1.0]


def test_sda_on_a_spiking_net_flips_few_bits() -> None:
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(16, 24), sf.LIF.from_decay(0.7), nn.Linear(24, 3), sf.LI.from_decay(0.9))
    xs = (torch.rand(6, 1, 16) < 0.5).float()
    y = int(logits_of(net, xs).argmax(1))
    r = sparse_dynamic_attack(net, xs, y, k_init=4, max_iter=100)
    assert r.success and int(logits_of(net, r.adversarial).argmax(1)) != y
    assert r.flips < xs.numel() // 4


def test_attack_surrogate_changes_gradient_not_forward_and_restores() -> None:
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(8, 12), sf.LIF.from_decay(0.8), nn.Linear(12, 3), sf.LI.from_decay(0.9))
    x, y = torch.rand(5, 2, 8), torch.tensor([0, 2])
    before = net[1].surrogate
    g0 = fgsm(net, x, y, 1e-3) - x
    out0 = net(x)
    with attack_surrogate(net, "rectangle"):
        assert net[1].surrogate != before
        assert torch.equal(net(x), out0)
        g1 = fgsm(net, x, y, 1e-3) - x
    assert net[1].surrogate == before
    assert not torch.equal(g0, g1)
    with pytest.raises(ValueError, match="no neuron layers"):
        with attack_surrogate(net, {"7": "atan"}):
            pass


def test_pdsg_sigma_is_the_membrane_spread() -> None:
    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(8, 12), sf.LIF.from_decay(0.8), nn.Linear(12, 3), sf.LI.from_decay(0.9))
    x = torch.rand(7, 4, 8)
    sgs = pdsg_for(net, x)
    assert set(sgs) == {"1"}  # the LI readout does not spike
    _, states = trace(net[1], net[0](x).detach())
    assert isinstance(sgs["1"], PDSG)
    assert sgs["1"].sigma == pytest.approx(float(membrane_sigma(states.v)))


def test_attack_success_rate_counts_only_correct_samples() -> None:
    model = SpikeCountReadout(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    xs = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]])  # T=1, B=3: predictions 0, 1, 0
    y = torch.tensor([0, 1, 1])  # the third is already wrong
    flip_all = lambda m, x, t: 1 - x  # noqa: E731 - swaps the two features: every correct sample fooled
    assert attack_success_rate(model, xs, y, flip_all, batch_dim=1) == 1.0
    keep = lambda m, x, t: x  # noqa: E731
    assert attack_success_rate(model, xs, y, keep, batch_dim=1) == 0.0
