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
    init_segments_,
    main,
    make_tasks,
    run,
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
