"""Staged recipes: the ANN twin (pipe-S bridge) and IIR timestep reduction (T = 3 -> 2 -> 1)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from spikeforge import experiment
from spikeforge.config import ConfigError, TrainConfig
from spikeforge.experiment import make_loaders
from spikeforge.learning import LOSSES, CosineSchedule, fit, load_checkpoint
from spikeforge.learning.ann_twin import ANNTwin, ramp_edges
from spikeforge.models import build_model, create_model
from spikeforge.recipes import run_recipe, stage_configs


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny per-step ops (tests/conftest.py)


def test_ramp_edges_follow_the_reference_schedule():
    assert ramp_edges(0.0) == (0.0, 1.0)
    m, big_m = ramp_edges(1.0)  # e' = 98: the reference's m = min(98/200, 0.49), M = 1 - 98/200
    assert m == pytest.approx(0.49) and big_m == pytest.approx(0.51)
    with pytest.raises(ValueError, match="progress"):
        ramp_edges(1.5)


@pytest.mark.parametrize("neuron, extra", [("lif", {}), ("if", {}), ("lif", {"tau_mem": 3e-3})])
def test_sharp_twin_emits_the_snn_first_step_spikes(neuron, extra):
    """With the exact spike, the twin's hidden activations are the SNN's spikes at t = 0 (from rest,
    direct input), computed here by running the SNN itself."""
    snn = create_model("mlp", data="digits", hidden=(40, 30), steps=3, neuron=neuron, **extra)
    twin = ANNTwin(snn)
    twin.set_progress(1.0, sharp=True)
    x = torch.rand(16, 64) * 16  # digits pixel range
    body = snn.body
    with torch.no_grad():
        body[2].weight.mul_(8.0)  # a random init leaves the second layer silent at t = 0
        body[2].bias.fill_(0.5)
        h0 = body[1](body[0](snn.encoder(x)))  # [T, B, 40] spikes of the first layer
        h1 = body[3](body[2](h0))  # [T, B, 30]
        got = twin.hidden(x)
    assert 0 < h0[0].mean() < 1 and 0 < h1[0].mean() < 1  # neither silent nor saturated
    assert torch.equal(got[0], h0[0]) and torch.equal(got[1], h1[0])
    # the logits are the readout's input current at t = 0
    torch.testing.assert_close(twin(x)[0], body[4](h1[0]))


def test_twin_shares_the_snn_weights_and_passes_gradients():
    snn = create_model("mlp", data="digits", hidden=(20,), steps=3)
    twin = ANNTwin(snn)
    assert {id(p) for p in twin.parameters()} == {id(p) for p in snn.parameters()}
    twin(torch.rand(4, 64) * 16).sum().backward()
    assert snn.body[0].weight.grad.abs().sum() > 0


def test_twin_refuses_what_it_cannot_mirror():
    with pytest.raises(TypeError, match="body"):
        ANNTwin(nn.Linear(3, 4))
    from spikeforge.models.mlp import SNNClassifier
    from spikeforge.neurons import LI, LIF

    with pytest.raises(TypeError, match="readout"):
        ANNTwin(SNNClassifier(nn.Sequential(nn.Linear(4, 5), LI(), nn.Linear(5, 2), LIF()), None))
    with pytest.raises(TypeError, match="MaxPool1d"):
        ANNTwin(SNNClassifier(nn.Sequential(nn.Linear(4, 6), LIF(), nn.MaxPool1d(2), nn.Linear(3, 2)), None))


def _iris(tmp_path, **kw) -> TrainConfig:
    return TrainConfig.from_dict({"data": "iris", "hidden": (12,), "epochs": 2, "batch_size": 32, "lr": 2e-2,
                                  "progress": False, "out_dir": str(tmp_path), **kw})


def test_iir_stage_is_training_warm_started_from_the_previous_stage(tmp_path):
    cfg = _iris(tmp_path / "run", iir_steps=(3, 2, 1))
    run_recipe(cfg, plots=False)
    stages = stage_configs(cfg)
    assert [s.steps for s in stages] == [3, 2, 1]
    prev = load_checkpoint(tmp_path / "run" / "T3" / "checkpoint.pt")["model"]
    # T = 2 by hand: the T = 3 weights, then the same loop run_training uses (direct input: no RNG left)
    s2 = stages[1]
    model = build_model(s2)
    model.load_state_dict(prev)
    train, _, sampler = make_loaders(s2)
    opt = torch.optim.Adam(model.parameters(), lr=s2.lr)
    fit(model, train, loss_fn=LOSSES.get(s2.loss), optimizer=opt, epochs=s2.epochs, scheduler=CosineSchedule(opt, 2),
        progress=False, set_epoch=lambda e: sampler.generator.manual_seed(s2.seed * 100_003 + e))
    got = load_checkpoint(tmp_path / "run" / "T2" / "checkpoint.pt")["model"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, got[k]), k
    assert not all(torch.equal(prev[k], got[k]) for k in got)  # stage 2 trained
    summary = json.loads((tmp_path / "run" / "recipe.json").read_text())["stages"]
    assert [s["steps"] for s in summary] == [3, 2, 1] and all(0 <= s["test_accuracy"] <= 1 for s in summary)


def test_killed_recipe_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch):
    cfg = dict(iir_steps=(3, 2), pretrain_epochs=2, encoder="poisson")
    run_recipe(_iris(tmp_path / "full", **cfg), plots=False)
    real_fit = experiment.fit

    class Killed(RuntimeError):
        pass

    def killing_fit(*args, **kw):  # dies in stage T = 2 after its first epoch is checkpointed
        if kw["config"]["steps"] == 2:
            inner = kw["set_epoch"]

            def set_epoch(e):
                if e == 1:
                    raise Killed
                inner(e)
            kw["set_epoch"] = set_epoch
        return real_fit(*args, **kw)

    monkeypatch.setattr(experiment, "fit", killing_fit)
    with pytest.raises(Killed):
        run_recipe(_iris(tmp_path / "run", **cfg), plots=False)
    monkeypatch.setattr(experiment, "fit", real_fit)
    assert load_checkpoint(tmp_path / "run" / "T2" / "checkpoint.pt")["epoch"] == 1
    run_recipe(_iris(tmp_path / "run", **cfg), plots=False)
    a = load_checkpoint(tmp_path / "full" / "T2" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "run" / "T2" / "checkpoint.pt")["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_bridge_on_digits_gives_a_working_snn_before_spiking_training(tmp_path):
    """Measured (tools/staged_digits.py bridge has the full numbers): a few twin epochs already give
    an SNN far above chance (0.1) with no spiking training at all."""
    cfg = TrainConfig(data="digits", hidden=(64,), steps=4, epochs=1, pretrain_epochs=4, lr=1e-2, progress=False,
                      out_dir=str(tmp_path))
    report = run_recipe(cfg, plots=False)
    ann = json.loads((tmp_path / "recipe.json").read_text())["stages"][0]
    assert ann["ann_test_accuracy"] > 0.7 and ann["snn_test_accuracy"] > 0.6
    untrained = experiment.evaluate(create_model("mlp", data="digits", hidden=(64,), steps=4),
                                    make_loaders(cfg)[1])["accuracy"]
    assert untrained < 0.3
    assert report.test_accuracy > 0.8


def test_recipe_keys_are_validated():
    with pytest.raises(ConfigError, match="'iir_steps'"):
        TrainConfig.from_dict({"iir_steps": [2, 0]})
    with pytest.raises(ConfigError, match="'pretrain_epochs'"):
        TrainConfig.from_dict({"pretrain_epochs": -1})
