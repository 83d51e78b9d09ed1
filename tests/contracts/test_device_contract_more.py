"""The device contract (``test_device_contract.py``) for the rest of the public surface: every
``nn.Module`` class exported by :mod:`spikeforge.layers`, every registered decoder, surrogate and
loss runs forward and backward on the ``meta`` device (shapes, no data), so a tensor created on
the CPU or a host sync (``.item()``, ``bool(tensor)``) inside a forward pass fails here.

The layer check is complete by construction: a new layer class in ``spikeforge.layers`` must get
a case here or in ``test_device_contract.py``'s ``LAYERS``, or an exemption with its reason.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

import spikeforge.layers as L
from spikeforge.encoders import DECODERS
from spikeforge.learning import LOSSES
from spikeforge.neurons import LIF
from spikeforge.surrogate import SURROGATES

META = torch.device("meta")


def _ei_ready(layer: nn.Module, x: torch.Tensor) -> nn.Module:
    layer.ei_init_(x)  # type: ignore[operator]
    return layer


class _WithContext(nn.Module):
    """A two-input layer ``layer(xs, context)`` with its context bound as a buffer, so the one-input
    contracts (device, bad input) drive the feed-forward input."""

    def __init__(self, layer: nn.Module, context: torch.Tensor) -> None:
        super().__init__()
        self.layer = layer
        self.register_buffer("context", context)

    def forward(self, xs: torch.Tensor) -> torch.Tensor:
        return self.layer(xs, self.context)


MORE: dict[str, Callable[[], tuple[nn.Module, torch.Tensor]]] = {
    "ActiveDendrite": lambda: (_WithContext(L.ActiveDendrite(6, 8, 3, segments=2, k_winners=4), torch.rand(2, 3)),
                               torch.empty(4, 2, 6)),
    "CTMNeuronModels": lambda: (L.CTMNeuronModels(6, memory_length=3, hidden_size=2), torch.empty(5, 2, 6)),
    "CTMSync": lambda: (L.CTMSync(6, n_pairs=5, out_features=4), torch.empty(5, 2, 6)),
    # E-I Init needs the values of a first batch: initialise on the CPU, then the forward runs on meta
    "EIConv2d": lambda: (_ei_ready(L.EIConv2d(2, 8, 3, padding=1), torch.rand(4, 2, 2, 6, 6)),
                         torch.empty(4, 2, 2, 6, 6)),
    "EILinear": lambda: (_ei_ready(L.EILinear(6, 8), torch.rand(4, 2, 6)), torch.empty(4, 2, 6)),
    "ELM": lambda: (L.ELM(6, 8, 3), torch.empty(4, 2, 6)),
    "L2MU": lambda: (L.L2MU(6, 8, 3), torch.empty(4, 2, 6)),
    "ModuleGraph": lambda: (L.ModuleGraph({"lin": nn.Linear(6, 4), "lif": LIF(backend="torch")},
                                          [("input", "lin"), ("lin", "lif"), ("lif", "output")]),
                            torch.empty(4, 2, 6)),
    "Scale": lambda: (L.Scale(torch.ones(6)), torch.empty(4, 2, 6)),
    "SpikingSequential": lambda: (L.SpikingSequential(nn.Linear(6, 4), LIF(backend="torch")), torch.empty(4, 2, 6)),
    "SumPool2d": lambda: (L.SumPool2d(2), torch.empty(4, 2, 3, 6, 6)),
    "Threshold": lambda: (L.Threshold(torch.full((6,), 0.5)), torch.empty(4, 2, 6)),
}

# Layers that need values, not just shapes, in their forward pass (they run on CPU and CUDA, with a
# device-to-host read); each is named with why.
EXEMPT = {
    "DelayedRecurrentSpiking": "sizes its ring buffer from the current sigma of its spread mask (a value)",
}
EXEMPT_DECODERS = {"lzc": "Lempel-Ziv parsing of each spike train is a sequential count on the host"}


def _load_base() -> ModuleType:
    """``test_device_contract.py`` (no package to import it from): its ``LAYERS`` and ``_fwd_bwd``."""
    path = Path(__file__).with_name("test_device_contract.py")
    spec = importlib.util.spec_from_file_location("_device_contract_base", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_BASE = _load_base()
_fwd_bwd = _BASE._fwd_bwd  # the same forward + backward on meta as the base contract


def test_every_layer_class_is_covered_or_exempt() -> None:
    exported = {n for n in dir(L) if isinstance(getattr(L, n), type) and issubclass(getattr(L, n), nn.Module)}
    covered = set(_BASE.LAYERS) | set(MORE) | set(EXEMPT)
    assert exported - covered == set(), "add these layers to the device contract (or exempt them with a reason)"
    assert set(MORE) | set(EXEMPT) <= exported


@pytest.mark.parametrize("name", sorted(MORE))
def test_more_layers_on_meta(name: str) -> None:
    _fwd_bwd(*MORE[name]())


@pytest.mark.parametrize("name", [n for n in DECODERS.names() if n not in EXEMPT_DECODERS])
def test_decoder_on_meta(name: str) -> None:
    _fwd_bwd(DECODERS.create(name), torch.empty(5, 2, 6))


@pytest.mark.parametrize("name", SURROGATES.names())
def test_surrogate_on_meta(name: str) -> None:
    x = torch.empty(3, 4, device=META, requires_grad=True)
    z = SURROGATES.create(name)(x)
    z.sum().backward()
    assert z.device == META and x.grad is not None and x.grad.device == META


@pytest.mark.parametrize("name", LOSSES.names())
def test_loss_on_meta(name: str) -> None:
    out = torch.empty(4, 2, 3, device=META, requires_grad=True)  # [T, B, C]
    loss = LOSSES.get(name)(out, torch.zeros(2, dtype=torch.long, device=META))
    loss.backward()
    assert loss.device == META and out.grad is not None and out.grad.device == META
