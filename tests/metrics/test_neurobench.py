"""Same numbers as NeuroBench 2.3.0 on equivalent snnTorch models with identical weights.

NeuroBench drives snnTorch per time step (``[B, T, ...]`` data, one ``net(x_t)`` per step) and
hooks its layers; spikeforge runs whole ``[T, B, ...]`` sequences. Both models use
``v' = 0.5 v + x``, a strict threshold at 1 and reset to zero in the same step (snnTorch
``Leaky(reset_delay=False, reset_mechanism="zero")`` = ``LIF.from_decay(0.5, reset="zero")``);
the spikes are checked equal first. Two batches of three samples exercise per-sample averaging.

Footprint: NeuroBench counts parameters + buffers; neuron buffers differ between frameworks
(snnTorch stores beta, threshold, graded-spike factor, ...; spikeforge stores tau_mem, r,
v_leak, v_th, v_reset), so parameter bytes are compared.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")
pytest.importorskip("neurobench")

from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount  # noqa: E402
from neurobench.metrics.workload import (  # noqa: E402
    ActivationSparsity,
    ActivationSparsityByLayer,
    MembraneUpdates,
    NeuronOperations,
    SynapticOperations,
)
from neurobench.models import SNNTorchModel  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from spikeforge.layers import TimeDistributed  # noqa: E402
from spikeforge.metrics import profile  # noqa: E402
from spikeforge.neurons import LIF  # noqa: E402

pytestmark = pytest.mark.peers

BETA = 0.5
STATIC = [Footprint, ConnectionSparsity, ParameterCount]
WORKLOAD = [ActivationSparsity, ActivationSparsityByLayer, SynapticOperations, MembraneUpdates, NeuronOperations]


def _leaky(output: bool = False) -> nn.Module:
    return snn.Leaky(beta=BETA, init_hidden=True, output=output, reset_mechanism="zero", reset_delay=False)


def _lif() -> LIF:
    return LIF.from_decay(BETA, reset="zero")


def _prune(*layers: nn.Module, fraction: float = 0.3) -> None:
    """Zero a fixed random subset of weights so connection sparsity is not trivially 0."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for layer in layers:
            layer.weight[torch.rand(layer.weight.shape, generator=g) < fraction] = 0.0


def _run_neurobench(net: nn.Module, data: torch.Tensor) -> dict[str, Any]:
    """``data``: ``[N, T, ...]`` (NeuroBench layout), in batches of 3.

    Adds ``snn_buffer_bytes``: snnTorch's buffers when the static metrics run (before any
    forward; afterwards ``init_hidden`` neurons hold a ``mem`` buffer of the last batch's size).
    """
    buffer_bytes = sum(b.numel() * b.element_size() for b in net.buffers())
    loader = DataLoader(TensorDataset(data, torch.zeros(len(data))), batch_size=3)
    bench = Benchmark(SNNTorchModel(net), loader, [], [], [STATIC, WORKLOAD])
    return {**bench.run(quiet=True), "snn_buffer_bytes": buffer_bytes}


def _run_spikeforge(net: nn.Module, data: torch.Tensor) -> tuple[Any, list[torch.Tensor]]:
    outs = []
    with profile(net) as prof, torch.no_grad():
        for batch in data.split(3):
            outs.append(net(batch.transpose(0, 1)))  # [B, T, ...] -> [T, B, ...]
    return prof, outs


def _snntorch_spikes(net: nn.Module, data: torch.Tensor) -> list[torch.Tensor]:
    outs = []
    with torch.no_grad():
        for batch in data.split(3):
            snn.utils.reset(net)
            outs.append(torch.stack([net(batch[:, t])[0] for t in range(batch.shape[1])]))  # [T, B, ...]
    return outs


