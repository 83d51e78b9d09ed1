"""Device-agnostic building blocks: every registered neuron and encoder, the layers and the
built models run forward and backward on the ``meta`` device (tensors with shapes and no data),
so a hard-coded CPU tensor or a host sync in a forward pass fails here.

Known exception: ``DelayedRecurrentSpiking`` sizes its ring buffer from the current σ of its
spread mask (a value), which the meta device does not have.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

import spikeforge.layers as L
from spikeforge.config import TrainConfig
from spikeforge.encoders import ENCODERS
from spikeforge.models import build_model
from spikeforge.neurons import NEURONS

META = torch.device("meta")


def _fwd_bwd(module: nn.Module, x: torch.Tensor) -> None:
    module = module.to(META)
    x = x.to(META).requires_grad_(x.is_floating_point())
    out = module(x)
    out = out[0] if isinstance(out, tuple) else out
    assert out.device == META, f"{type(module).__name__} returned a tensor on {out.device}"
    if x.requires_grad and out.requires_grad:
        out.sum().backward()
        assert x.grad is not None and x.grad.device == META


@pytest.mark.parametrize("name", NEURONS.names())
def test_neuron_on_meta(name: str) -> None:
    _fwd_bwd(NEURONS.create(name), torch.empty(5, 2, 3))


@pytest.mark.parametrize("name", ENCODERS.names())
def test_encoder_on_meta(name: str) -> None:
    signal = ENCODERS.meta(name).get("input") == "signal"
    x = torch.empty(4, 2, 3) if signal else torch.empty(2, 3)
    enc = ENCODERS.create(name, steps=4).to(META)
    assert enc(x.to(META)).device == META


LAYERS: dict[str, Callable[[], tuple[nn.Module, torch.Tensor]]] = {
    "DelayLinear": lambda: (L.DelayLinear(6, 4, 5), torch.empty(7, 2, 6)),
    "LearnableDelay": lambda: (L.LearnableDelay(6, 5), torch.empty(7, 2, 6)),
    "Delay": lambda: (L.Delay([0, 2, 1, 3, 0, 1]), torch.empty(7, 2, 6)),
    "RecurrentSpiking": lambda: (L.RecurrentSpiking(6, 4), torch.empty(7, 2, 6)),
    "TimeDistributed": lambda: (L.TimeDistributed(nn.Conv2d(2, 3, 3)), torch.empty(7, 2, 2, 8, 8)),
    "TDBatchNorm": lambda: (L.TDBatchNorm(3), torch.empty(7, 2, 3, 4, 4)),
    "EventLinear": lambda: (L.EventLinear(6, 4), torch.empty(7, 2, 6)),
    "DeltaActivation": lambda: (L.DeltaActivation(0.1), torch.empty(7, 2, 6)),
    "EGRU": lambda: (L.EGRU(6, 4), torch.empty(7, 2, 6)),
    "SequenceDropout": lambda: (L.SequenceDropout(0.2), torch.empty(7, 2, 6)),
    "BNTT": lambda: (L.BNTT(6, 7), torch.empty(7, 2, 6)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_on_meta(name: str) -> None:
    _fwd_bwd(*LAYERS[name]())


@pytest.mark.parametrize("model,data", [("mlp", "digits"), ("rsnn", "digits"), ("dcls", "synthetic_shd")])
def test_built_model_on_meta(model: str, data: str) -> None:
    cfg = TrainConfig.from_dict({"model": model, "data": data, "hidden": [16], "progress": False})
    net = build_model(cfg)
    from spikeforge.data import DATASETS

    meta = DATASETS.meta(data)
    x = torch.empty(2, *meta["input_shape"]) if meta["kind"] == "static" else torch.empty(6, 2, *meta["input_shape"])
    _fwd_bwd(net, x)
