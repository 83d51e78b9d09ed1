"""Contract tests over every registered model, on static and temporal datasets."""

from __future__ import annotations

import pytest
import torch

from spikeforge.config import TrainConfig
from spikeforge.data import DATASETS, load_dataset
from spikeforge.learning import LOSSES
from spikeforge.models import MODELS, build_model, create_model

SIZED_BY_DATA = [n for n in MODELS.names() if MODELS.meta(n).get("kind") != "zoo"]  # zoo: tests/models


@pytest.mark.parametrize("name", SIZED_BY_DATA)
@pytest.mark.parametrize("encoder", ["direct", "poisson", "population"])
def test_static_model_shapes_and_a_learning_step(name, encoder):
    cfg = TrainConfig(model=name, hidden=(16,), steps=5, encoder=encoder)
    if MODELS.meta(name).get("data") == "temporal":  # e.g. dcls: refuses static data by name
        with pytest.raises(ValueError, match="needs temporal data"):
            build_model(cfg)
        return
    model = build_model(cfg)
    x, y = load_dataset("digits", "train").tensors()
    x, y = x[:32], y[:32]
    out = model(x)
    assert out.shape == (5, 32, 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = LOSSES.get("ce_membrane")
    losses = []
    for _ in range(15):
        torch.manual_seed(0)  # same encoding each step: the loss must fall on this batch
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", SIZED_BY_DATA)
def test_temporal_model(name):
    from spikeforge.data import pad_collate

    assert DATASETS.meta("synthetic_shd")["kind"] == "temporal"
    data = load_dataset("synthetic_shd", "train")
    xs, ys, lengths = pad_collate([data[i] for i in range(4)])
    model = build_model(TrainConfig(model=name, data="synthetic_shd", hidden=(8,)))
    out = model(xs)
    assert out.shape[:2] == xs.shape[:2] and out.shape[2] == DATASETS.meta("synthetic_shd")["num_classes"]


def test_create_model_and_bad_neuron():
    assert create_model("mlp", hidden=(4,)).body[0].out_features == 4
    with pytest.raises(ValueError, match="hidden neuron must spike"):
        create_model("mlp", neuron="li")
    with pytest.raises(ValueError, match="unknown model 'resnet9'"):
        create_model("resnet9")
