"""Issue 16: TrainConfig's reset / tau_mem / dt are honoured or refused by the sequence neurons (PSN,
HD-LIF), never ignored; unset, they keep every step-by-step neuron exactly as before, and configs saved
before they could be unset (explicit subtract / 5e-3 / 1e-3) still load, compare equal and resume.
"""

from __future__ import annotations

import math

import pytest
import torch

from spikeforge.config import ConfigError, TrainConfig, load_config
from spikeforge.experiment import run_training
from spikeforge.learning import load_checkpoint, load_model
from spikeforge.learning.snapshot import payload_digest
from spikeforge.models import build_model
from spikeforge.neurons import HDLIF, LI, LIF, build_sequence_neuron
from spikeforge.neurons._reset import reset_subtract

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"data": "digits", "hidden": [8], "steps": 3, "epochs": 1, "batch_size": 256, "progress": False}
# The three values every TrainConfig.to_dict wrote before the keys could be unset (plain defaults then).
OLD_DEFAULTS = {"reset": "subtract", "tau_mem": 0.005, "dt": 0.001}


def _forward(cfg: TrainConfig, x: torch.Tensor, seed: int = 0) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    model = build_model(cfg)
    with torch.no_grad():
        return model, model(x)


@pytest.mark.parametrize("neuron, key, value, why", [
    ("psn", "reset", "subtract", "PSN has no membrane to reset"),
    ("psn", "reset", "none", "PSN has no membrane to reset"),
    ("psn", "tau_mem", 0.005, "PSN has no membrane time constant"),
    ("hdlif", "reset", "zero", "fixed hard reset"),
    ("hdlif", "tau_mem", 0.001, r"tau = tau_mem / dt = 0.001 / 0.001 = 1 steps must be > 1"),
])
def test_a_setting_the_sequence_neuron_cannot_honour_is_refused_naming_key_neuron_and_why(neuron, key, value, why):
    with pytest.raises(ConfigError, match=f"config key '{key}': neuron '{neuron}' .*{why}"):
        TrainConfig(neuron=neuron, **{key: value})
    # the same through a YAML override (the CLI's path); unset is accepted
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        load_config(None, [f"neuron={neuron}", f"{key}={value}"])
    assert load_config(None, [f"neuron={neuron}", f"{key}=null"]).neuron == neuron


def test_a_zoo_model_refuses_tau_mem_and_dt_for_a_sequence_neuron():
    # the zoo builds its neurons with its own constants (HD-LIF: tau = 2) and has no readout that reads dt
    assert TrainConfig(neuron="hdlif", model="sdt_tiny").tau_mem is None
    for neuron, key, value in (("psn", "dt", 2e-3), ("hdlif", "dt", 2e-3), ("hdlif", "tau_mem", 5e-3)):
        with pytest.raises(ConfigError, match=f"config key '{key}'.*zoo model 'sdt_tiny'.*reads {key}"):
            TrainConfig(neuron=neuron, model="sdt_tiny", **{key: value})


def test_build_sequence_neuron_refuses_a_time_constant_psn_lacks():
    with pytest.raises(ValueError, match="neuron 'psn': tau_mem=0.01: PSN has no membrane time constant"):
        build_sequence_neuron("psn", t_steps=4, tau_mem=0.01)


def test_hdlif_honours_tau_mem_as_its_experts_tau_in_steps_and_its_output_changes():
    x = torch.rand(16, 64) * 4.0  # digits: [B, 64]
    default, z0 = _forward(TrainConfig(**TINY, neuron="hdlif"), x)
    set_, z1 = _forward(TrainConfig(**TINY, neuron="hdlif", tau_mem=5e-3), x)
    slower, z2 = _forward(TrainConfig(**TINY, neuron="hdlif", tau_mem=5e-3, dt=2.5e-3), x)
    taus = [next(m for m in model.modules() if isinstance(m, HDLIF)) for model in (default, set_, slower)]
    # STEP's tau = 2 steps unset; tau_mem / dt steps when set (hand values: 5e-3 / 1e-3, 5e-3 / 2.5e-3)
    assert [n.tau for n in taus] == [2.0, 5.0, 2.0]
    # PLIF's rate parameter starts at -log(tau - 1): 0 for tau = 2, -log 4 for tau = 5
    assert [n.plif_w.item() for n in taus] == pytest.approx([0.0, -math.log(4.0), 0.0], abs=1e-7)
    # same seed, same weights: only the time constant differs, and the output with it
    assert torch.equal(taus[0].gate_weight, taus[1].gate_weight)
    assert not torch.equal(z0, z1)
    # dt also reaches the readout (an LI with decay dt / tau_out): tau = 2 steps in both, readouts differ
    readouts = [next(m for m in model.modules() if isinstance(m, LI)) for model in (default, slower)]
    assert [r.dt for r in readouts] == [1e-3, 2.5e-3] and not torch.equal(z0, z2)


