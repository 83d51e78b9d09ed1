from __future__ import annotations

import pytest

from spikeforge.config import ConfigError, TrainConfig, load_config


def test_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("epochs: 3\nhidden: [32, 16]\nneuron: alif\nlearn_tau: true\n")
    cfg = load_config(f, ["epochs=5", "lr=0.01", "hidden=8,4"])
    assert cfg.epochs == 5 and cfg.lr == 0.01 and cfg.hidden == (8, 4)
    assert cfg.neuron == "alif" and cfg.learn_tau is True


def test_round_trip_dict():
    cfg = TrainConfig(hidden=(12,), steps=7)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(bad)


def test_bool_and_int_conversion_strict():
    assert load_config(None, ["progress=false"]).progress is False
    with pytest.raises(ConfigError, match="not an integer"):
        load_config(None, ["steps=2.5"])


@pytest.mark.parametrize("key, value", [
    ("steps", 0), ("hidden", []), ("hidden", [16, 0]), ("tau_mem", 0.0), ("tau_out", -1e-3), ("dt", float("inf")),
    ("lr", 0.0), ("lr", float("nan")), ("dropout", 1.0), ("epochs", 0), ("batch_size", 0), ("weight_decay", -0.1),
    ("rate_reg", -1.0), ("seed", -1), ("scheduler", "step"), ("log", "wandb"), ("out_dir", " "),
    ("data", "mnist"), ("encoder", "morse"), ("model", "cnn"), ("neuron", "hodgkin"), ("neuron", "li"),
    ("surrogate", "relu"), ("reset", "soft"), ("loss", "hinge"),
])
def test_every_invalid_value_fails_at_load_naming_its_key(key, value):
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        TrainConfig.from_dict({key: value})


def test_learn_tau_needs_a_neuron_with_a_membrane_time_constant():
    assert TrainConfig(neuron="lif", learn_tau=True).learn_tau
    with pytest.raises(ConfigError, match="config key 'learn_tau'.*'if' has no tau_mem"):
        TrainConfig(neuron="if", learn_tau=True)


def test_data_location_keys():
    cfg = load_config(None, ["root=/data/shd", "download=yes", "log=tensorboard"])
    assert (cfg.root, cfg.download, cfg.log) == ("/data/shd", True, "tensorboard")
    assert load_config(None, ["root="]).root is None and load_config(None, ["root=null"]).root is None
    assert TrainConfig().root is None and TrainConfig().download is False
    with pytest.raises(ConfigError, match="config key 'root'"):
        TrainConfig(root=" ")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    # where files are and how a run is watched are not part of the experiment's identity
    assert TrainConfig.LOCATION_KEYS == {"root", "download", "out_dir", "progress", "log", "checkpoint_every_steps"}
