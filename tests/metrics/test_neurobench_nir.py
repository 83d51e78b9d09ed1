"""NeuroBench 2.3.0 numbers on a model imported from NIR (``sf.from_nir``), feed-forward and recurrent.

The twin is an snnTorch network (``Leaky`` / ``RLeaky`` with ``reset_mechanism="zero"``,
``reset_delay=False``), measured by NeuroBench through its ``SNNTorchModel`` (hooks on snnTorch's
layers, one call per time step). The same network goes through snnTorch's ``export_to_nir`` and
``sf.from_nir``, whose spikes are equal step for step (tests/interop/test_nir_peers.py), and is
measured twice:

- by ``sf.metrics.profile`` on the imported :class:`~spikeforge.layers.graph.ModuleGraph`;
- by NeuroBench itself, through its generic ``TorchModel`` with the spikeforge neuron class
  registered as an activation module: its forward hooks must see the graph's nodes (before graph
  nodes ran through the module call path they saw nothing and reported 0).

Recurrent synapses, where the two executions differ (both accounted for by hand): snnTorch's
``RLeaky`` feeds ``W z[t-1]`` at step ``t`` (``z[-1] = 0``) and, with ``reset_mechanism="zero"``,
evaluates its recurrent Linear **twice** per step (``_base_zero`` calls ``_base_state_function``
twice), so NeuroBench counts ``W`` on ``z[-1] .. z[T-2]`` twice; a NIR recurrent edge computes
``W z[t]`` once at step ``t`` and delivers it at ``t + 1``, so the graph's Linear runs once on
``z[0] .. z[T-1]``. With ``R(z)`` the ACs of spikes ``z`` through ``W``:
NeuroBench = ours + ``T · 16 · 16`` dense and ours + ``R(z[0..T-2]) - R(z[T-1])`` effective ACs.
NeuroBench's ``TorchModel`` on the graph counts what the graph runs, so it equals the profile.
"""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")
pytest.importorskip("neurobench")

from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.static import ConnectionSparsity, ParameterCount  # noqa: E402
from neurobench.metrics.workload import (  # noqa: E402
    ActivationSparsity,
    ActivationSparsityByLayer,
    MembraneUpdates,
    NeuronOperations,
    SynapticOperations,
)
from neurobench.models import SNNTorchModel, TorchModel  # noqa: E402
from snntorch.export_nir import export_to_nir  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from spikeforge.interop.nir import from_nir  # noqa: E402
from spikeforge.layers.graph import ModuleGraph  # noqa: E402
from spikeforge.metrics import profile  # noqa: E402
from spikeforge.neurons import Neuron  # noqa: E402

pytestmark = [pytest.mark.peers, pytest.mark.filterwarnings("ignore:nirtorch.*deprecated:DeprecationWarning")]

T, N, F = 12, 6, 10  # steps, samples (two batches of 3), input features
COMMON = {"init_hidden": True, "reset_mechanism": "zero", "reset_delay": False}


def _prune(*layers: nn.Module, fraction: float = 0.3) -> None:
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for layer in layers:
            layer.weight[torch.rand(layer.weight.shape, generator=g) < fraction] = 0.0


def _feedforward() -> nn.Sequential:
    torch.manual_seed(31)
    net = nn.Sequential(nn.Linear(F, 16), snn.Leaky(beta=torch.linspace(0.5, 0.9, 16), threshold=torch.ones(16),
                                                    **COMMON),
                        nn.Linear(16, 8), snn.Leaky(beta=torch.full((8,), 0.8), threshold=torch.ones(8), **COMMON),
                        nn.Linear(8, 4), snn.Leaky(beta=torch.full((4,), 0.7), threshold=torch.ones(4), output=True,
                                                   **COMMON))
    _prune(net[0], net[2], net[4])
    with torch.no_grad():
        for i in (0, 2, 4):
            net[i].weight.mul_(3.0)  # every layer spikes, none always
    return net


def _recurrent() -> nn.Sequential:
    torch.manual_seed(32)
    rleaky = snn.RLeaky(beta=torch.full((16,), 0.8), threshold=torch.ones(16), linear_features=16, **COMMON)
    with torch.no_grad():
        rleaky.recurrent.bias.zero_()  # snnTorch adds it at t = 0 already; a NIR edge delivers nothing then
        rleaky.recurrent.weight.mul_(2.0)
    net = nn.Sequential(nn.Linear(F, 16), rleaky, nn.Linear(16, 4),
                        snn.Leaky(beta=torch.full((4,), 0.7), threshold=torch.ones(4), output=True, **COMMON))
    _prune(net[0], net[2])
    with torch.no_grad():
        net[0].weight.mul_(2.0)
        net[2].weight.mul_(3.0)
    return net


def _data() -> torch.Tensor:
    return 1.5 * torch.rand(N, T, F, generator=torch.Generator().manual_seed(5))  # [N, T, F], NeuroBench layout


def _neurobench(model: Any, data: torch.Tensor, workload: list[type]) -> dict[str, Any]:
    loader = DataLoader(TensorDataset(data, torch.zeros(len(data))), batch_size=3)
    return Benchmark(model, loader, [], [], [[ConnectionSparsity, ParameterCount], workload]).run(quiet=True)


class _BatchFirst(nn.Module):
    """NeuroBench's ``TorchModel`` passes ``[B, T, ...]``; the graph is time-major."""

    def __init__(self, graph: ModuleGraph) -> None:
        super().__init__()
        self.graph = graph

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.graph(x.transpose(0, 1)).transpose(0, 1)  # [B, T, *] -> [T, B, *] -> [B, T, *]


