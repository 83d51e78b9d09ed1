"""Issue 16: STEP's sequence neurons (PSN, HD-LIF) swap into the model builders through ``neuron=``.

Each is built by the mlp builder (T = the encoder's ``steps``) and trained a few steps on a tiny
fixed batch: the loss must fall. PSN also drops into a zoo transformer (the zoo passes its ``T``; HD-LIF
in the zoo: tests/models/test_hdlif_zoo.py).
Where T is unknown or the model runs step by step, the config names the problem.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.config import ConfigError, TrainConfig
from spikeforge.models import build_model, create_model
from spikeforge.models.transformers import make_neuron
from spikeforge.neurons import HDLIF, PSN, SEQUENCE_NEURONS

pytestmark = pytest.mark.usefixtures("one_thread")


def _train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 12) -> list[float]:
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize(("name", "cls"), [("psn", PSN), ("hdlif", HDLIF)])
def test_mlp_builder_trains_with_a_sequence_neuron(name, cls):
    torch.manual_seed(0)
    cfg = TrainConfig(data="digits", neuron=name, steps=4, hidden=(32,), encoder="direct")
    model = build_model(cfg)
    layer = model.body[1]
    assert isinstance(layer, cls) and layer.t_steps == 4
    if cls is PSN:  # the config's surrogate reaches the neuron, as for every other neuron
        assert type(layer.surrogate).__name__ == "ATan"
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(16, 64, generator=g) * 2, torch.arange(16) % 10
    losses = _train(model, x, y)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0], losses


def test_zoo_transformer_trains_with_psn():
    torch.manual_seed(0)
    model = create_model("sdt_tiny", in_channels=1, num_classes=4, img_size=16, T=3, neuron="psn")
    psns = [m for m in model.modules() if isinstance(m, PSN)]
    assert psns and all(m.t_steps == 3 for m in psns)
    assert {round(float(m.bias[0].detach()), 6) for m in psns} == {-1.0, -0.5}  # v_th = 1, attention v_th = 0.5
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(4, 1, 16, 16, generator=g), torch.tensor([0, 1, 2, 3])
    losses = _train(model, x, y, steps=8)
    assert losses[-1] < 0.8 * losses[0], losses


def test_train_config_routes_psn_to_the_zoo_with_its_steps():
    model = build_model(TrainConfig(data="digits16", model="sdt_tiny", neuron="psn", steps=2))
    assert {m.t_steps for m in model.modules() if isinstance(m, PSN)} == {2}


@pytest.mark.parametrize(("overrides", "key", "match"), [
    ({"data": "delayed_cue"}, "data", "brings its own T"),
    ({"model": "rsnn"}, "model", "step by step"),
    ({"train_mode": "sltt"}, "train_mode", "step by step"),
    ({"iir_steps": (3, 2)}, "iir_steps", "several T"),
])
@pytest.mark.parametrize("name", SEQUENCE_NEURONS.names())
def test_config_names_why_a_sequence_neuron_cannot_run(name, overrides, key, match):
    with pytest.raises(ConfigError, match=rf"config key '{key}': neuron '{name}' is a sequence neuron.*{match}"):
        TrainConfig(neuron=name, **overrides)


def test_a_block_factory_without_features_refuses_hdlif_with_the_reason():
    """The zoo passes every site's C (tests/models/test_hdlif_zoo.py); a factory called the old way,
    ``f(v_th=...)``, cannot build HD-LIF's gate and says so."""
    from spikeforge.models.transformers._neuron import sequence_neuron_factory

    with pytest.raises(ValueError, match="fixed channel count"):
        sequence_neuron_factory("hdlif", 4)(v_th=1.0)


def test_a_block_without_t_refuses_a_sequence_neuron_by_name():
    with pytest.raises(ValueError, match="a block does not know T"):
        make_neuron("psn")


def test_cli_lists_the_sequence_neurons(capsys):
    from spikeforge.cli.__main__ import main

    assert main(["list", "sequence_neurons"]) == 0
    assert capsys.readouterr().out.strip() == "sequence_neurons: hdlif, psn"
