"""Continual-learning and SSDP+BPTT tasks: metrics by hand, task construction, HLOP protects old tasks,
SSDP is applied (and is inert at zero amplitude)."""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.plasticity.tasks._data import digits_split
from spikeforge.plasticity.tasks.continual import ContinualConfig, acc_bwt, make_tasks, run_continual
from spikeforge.plasticity.tasks.ssdp_backprop import SSDPRunConfig, annealed, run_ssdp_backprop



def test_acc_and_bwt_by_hand():
    r = torch.tensor([[0.9, 0.1, 0.0], [0.7, 0.8, 0.2], [0.6, 0.5, 0.9]], dtype=torch.float64)
    acc, bwt = acc_bwt(r)
    assert acc == pytest.approx((0.6 + 0.5 + 0.9) / 3)
    assert bwt == pytest.approx(((0.6 - 0.9) + (0.5 - 0.8)) / 2)


def test_split_tasks_are_disjoint_pairs_and_permuted_tasks_permute_pixels():
    tasks = make_tasks(ContinualConfig())
    assert [t.classes.tolist() for t in tasks] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    for t in tasks:
        assert set(t.y_train.unique().tolist()) == set(t.classes.tolist()) == set(t.y_test.unique().tolist())
    perm = make_tasks(ContinualConfig(scenario="permuted", n_tasks=3))
    assert torch.equal(perm[0].y_train, perm[1].y_train)
    assert not torch.equal(perm[0].x_train, perm[1].x_train)
    assert torch.equal(perm[0].x_train.sort(1).values, perm[1].x_train.sort(1).values)  # same pixels, moved


def test_hlop_forgets_less_than_finetuning():
    cfg = ContinualConfig(epochs=3, hidden=48)
    ft = run_continual(cfg, "finetune")
    hl = run_continual(cfg, "hlop")
    assert float(hl["BWT"]) > float(ft["BWT"]) + 0.03, (ft["BWT"], hl["BWT"])  # type: ignore[arg-type]
    r = hl["R"]
    assert isinstance(r, torch.Tensor) and r.shape == (5, 5) and float(r.diagonal().min()) > 0.8  # still learns


def test_ssdp_annealing_factor():
    cfg = SSDPRunConfig(ssdp_start=10, anneal_epochs=20, eta_min=0.5)
    assert annealed(cfg, 3).a_plus == cfg.a_plus
    assert annealed(cfg, 20).a_plus == pytest.approx(cfg.a_plus * 0.75)
    assert annealed(cfg, 30).sigma == pytest.approx(0.5) and annealed(cfg, 60).sigma == pytest.approx(0.5)
    assert not math.isnan(annealed(cfg, 10).a_base)


def test_ssdp_after_optimizer_step_is_applied_and_inert_at_zero_amplitude():
    x_tr, y_tr, x_te, y_te = digits_split()
    data = (x_tr[:128], y_tr[:128], x_te[:64], y_te[:64])
    base = SSDPRunConfig(hidden=32, steps=8, epochs=2, ssdp_start=1, batch=64)
    off = run_ssdp_backprop(SSDPRunConfig(**{**base.__dict__, "ssdp": False}), data)
    zero = run_ssdp_backprop(SSDPRunConfig(**{**base.__dict__, "a_plus": 0.0, "a_base": 0.0}), data)
    on = run_ssdp_backprop(SSDPRunConfig(**{**base.__dict__, "a_plus": 0.05, "a_base": 0.05}), data)
    assert off["test_acc"] == zero["test_acc"] and zero["ssdp_abs_change"] == 0.0
    assert on["ssdp_abs_change"] > 0