def _import(net: nn.Module, tmp_path: Any) -> ModuleGraph:
    import nir

    with contextlib.redirect_stdout(io.StringIO()):
        graph = export_to_nir(net, torch.zeros(1, F), ignore_dims=[0])
    nir.write(tmp_path / "snn.nir", graph)
    return from_nir(tmp_path / "snn.nir")  # no dt recorded: 1e-4 s, snnTorch's


def _snntorch_spikes(net: nn.Module, data: torch.Tensor) -> torch.Tensor:
    outs = []
    with torch.no_grad():
        for batch in data.split(3):
            snn.utils.reset(net)
            outs.append(torch.stack([net(batch[:, t])[0] for t in range(T)]))  # [T, B, out]
    return torch.cat(outs, dim=1)


def _ours(graph: ModuleGraph, data: torch.Tensor) -> tuple[Any, torch.Tensor]:
    outs = []
    with profile(graph) as prof, torch.no_grad():
        for batch in data.split(3):
            outs.append(graph(batch.transpose(0, 1)))  # [T, B, out]
    return prof, torch.cat(outs, dim=1)


def _recurrent_linear(graph: ModuleGraph) -> nn.Linear:
    """The recurrent Linear of the imported RLeaky (the source of the graph's recurrent edge)."""
    for m in graph.modules():
        if isinstance(m, ModuleGraph) and m.is_recurrent:
            (src, _), = m.recurrent_edges
            linear = m.module(src)
            assert isinstance(linear, nn.Linear)
            return linear
    raise AssertionError("no recurrent subgraph")


@pytest.mark.parametrize("recurrent", [False, True], ids=["feedforward", "recurrent"])
def test_imported_model_matches_neurobench(recurrent: bool, tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    net = _recurrent() if recurrent else _feedforward()
    data = _data()
    nb = _neurobench(SNNTorchModel(net), data, [ActivationSparsity, ActivationSparsityByLayer, SynapticOperations,
                                                MembraneUpdates, NeuronOperations])
    graph = _import(net, tmp_path)
    assert any(isinstance(m, ModuleGraph) and m.is_recurrent for m in graph.modules()) == recurrent
    prof, ours = _ours(graph, data)
    expected = _snntorch_spikes(net, data)
    assert torch.equal(ours, expected)
    # NeuroBench swallows metric errors and reports 0: every compared value must be meaningful
    assert 0 < nb["ActivationSparsity"] < 1 and nb["MembraneUpdates"] > 0
    assert all(0 < v < 1 for v in nb["ActivationSparsityByLayer"].values())
    assert nb["SynapticOperations"]["Effective_MACs"] > 0 and nb["SynapticOperations"]["Effective_ACs"] > 0

    # sf.metrics.profile on the imported graph
    assert prof.samples == N and prof.steps == T
    assert prof.activation_sparsity() == pytest.approx(nb["ActivationSparsity"], abs=1e-12)
    assert sorted(prof.layer_activation_sparsity().values()) == pytest.approx(
        sorted(nb["ActivationSparsityByLayer"].values()), abs=1e-12)
    assert prof.membrane_updates() == pytest.approx(nb["MembraneUpdates"], abs=1e-9)
    assert prof.parameter_count() == nb["ParameterCount"]
    assert round(prof.connection_sparsity(), 4) == nb["ConnectionSparsity"] > 0
    syn, nb_syn = prof.synops(), dict(nb["SynapticOperations"])
    if recurrent:  # module docstring: NeuroBench's count of snnTorch's recurrent Linear, by hand
        w_rec = _recurrent_linear(graph)
        hidden = torch.cat([torch.stack(_snntorch_hidden(net, batch)) for batch in data.split(3)], dim=1)  # [T, N, 16]

        def acs(z: torch.Tensor) -> float:
            return float(((z != 0).float() @ (w_rec.weight != 0).float().T).sum()) / N

        early, last = acs(hidden[:-1]), acs(hidden[-1])
        assert early > 0 and last > 0
        nb_syn["Dense"] -= T * 16 * 16
        nb_syn["Effective_ACs"] -= early - last
    else:
        ops = prof.neuron_ops()
        assert nb["NeuronOperations"]["Effective Neuron Ops"] > 0
        assert ops["Effective"] == pytest.approx(nb["NeuronOperations"]["Effective Neuron Ops"], abs=1e-9)
        assert ops["Dense"] == pytest.approx(nb["NeuronOperations"]["Neuron Dense Ops"], abs=1e-9)
    assert syn == pytest.approx(nb_syn, rel=1e-12, abs=1e-9)

    # NeuroBench's own hooks on the imported graph (generic TorchModel, spikeforge neurons as activations)
    wrapped = TorchModel(_BatchFirst(graph))
    wrapped.add_activation_module(Neuron)
    nb_ours = _neurobench(wrapped, data, [ActivationSparsity, ActivationSparsityByLayer, SynapticOperations])
    assert nb_ours["ActivationSparsity"] == pytest.approx(nb["ActivationSparsity"], abs=1e-12)
    assert sorted(nb_ours["ActivationSparsityByLayer"].values()) == pytest.approx(
        sorted(nb["ActivationSparsityByLayer"].values()), abs=1e-12)
    assert nb_ours["SynapticOperations"] == pytest.approx(syn, rel=1e-12, abs=1e-9)
    assert nb_ours["ParameterCount"] == nb["ParameterCount"]
    assert nb_ours["ConnectionSparsity"] == nb["ConnectionSparsity"]


def _snntorch_hidden(net: nn.Sequential, batch: torch.Tensor) -> list[torch.Tensor]:
    """Spikes of the RLeaky layer (``net[1]``) at every step of one batch ``[B, T, F]``."""
    snn.utils.reset(net)
    with torch.no_grad():
        return [net[1](net[0](batch[:, t])) for t in range(T)]