def _assert_same(nb: dict[str, Any], prof: Any) -> None:
    syn = prof.synops()
    # NeuroBench swallows metric errors and reports 0: make sure each value is meaningful
    assert nb["SynapticOperations"]["Dense"] > 0 and nb["MembraneUpdates"] > 0
    assert syn == pytest.approx(nb["SynapticOperations"], rel=0, abs=1e-9)
    assert prof.activation_sparsity() == pytest.approx(nb["ActivationSparsity"], abs=1e-12)
    assert prof.layer_activation_sparsity() == pytest.approx(nb["ActivationSparsityByLayer"], abs=1e-12)
    assert prof.membrane_updates() == pytest.approx(nb["MembraneUpdates"], abs=1e-9)
    ops = prof.neuron_ops()
    assert ops["Effective"] == pytest.approx(nb["NeuronOperations"]["Effective Neuron Ops"], abs=1e-9)
    assert ops["Dense"] == pytest.approx(nb["NeuronOperations"]["Neuron Dense Ops"], abs=1e-9)
    assert round(prof.connection_sparsity(), 4) == nb["ConnectionSparsity"] > 0
    assert prof.parameter_count() == nb["ParameterCount"]
    assert prof.footprint().parameter_bytes == nb["Footprint"] - nb["snn_buffer_bytes"]


def test_feedforward_snn_matches_neurobench() -> None:
    snn_net = nn.Sequential(nn.Linear(10, 16), _leaky(), nn.Linear(16, 8), _leaky(), nn.Linear(8, 4), _leaky(True))
    _prune(snn_net[0], snn_net[2], snn_net[4])
    with torch.no_grad():
        for i in (0, 2, 4):
            snn_net[i].weight.mul_(4.0)  # every layer spikes (sparsity ~0.7-0.8)
    ours = nn.Sequential(nn.Linear(10, 16), _lif(), nn.Linear(16, 8), _lif(), nn.Linear(8, 4), _lif())
    ours.load_state_dict({k: v for k, v in snn_net.state_dict().items() if k.split(".")[0] in {"0", "2", "4"}},
                         strict=False)
    data = torch.rand(6, 8, 10) * 1.5  # [N=6, T=8, 10] analogue input: first layer does MACs
    nb = _run_neurobench(snn_net, data)
    prof, outs = _run_spikeforge(ours, data)
    for a, b in zip(outs, _snntorch_spikes(snn_net, data), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert nb["SynapticOperations"]["Effective_MACs"] > 0 and nb["SynapticOperations"]["Effective_ACs"] > 0
    assert all(0 < v < 1 for v in nb["ActivationSparsityByLayer"].values())
    _assert_same(nb, prof)


def test_conv_snn_matches_neurobench() -> None:
    snn_net = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), _leaky(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 5), _leaky(True),
    )
    _prune(snn_net[0], snn_net[4])
    ours = nn.Sequential(
        TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), _lif(), TimeDistributed(nn.AvgPool2d(2)),
        TimeDistributed(nn.Flatten()), nn.Linear(4 * 4 * 4, 5), _lif(),
    )
    with torch.no_grad():
        ours[0].module.load_state_dict(snn_net[0].state_dict())
        ours[4].load_state_dict(snn_net[4].state_dict())
        for layer, gain in ((ours[0].module, 3.0), (snn_net[0], 3.0), (ours[4], 10.0), (snn_net[4], 10.0)):
            layer.weight.mul_(gain)  # enough drive for spikes in both neuron layers
    g = torch.Generator().manual_seed(3)
    data = (torch.rand(6, 5, 2, 8, 8, generator=g) < 0.4).float()  # spikes: conv does ACs, pooled input MACs
    nb = _run_neurobench(snn_net, data)
    prof, outs = _run_spikeforge(ours, data)
    for a, b in zip(outs, _snntorch_spikes(snn_net, data), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert nb["SynapticOperations"]["Effective_ACs"] > 0 and nb["SynapticOperations"]["Effective_MACs"] > 0
    assert all(0 < v < 1 for v in nb["ActivationSparsityByLayer"].values())
    _assert_same(nb, prof)
