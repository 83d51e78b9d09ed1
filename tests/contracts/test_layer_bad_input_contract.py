"""Bad input over every layer class the device contracts build (``LAYERS`` and ``MORE``): a NaN or
infinite input raises :class:`NonFiniteError` naming the step and index (a recurrent layer, an E-I
circuit or a NIR primitive used to hand back NaN or silently drop the spike), and a container names
the child that raised, so a shape mismatch in a user's ``nn.Linear`` is not a bare torch error."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn

import spikeforge.layers as L
from spikeforge.neurons import LIF
from spikeforge.numerics import NonFiniteError, allow_nonfinite

HERE = Path(__file__).parent


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bad_input_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = {**_load("test_device_contract").LAYERS, **_load("test_device_contract_more").MORE}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_layer_nonfinite_input_raises(name: str, bad: float) -> None:
    gen = torch.Generator().manual_seed(0)
    layer, x = CASES[name]()
    assert x.is_floating_point(), f"{name}: a case with integer input needs its own bad-input test"
    x = torch.rand(x.shape, generator=gen)
    layer(x)  # a clean input runs
    x[1, 0].view(-1)[2] = bad
    with pytest.raises(NonFiniteError, match=r"non-finite input .* at time step 1, index \(0, "):
        layer(x)
    with allow_nonfinite():  # the opt-out lets IEEE values through
        layer(x)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes need Python 3.11")
def test_sequential_names_the_failing_layer() -> None:
    net = L.SpikingSequential(nn.Linear(6, 4), LIF(backend="torch"), nn.Linear(5, 2))
    for call in (net, lambda xs: net.run(xs)[0]):
        with pytest.raises(RuntimeError, match="shapes cannot be multiplied") as info:
            call(torch.rand(3, 2, 6))
        assert "SpikingSequential: raised by layer 2 (Linear) on an input of shape (3, 2, 4)" in info.value.__notes__


@pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes need Python 3.11")
@pytest.mark.parametrize("recurrent", [False, True])
def test_graph_names_the_failing_node(recurrent: bool) -> None:
    nodes = {"fc": nn.Linear(6, 4), "lif": LIF(backend="torch"), "out": nn.Linear(5, 2)}
    edges = [("input", "fc"), ("fc", "lif"), ("lif", "out"), ("out", "output")]
    if recurrent:
        nodes["back"] = nn.Linear(4, 4)
        edges += [("lif", "back"), ("back", "lif")]
    graph = L.ModuleGraph(nodes, edges)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied") as info:
        graph(torch.rand(3, 2, 6))
    notes = info.value.__notes__
    assert any(n.startswith("ModuleGraph: raised by node 'out' (Linear) on an input of shape") for n in notes), notes