def test_psn_takes_dt_for_its_readout_only():
    x = torch.rand(16, 64) * 4.0
    default, z0 = _forward(TrainConfig(**TINY, neuron="psn"), x)
    coarse, z1 = _forward(TrainConfig(**TINY, neuron="psn", dt=4e-3), x)
    assert [next(m for m in m_.modules() if isinstance(m, LI)).dt for m_ in (default, coarse)] == [1e-3, 4e-3]
    assert not torch.equal(z0, z1)


def test_lif_unset_settings_resolve_to_the_old_defaults_bit_for_bit():
    unset, explicit = TrainConfig(**TINY), TrainConfig(**TINY, **OLD_DEFAULTS)
    assert (unset.reset, unset.tau_mem, unset.dt) == (None, None, None)
    assert [unset.resolved(k) for k in OLD_DEFAULTS] == list(OLD_DEFAULTS.values())
    x = torch.rand(16, 64) * 4.0
    a, za = _forward(unset, x)
    b, zb = _forward(explicit, x)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(za, zb)
    lif = next(m for m in a.modules() if isinstance(m, LIF))
    assert torch.equal(lif.tau_mem, torch.tensor(5e-3)) and lif.dt == 1e-3 and lif.reset_fn is reset_subtract
    # `reset: none` is the no-reset mode, not "unset"
    assert load_config(None, ["reset=none"]).reset == TrainConfig.from_dict({"reset": "none"}).reset == "none"


def _old_format(ckpt, **config) -> None:
    """Rewrite the checkpoint's config as written before reset / tau_mem / dt could be unset."""
    payload = load_checkpoint(ckpt)
    payload["config"] = {**payload["config"], **OLD_DEFAULTS, **config}
    payload.pop("sha256")
    payload["sha256"] = payload_digest(payload)
    torch.save(payload, ckpt)


@pytest.mark.parametrize("neuron", ["lif", "psn"])
def test_a_config_saved_with_the_old_explicit_defaults_loads_and_resumes(tmp_path, neuron):
    cfg = TrainConfig(**TINY, neuron=neuron, out_dir=str(tmp_path))
    first = run_training(cfg, plots=False)
    ckpt = tmp_path / "checkpoint.pt"
    _old_format(ckpt)
    saved = load_checkpoint(ckpt)["config"]
    assert saved["reset"] == "subtract" and saved["tau_mem"] == 0.005
    assert cfg.differing_keys(saved) == []
    # the saved run rebuilds exactly (PSN ignored the old values: they read back as unset)
    rebuilt = TrainConfig.from_saved(saved)
    if neuron == "lif":
        assert (rebuilt.reset, rebuilt.tau_mem, rebuilt.dt) == ("subtract", 0.005, 0.001)
    else:
        assert (rebuilt.reset, rebuilt.tau_mem, rebuilt.dt) == (None, None, 0.001)
    model, x = load_model(ckpt), torch.rand(4, 64)
    trained = build_model(cfg)
    trained.load_state_dict(load_checkpoint(ckpt)["model"])
    trained.eval()
    with torch.no_grad():
        assert torch.equal(model(x), trained(x))
    resumed = run_training(cfg.replace(epochs=2), plots=False)
    assert resumed.resumed_from_epoch == 1 and len(resumed.history) == 2
    assert resumed.history[0] == first.history[0]


def test_user_input_is_strict_where_a_saved_run_is_read_as_it_acted():
    old_psn = {**TrainConfig(neuron="psn").to_dict(), **OLD_DEFAULTS}
    with pytest.raises(ConfigError, match="config key 'reset'"):
        TrainConfig.from_dict(old_psn)
    assert TrainConfig.from_saved(old_psn).reset is None
    # a saved HD-LIF run with tau_mem set (today's format: reset unset) keeps its tau_mem
    new_hdlif = TrainConfig(neuron="hdlif", tau_mem=5e-3).to_dict()
    assert TrainConfig.from_saved(new_hdlif).tau_mem == 5e-3
    assert TrainConfig(neuron="hdlif").differing_keys(new_hdlif) == ["tau_mem"]
