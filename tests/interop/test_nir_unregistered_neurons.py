"""STEP's PSN and HD-LIF are neurons outside the ``NEURONS`` registry; they opt out of NIR export
explicitly, with the reason, like the registered neurons in ``NIR_UNSUPPORTED`` (issue 16)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.interop.nir import to_nir
from spikeforge.interop.nir._converters import EXPORTERS, NIR_UNSUPPORTED_MODULES
from spikeforge.neurons.hdlif import HDLIF
from spikeforge.neurons.psn import PSN


@pytest.mark.parametrize(("module", "why"), [(PSN(t_steps=4), "non-causal"), (HDLIF(3, t_steps=4), "gate reads")])
def test_unregistered_step_neurons_opt_out_with_their_reason(module: nn.Module, why: str) -> None:
    assert type(module) in NIR_UNSUPPORTED_MODULES and type(module) not in EXPORTERS
    net = nn.Sequential(nn.Linear(3, 3), module)
    expected = rf"module '1': neuron {type(module).__name__} cannot be exported to NIR: .*{why}"
    with pytest.raises(TypeError, match=expected):
        to_nir(net, torch.zeros(4, 1, 3), dt=1e-3)
