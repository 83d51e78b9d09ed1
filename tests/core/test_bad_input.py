"""Bad input gives a clear ValueError/TypeError naming the problem."""

from __future__ import annotations

import pytest
import torch

from spikeforge.config import ConfigError, TrainConfig, load_config
from spikeforge.neurons import IF, LI, LIF, NEURONS, CubaLIF, Izhikevich
from spikeforge.surrogate import get_surrogate


@pytest.mark.parametrize("name", NEURONS.names())
def test_wrong_rank_rejected(name):
    neuron = NEURONS.create(name)
    with pytest.raises(ValueError, match=r"time-major input of shape \[T, B, \.\.\.\]"):
        neuron(torch.rand(5))


@pytest.mark.parametrize("name", NEURONS.names())
def test_integer_input_rejected(name):
    neuron = NEURONS.create(name)
    with pytest.raises(TypeError, match="floating-point input, got dtype torch.int64"):
        neuron(torch.ones(4, 2, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="floating-point input"):
        neuron.step(torch.ones(2, 3, dtype=torch.int64))


@pytest.mark.parametrize("tau", [0.0, -1e-3])
def test_non_positive_time_constant_rejected(tau):
    with pytest.raises(ValueError, match="tau_mem must be > 0"):
        LIF(tau_mem=tau)
    with pytest.raises(ValueError, match="tau_syn must be > 0"):
        CubaLIF(tau_syn=tau)
    with pytest.raises(ValueError, match="tau_mem must be > 0"):
        LI(tau_mem=tau)


def test_per_neuron_negative_tau_rejected():
    with pytest.raises(ValueError, match="tau_mem must be > 0"):
        LIF(tau_mem=torch.tensor([1e-3, -2e-3]))


def test_threshold_not_above_reset_rejected():
    with pytest.raises(ValueError, match="v_th must be > reset value v_reset"):
        LIF(v_th=0.5, v_reset=0.5)
    with pytest.raises(ValueError, match="v_th must be > reset value v_reset"):
        IF(v_th=-1.0)
    with pytest.raises(ValueError, match="threshold v_th must be > reset value c"):
        Izhikevich(v_th=-70.0)


def test_non_finite_and_bad_dt_rejected():
    with pytest.raises(ValueError, match="v_th must be finite"):
        LIF(v_th=float("nan"))
    with pytest.raises(ValueError, match="dt must be a positive number"):
        LIF(dt=0.0)


def test_unknown_parameter_and_learn_names():
    with pytest.raises(TypeError, match=r"unknown parameter\(s\) \['beta'\]"):
        LIF(beta=0.9)
    with pytest.raises(ValueError, match=r"cannot learn \['tau_syn'\]"):
        LIF(learn=("tau_syn",))


def test_per_neuron_shape_mismatch_named():
    lif = LIF(size=4)
    with pytest.raises(ValueError, match=r"per-neuron parameter tau_mem of shape \(4,\) does not broadcast"):
        lif(torch.rand(3, 2, 5))


def test_unknown_surrogate_and_reset():
    with pytest.raises(ValueError, match="unknown surrogate 'tanh'; valid names: atan"):
        get_surrogate("tanh")
    with pytest.raises(ValueError, match="unknown surrogate 'tanh'"):
        LIF(surrogate="tanh")
    with pytest.raises(ValueError, match="unknown reset mode 'soft'; valid names: none, subtract"):
        LIF(reset="soft")


def test_from_decay_range():
    with pytest.raises(ValueError, match=r"decay beta must be in \[0, 1\)"):
        LIF.from_decay(1.0)


def test_unknown_config_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['hiden'\]; valid keys: data, encoder"):
        load_config(None, ["hiden=64"])
    with pytest.raises(ConfigError, match="unknown config key"):
        TrainConfig.from_dict({"learning_rate": 1.0})


def test_bad_config_values():
    with pytest.raises(ConfigError, match="tau_mem must be > 0 seconds"):
        load_config(None, ["tau_mem=-1"])
    with pytest.raises(ConfigError, match="config key 'epochs': cannot convert 'many'"):
        load_config(None, ["epochs=many"])
    with pytest.raises(ConfigError, match="must look like key=value"):
        load_config(None, ["epochs"])
