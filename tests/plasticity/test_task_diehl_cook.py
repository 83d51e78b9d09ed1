"""Diehl & Cook task: the reference's check 10 invariants, the readout, and that STDP learns class prototypes."""

from __future__ import annotations

import math

import torch

from spikeforge.plasticity.tasks.diehl_cook import (DCConfig, DCState, DiehlCook, assign_labels, dc_step,
                                                    inhibition_matrix, predict)



def _images(n: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 64, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_every_presentation_starts_from_normalised_columns():
    sums = []

    class Recording(DiehlCook):
        def present(self, xs, *, learn, adapt):
            sums.append(self.w.sum(1).clone())
            return super().present(xs, learn=learn, adapt=adapt)

    cfg = DCConfig(n_exc=6, steps=20, norm_total=12.0, min_spikes=1000, max_retries=2)  # forces 3 presentations
    net = Recording(cfg, dtype=torch.float64)
    net.train_example(_images(1), torch.Generator().manual_seed(1))
    assert len(sums) == 3
    for s in sums:
        assert torch.allclose(s, torch.full_like(s, 12.0), rtol=0, atol=1e-9)
    assert not torch.allclose(net.w.sum(1), torch.full((6,), 12.0, dtype=torch.float64), atol=1e-6)  # STDP moved them


def test_theta_rises_by_exactly_theta_plus_per_spike():
    cfg = DCConfig(n_exc=8, steps=30, tau_theta=math.inf, theta_plus=0.05)
    net = DiehlCook(cfg, dtype=torch.float64)
    xs = net.encode(_images(2), 3.0, torch.Generator().manual_seed(0))
    counts = net.present(xs, learn=False, adapt=True)
    assert counts.sum() > 0
    assert torch.allclose(net.theta, 0.05 * counts.sum(0), rtol=0, atol=1e-12)
    before = net.theta.clone()
    net.present(xs, learn=False, adapt=False)  # frozen at test time
    assert torch.equal(net.theta, before)


def test_inhibition_is_all_but_diagonal():
    w_ie = inhibition_matrix(5, 17.5, torch.float64)
    assert torch.equal(w_ie.diagonal(), torch.zeros(5, dtype=torch.float64))
    assert torch.equal(w_ie + 17.5 * torch.eye(5, dtype=torch.float64), torch.full((5, 5), 17.5, dtype=torch.float64))
    cfg = DCConfig(n_exc=5, n_input=3)
    z_prev = torch.tensor([[0.0, 1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)  # neuron 1 fired last step
    state = DCState(v=torch.full((1, 5), cfg.v_rest, dtype=torch.float64),
                    refrac=torch.zeros(1, 5, dtype=torch.int64), z=z_prev)
    z, new = dc_step(torch.zeros(1, 3, dtype=torch.float64), state, torch.zeros(5, 3, dtype=torch.float64), w_ie,
                     torch.zeros(5, dtype=torch.float64), cfg)
    expect = torch.full((1, 5), cfg.v_rest - 17.5, dtype=torch.float64)
    expect[0, 1] = cfg.v_rest  # its partner does not inhibit it
    assert torch.allclose(new.v, expect) and z.sum() == 0


def test_plasticity_off_same_rng_gives_identical_counts_and_stdp_changes_weights():
    net = DiehlCook(DCConfig(n_exc=8, steps=30), dtype=torch.float64)
    x = _images(4)
    w0 = net.w.clone()
    a = net.respond(x, torch.Generator().manual_seed(3))
    b = net.respond(x, torch.Generator().manual_seed(3))
    assert a.sum() > 0 and torch.equal(a, b) and torch.equal(net.w, w0)
    net.present(net.encode(x, 1.0, torch.Generator().manual_seed(3)), learn=True, adapt=False)
    assert not torch.equal(net.w, w0)


def test_readout_labels_and_predicts_by_mean_response():
    counts = torch.tensor([[5.0, 0.0, 1.0], [4.0, 1.0, 0.0], [0.0, 3.0, 6.0], [1.0, 5.0, 2.0]])
    labels = torch.tensor([0, 0, 1, 1])
    a = assign_labels(counts, labels, 3)
    assert a.tolist() == [0, 1, 1]  # neuron 2: mean 0.5 for class 0, 4 for class 1
    pred = predict(torch.tensor([[9.0, 1.0, 1.0], [0.0, 2.0, 0.0]]), a, 3)
    assert pred.tolist() == [0, 1]  # class 2 has no neurons and never wins


def test_stdp_weights_move_towards_class_prototypes():
    from spikeforge.plasticity.tasks._data import digits_split

    x, y, _, _ = digits_split()
    x, y = x[:96].double(), y[:96]
    protos = torch.stack([x[y == c].mean(0) for c in range(10) if bool((y == c).any())])  # [C, 64]

    def match(w: torch.Tensor) -> float:  # mean over neurons of the best cosine with a class prototype
        wn = w / w.norm(dim=1, keepdim=True)
        pn = protos / protos.norm(dim=1, keepdim=True)
        return float((wn @ pn.T).max(1).values.mean())

    net = DiehlCook(DCConfig(n_exc=10, steps=30), dtype=torch.float64)
    start = match(net.w)
    net.fit(x, torch.Generator().manual_seed(0), batch=8)
    assert match(net.w) > start + 0.1, (start, match(net.w))  # STDP pulls weights onto digit shapes
    baseline = DiehlCook(DCConfig(n_exc=10, steps=10, stdp=False), dtype=torch.float64)
    w0 = baseline.w.clone()
    baseline.fit(x[:16], torch.Generator().manual_seed(0), batch=8)
    assert torch.allclose(baseline.w, w0, rtol=1e-12, atol=0)  # the random projection stays fixed
    assert baseline.theta.sum() > 0  # while its thresholds adapt
