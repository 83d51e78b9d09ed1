"""Issue 16: every registered spiking neuron swaps into any model.

Driven by the neuron registry (a new neuron is tested the moment it is registered): each one is
built into a tiny zoo transformer through ``create_model(..., neuron=name)`` and into the MLP SNN
of the shipped ``step_neuron_grid`` sweep (STEP's neuron grid), and one forward + backward must
give finite, nonzero weight gradients.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.models import build_model, create_model
from spikeforge.neurons import NEURONS, SEQUENCE_NEURONS, neuron_names
from spikeforge.sweep import load_sweep
from spikeforge.sweep.shipped import shipped_sweeps

pytestmark = pytest.mark.usefixtures("one_thread")  # many small per-step ops
SPIKING = [n for n in NEURONS.names() if getattr(NEURONS.get(n), "spiking", True)]
ZOO_NEURONS = SPIKING + SEQUENCE_NEURONS.names()  # PSN, HD-LIF: the zoo builds them for its T (and each site's C)
STEP_GRID = {"if", "lif", "plif", "eif", "ilif", "nilif", "glif", "klif", "clif", "psn", "hdlif"}  # ref. §7


def _grads_alive(model: torch.nn.Module) -> None:
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


@pytest.mark.parametrize("neuron", ZOO_NEURONS)
def test_every_spiking_neuron_drops_into_a_zoo_transformer(neuron: str) -> None:
    torch.manual_seed(0)
    model = create_model("sdt_tiny", in_channels=1, num_classes=4, img_size=16, T=2, neuron=neuron)
    out = model(torch.rand(3, 1, 16, 16))  # [B, C, H, W] -> [T, B, K]
    assert out.shape == (2, 3, 4) and torch.isfinite(out).all()
    torch.nn.functional.cross_entropy(out.mean(0), torch.tensor([0, 1, 2])).backward()
    _grads_alive(model)


def test_step_grid_sweep_covers_the_grid_and_every_cell_builds() -> None:
    cells = load_sweep(shipped_sweeps()["step_neuron_grid"]).cells()
    assert {c.config.neuron for c in cells} == STEP_GRID and STEP_GRID <= set(neuron_names())
    assert {c.config.reset for c in cells if c.config.neuron == "eif"} == {"value"}
    # the sequence neurons take no reset (a set one is refused), so their cells leave it unset
    assert {c.config.reset for c in cells if c.config.neuron in SEQUENCE_NEURONS} == {None}
    assert {c.config.seed for c in cells if c.config.neuron == "hdlif"} == {c.config.seed for c in cells} == {0, 1, 2}
    seen = set()
    for cell in cells:
        if cell.config.neuron in seen:
            continue
        seen.add(cell.config.neuron)
        torch.manual_seed(0)
        model = build_model(cell.config)
        out = model(torch.rand(5, 64))  # digits: [B, 64] -> [T, B, 10]
        assert out.shape == (cell.config.steps, 5, 10) and torch.isfinite(out).all()
        torch.nn.functional.cross_entropy(out.mean(0), torch.arange(5)).backward()
        _grads_alive(model)
    assert seen == STEP_GRID
