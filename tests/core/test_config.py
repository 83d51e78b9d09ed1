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
