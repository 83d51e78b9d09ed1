"""A config key that the chosen model or data set never reads is refused, not silently ignored.

Zoo transformers build widths, neurons, constants and head from their own named configuration; only
``dcls`` has delay layers; ``dcls`` with its recipe LIF has no separate readout constant; temporal data
brings its own spikes and T. Each case below was accepted (and ignored) before the check existed.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.config import ConfigError, TrainConfig
from spikeforge.models import build_model

ZOO = {"data": "digits16", "model": "sdt_tiny"}

ZOO_UNREAD = [("hidden", [64]), ("dropout", 0.2), ("reset", "subtract"), ("tau_mem", 0.02), ("dt", 0.002),
              ("learn_tau", True), ("tau_out", 0.02), ("encoder", "bernoulli")]


@pytest.mark.parametrize(("key", "value"), ZOO_UNREAD)
def test_a_zoo_model_refuses_each_key_it_does_not_read(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"config key '{key}' is set to .*nothing reads it: zoo model 'sdt_tiny'"):
        TrainConfig.from_dict({**ZOO, key: value})


def test_a_zoo_model_with_the_keys_it_reads_builds() -> None:
    cfg = TrainConfig.from_dict({**ZOO, "steps": 2, "neuron": "plif", "surrogate": "sigmoid", "attention": "sdsa"})
    out = build_model(cfg)(torch.rand(3, 1, 16, 16))  # [B, C, H, W] -> [T, B, K]
    assert out.shape == (2, 3, 10)


@pytest.mark.parametrize("key", ["delay_taps", "channel_pool"])
def test_only_dcls_reads_the_delay_keys(key: str) -> None:
    value = 5 if key == "delay_taps" else 2
    with pytest.raises(ConfigError, match=rf"'{key}'.*only model 'dcls' has delay layers, not 'mlp'"):
        TrainConfig.from_dict({"data": "digits", key: value})
    with pytest.raises(ConfigError, match=rf"'{key}'.*only model 'dcls' has delay layers, not 'sdt_tiny'"):
        TrainConfig.from_dict({**ZOO, key: value})
    cfg = TrainConfig.from_dict({"data": "shd", "model": "dcls", "delay_taps": 5, "channel_pool": 2})
    model = build_model(cfg)
    assert model.delays[0].K == 5 and model.pool == 2


@pytest.mark.parametrize(("key", "value"), [("steps", 8), ("encoder", "bernoulli")])
def test_temporal_data_refuses_steps_and_encoder(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"'{key}'.*temporal data set 'shd' brings its own"):
        TrainConfig.from_dict({"data": "shd", "model": "mlp", key: value})


@pytest.mark.parametrize(("key", "value"), [("tau_out", 0.02), ("learn_tau", True)])
def test_dcls_with_its_recipe_lif_refuses_what_the_recipe_fixes(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"'{key}'.*model 'dcls' with neuron 'lif'"):
        TrainConfig.from_dict({"data": "shd", "model": "dcls", key: value})


def test_dcls_honours_a_set_reset_and_keeps_the_recipes_zero_reset_unset() -> None:
    unset = build_model(TrainConfig.from_dict({"data": "shd", "model": "dcls"}))
    zero = build_model(TrainConfig.from_dict({"data": "shd", "model": "dcls", "reset": "zero"}))
    sub = build_model(TrainConfig.from_dict({"data": "shd", "model": "dcls", "reset": "subtract"}))
    assert [n.reset_name for n in unset.neurons] == [n.reset_name for n in zero.neurons] == ["zero"]  # hidden=[256]
    assert [n.reset_name for n in sub.neurons] == ["subtract"]
    # and the reset changes the dynamics: an input far above threshold leaves v - v_th after a
    # subtractive reset, 0 after a reset to zero
    x = torch.full((2, 1, 256), 3.0)  # [T, B, N]
    v_zero = zero.neurons[0].run(x)[1].v
    v_sub = sub.neurons[0].run(x)[1].v
    assert torch.all(v_zero == 0) and torch.all(v_sub > 0)


def test_defaults_and_the_mlp_keys_still_build() -> None:
    cfg = TrainConfig.from_dict({"data": "digits", "hidden": [32], "dropout": 0.1, "tau_out": 0.02,
                                 "encoder": "bernoulli", "steps": 4, "learn_tau": True})
    assert build_model(cfg)(torch.rand(2, 64)).shape == (4, 2, 10)
