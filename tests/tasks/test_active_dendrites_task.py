"""The permuted-digits continual-learning task of active dendrites (``spikeforge.tasks.active_dendrites``):
its ingredients checked against hand computations (permutations, prototype contexts, nearest-prototype
task inference, k-WTA keeping exactly k, the segment init's response scale, contexts routing inputs to
different units), and a tiny run of every model, non-spiking and spiking. The full run is in
docs/research_neurons.md."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikeforge.tasks.active_dendrites import (
    MODELS,
    CLConfig,
    ContextNet,
    infer_task,
    init_paper_,
    init_segments_,
    main,
    make_tasks,
    run,
    train_task,
)


def test_permutations_and_prototype_contexts():
    cfg = CLConfig(tasks=4, seed=3)
    tasks = make_tasks(cfg)
    x = tasks.x_train.numpy()
    F = x.shape[1]
    perms = tasks.perms.numpy()
    for p in perms:
        assert sorted(p.tolist()) == list(range(F))  # a permutation of the features
    assert len({tuple(p) for p in perms}) == 4  # one per task
    for t, p in enumerate(perms):  # prototype = mean training input of the task, feature by feature
        want = [float(np.mean(x[:, p[i]])) for i in range(F)]  # column p[i] of the unpermuted data
        np.testing.assert_allclose(tasks.contexts[t].numpy(), want, rtol=0, atol=1e-5)
        xt, yt = tasks.inputs(t, "test")
        np.testing.assert_array_equal(xt.numpy(), tasks.x_test.numpy()[:, p])
        assert torch.equal(yt, tasks.y_test)
    d = torch.cdist(tasks.contexts, tasks.contexts)
    assert (d + torch.eye(4) * 1e9).min() > 0.5  # contexts differ per task
    centered = make_tasks(CLConfig(tasks=4, seed=3, context="centered")).contexts
    torch.testing.assert_close(centered, tasks.contexts - tasks.contexts.mean(1, keepdim=True))
    assert torch.equal(make_tasks(CLConfig(tasks=3, context="onehot")).contexts, torch.eye(3))
    with pytest.raises(ValueError, match="context must be"):
        make_tasks(CLConfig(context="task_id"))


def test_nearest_prototype_infers_the_task():
    assert infer_task(torch.tensor([[0.9, 0.1], [0.0, 2.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])).tolist() == [0, 1]
    tasks = make_tasks(CLConfig(tasks=5))
    for t in range(5):
        x, _ = tasks.inputs(t, "test")
        assert (infer_task(x, tasks.contexts) == t).float().mean() > 0.95


@pytest.mark.parametrize("kind", ["kwta", "dendrites"])
def test_kwta_keeps_exactly_k(gen, kind):
    cfg = CLConfig(tasks=3, hidden=40, k_fraction=0.1)
    net = ContextNet(kind, 64, 64, cfg)
    acts = net.hidden_activity(torch.rand(1, 7, 64, generator=gen), torch.rand(7, 64, generator=gen))
    for a in acts:  # [T, B, 40]
        assert a.shape == (1, 7, 40) and ((a != 0).sum(-1) == 4).all()


def test_segment_init_scale_and_context_routing(gen):
    contexts = make_tasks(CLConfig(tasks=5)).contexts  # prototypes [5, 64]
    net = ContextNet("dendrites", 64, 64, CLConfig(tasks=5, hidden=200))
    init_segments_(net, contexts, 3.0)
    seg = net.hidden[0].segments.detach()  # [J, K, C]
    resp = torch.einsum("nc,jkc->njk", contexts, seg)
    assert resp.std().item() == pytest.approx(3.0, rel=0.1)
    # the same input under two task contexts switches on different units (one-hot contexts: 10 of 20
    # shared for this seed; a net that ignored its context would share all 20)
    cfg = CLConfig(tasks=5, hidden=200, context="onehot")
    onehot = make_tasks(cfg).contexts
    net = ContextNet("dendrites", 64, 5, cfg)
    init_segments_(net, onehot, 3.0)
    x = torch.rand(1, 1, 64, generator=gen)
    on = [set((net.hidden_activity(x, onehot[t:t + 1])[0][0, 0] != 0).nonzero().flatten().tolist()) for t in (0, 1)]
    assert len(on[0]) == len(on[1]) == 20 and len(on[0] & on[1]) < 15


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("spiking", [False, True])
def test_tiny_run(model, spiking):
    cfg = CLConfig(tasks=2, hidden=16, epochs=1, batch=128, spiking=spiking, steps=2)
    r = run(model, cfg)
    assert len(r["final_accuracy"]) == len(r["just_learned"]) == 2
    assert all(0.0 <= a <= 1.0 for a in r["final_accuracy"] + r["just_learned"])
    assert r["task_inference"] == 1.0  # nearest prototype finds the task of every digits test sample
    assert r["mean_accuracy"] == pytest.approx(float(np.mean(r["final_accuracy"])))
    assert r["forgetting"] == pytest.approx(r["just_learned"][0] - r["final_accuracy"][0])
    if not spiking:  # the last task is scored twice by the same net on the same (static) input
        assert r["just_learned"][-1] == r["final_accuracy"][-1]


def test_cli(capsys):
    rows = main(["--tasks", "2", "--hidden", "8", "--epochs", "1", "--models", "mlp", "dendrites"])
    assert [r["model"] for r in rows] == ["mlp", "dendrites"]
    assert "dendrites       mean over 1 seeds:" in capsys.readouterr().out


def test_standardized_prototype_is_the_centered_one_over_sigma():
    # the paper's dataset normalises pixels by one mean and std; a permutation keeps an image's mean, so
    # each standardized prototype has zero feature mean and equals the centered prototype divided by σ
    raw = make_tasks(CLConfig(tasks=3, seed=1, context="centered", inputs="raw"))
    std = make_tasks(CLConfig(tasks=3, seed=1, inputs="standardized"))
    x = raw.x_train.double()  # float64 reference for μ, σ
    mu, sigma = float(x.mean()), float(x.std())
    assert std.shift == pytest.approx(mu, rel=1e-5) and std.scale == pytest.approx(sigma, rel=1e-5)
    torch.testing.assert_close(std.contexts.double(), raw.contexts.double() / sigma, rtol=0, atol=1e-5)
    assert std.contexts.mean(1).abs().max() < 1e-5
    torch.testing.assert_close(std.x_test.double(), (raw.x_test.double() - mu) / sigma, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="inputs must be"):
        make_tasks(CLConfig(inputs="zscore"))
    with pytest.raises(ValueError, match="weight_sparsity"):
        make_tasks(CLConfig(weight_sparsity=1.0))


def test_fixed_weight_sparsity_and_paper_init():
    cfg = CLConfig(tasks=2, hidden=40, k_fraction=0.1, weight_sparsity=0.5, init="paper")
    torch.manual_seed(0)
    net = ContextNet("dendrites", 64, 64, cfg)
    masks = [m.clone() for m in (net.mask0, net.mask1, net.mask2)]
    init_paper_(net, cfg)
    fan_in = [64, 40, 40]
    density_in = [1.0, 0.1, 0.1]  # pixels, then k-WTA outputs (4 of 40 on)
    for w, m, f, d in zip(net.ff_weights(), masks, fan_in, density_in):
        assert (m.sum(1) == f // 2).all()  # every unit keeps exactly half of its inputs
        assert (w[~m] == 0).all()
        b = 1.0 / (d * 0.5 * f) ** 0.5
        kept = w[m]
        assert kept.abs().max() <= b and kept.abs().max() > 0.9 * b  # U(-b, b), by hand
    seg = net.hidden[0].segments
    b = 1.0 / (0.1 * 64) ** 0.5
    assert seg.abs().max() <= b and seg.abs().max() > 0.95 * b
    # training keeps the pruned weights at 0 and the mask fixed
    r = run("dendrites", CLConfig(tasks=1, hidden=16, epochs=1, batch=256, weight_sparsity=0.75))
    assert 0.0 <= r["mean_accuracy"] <= 1.0
    tasks = make_tasks(CLConfig(tasks=1))
    torch.manual_seed(0)
    net = ContextNet("mlp", 64, 64, CLConfig(tasks=1, hidden=16, weight_sparsity=0.75))
    train_task(net, tasks, 0, CLConfig(tasks=1, hidden=16, epochs=1, batch=256), torch.Generator().manual_seed(0))
    for i, w in enumerate(net.ff_weights()):
        m = getattr(net, f"mask{i}")
        assert (w[~m] == 0).all() and (w[m] != 0).all()


def _shared_winners(inputs: str) -> float:
    """Mean share of first-layer k-WTA winners (20 of 200) that two task contexts have in common on the
    same 50 test inputs, averaged over the 10 pairs of 5 tasks, at init (segments of std 3)."""
    torch.manual_seed(0)
    cfg = CLConfig(tasks=5, hidden=200, inputs=inputs)
    tasks = make_tasks(cfg)
    net = ContextNet("dendrites", 64, 64, cfg)
    init_segments_(net, tasks.contexts, 3.0)
    x = tasks.inputs(0, "test")[0][:50].unsqueeze(0)  # [T=1, B=50, 64]
    on = [net.hidden_activity(x, tasks.contexts[t].expand(50, -1))[0][0] != 0 for t in range(5)]  # [50, 200]
    pairs = [(a, b) for a in range(5) for b in range(a + 1, 5)]
    return float(np.mean([(on[a] & on[b]).sum(-1).float().mean().item() / 20 for a, b in pairs]))


def test_standardized_prototypes_route_to_more_distinct_units():
    # raw prototypes share their mean pixel value, so tasks switch on largely the same winners (0.59 for this
    # seed); standardized (zero-mean) prototypes overlap less (0.47); random 20-of-200 subsets would share 0.1
    raw, std = _shared_winners("raw"), _shared_winners("standardized")
    assert std < raw - 0.08, (raw, std)
    assert std > 0.1  # the inputs still drive the same units in part: not a random split
