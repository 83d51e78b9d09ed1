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
from spikeforge.neurons import LI, LIF, CubaLIF  # noqa: E402

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
            net.reset() if hasattr(net, "reset") else snn.utils.reset(net)  # as SNNTorchModel does
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


class _LIReadout(nn.Module):
    """``v' = BETA v + x``, output ``(v, v)``: a non-spiking readout that is not an snnTorch
    ``SpikingNeuron``, so NeuroBench does not take it for an activation layer."""

    def __init__(self) -> None:
        super().__init__()
        self.mem: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.mem = x if self.mem is None else BETA * self.mem + x
        return self.mem, self.mem


class _ReadoutTwin(nn.Sequential):
    def reset(self) -> None:  # SNNTorchModel calls net.reset() before each batch
        snn.utils.reset(self)
        self[-1].mem = None


def test_non_spiking_readout_is_not_an_activation_like_neurobench() -> None:
    """Linear–LIF–Linear–LI: the total activation sparsity is the spiking layer's alone; the LI
    membrane (almost never exactly 0) would pull it towards 0 if it were counted."""
    twin = _ReadoutTwin(nn.Linear(10, 16), _leaky(), nn.Linear(16, 4), _LIReadout())
    with torch.no_grad():
        twin[0].weight.mul_(4.0)
    ours = nn.Sequential(nn.Linear(10, 16), _lif(), nn.Linear(16, 4), LI.from_decay(BETA))
    ours.load_state_dict({k: v for k, v in twin.state_dict().items() if k.split(".")[0] in {"0", "2"}}, strict=False)
    data = torch.rand(6, 8, 10) * 1.5  # [N, T, 10]
    nb = _run_neurobench(twin, data)
    prof, outs = _run_spikeforge(ours, data)
    hidden = []
    with torch.no_grad():
        for batch, out in zip(data.split(3), outs, strict=True):
            twin.reset()
            steps = [twin(batch[:, t]) for t in range(batch.shape[1])]
            torch.testing.assert_close(out, torch.stack([m for m, _ in steps]), rtol=0, atol=0)  # same readout
            hidden.append(ours[:2](batch.transpose(0, 1)))  # [T, B, 16] spikes
    spikes = torch.cat(hidden, 1)
    by_hand = 1.0 - float((spikes != 0).sum()) / spikes.numel()
    assert 0.1 < by_hand < 0.9  # a sparsity that the membrane would visibly change
    assert nb["ActivationSparsity"] == pytest.approx(by_hand, abs=1e-12)
    assert prof.activation_sparsity() == pytest.approx(nb["ActivationSparsity"], abs=1e-12)
    assert prof.layer_activation_sparsity() == pytest.approx(nb["ActivationSparsityByLayer"], abs=1e-12)
    assert prof.synops() == pytest.approx(nb["SynapticOperations"], rel=0, abs=1e-9)


class _SynapticTwin(nn.Module):
    """Linear–Synaptic–Linear–Synaptic returning ``(spikes, mem)`` as SNNTorchModel expects."""

    def __init__(self, reset: str) -> None:
        super().__init__()
        kw: dict[str, Any] = {"alpha": BETA, "beta": BETA, "reset_mechanism": reset, "reset_delay": False}
        self.net = nn.Sequential(nn.Linear(10, 16), snn.Synaptic(init_hidden=True, **kw), nn.Linear(16, 4),
                                 snn.Synaptic(init_hidden=True, output=True, **kw))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spk, _, mem = self.net(x)
        return spk, mem

    def reset(self) -> None:  # snn.utils.reset leaves a nested Synaptic's current (NeuroBench calls this)
        for m in self.net:
            if isinstance(m, snn.Synaptic):
                m.reset_mem()


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("model", ["lif", "cuba_lif"])
def test_neuron_ops_per_reset_match_neurobench(model: str, reset: str) -> None:
    """Neuron operations and membrane updates of LIF (snnTorch Leaky) and CubaLIF (Synaptic) for
    each reset NeuroBench prices, on twins with identical weights and identical spikes.

    snnTorch's subtractive reset with ``reset_delay=False`` subtracts the threshold twice when a
    membrane is still above it after one reset; the drive is kept low enough that this does not
    happen (each current is a non-negative weighted sum of inputs in [0, 1] with the row sums
    below; equal spikes confirm it). Four hidden neurons get no input, so their membranes rest
    and effective counts differ from dense ones.
    """
    if model == "lif":
        kw = {"beta": BETA, "reset_mechanism": reset, "reset_delay": False}
        twin: nn.Module = nn.Sequential(nn.Linear(10, 16), snn.Leaky(init_hidden=True, **kw), nn.Linear(16, 4),
                                        snn.Leaky(init_hidden=True, output=True, **kw))
        layers, bounds = twin, (0.95, 0.95)  # v < 2 max I < 2 v_th
        neuron = lambda: LIF.from_decay(BETA, reset=reset)  # noqa: E731
    else:
        twin = _SynapticTwin(reset)
        layers, bounds = twin.net, (0.45, 0.9)  # i < 2 max I, v < 2 max i
        neuron = lambda: CubaLIF.from_decay(BETA, BETA, reset=reset)  # noqa: E731
    _prune(layers[0], layers[2])
    with torch.no_grad():
        for layer, bound in zip((layers[0], layers[2]), bounds, strict=True):
            layer.weight.abs_()
            layer.weight.mul_(bound / layer.weight.sum(1, keepdim=True))  # rows sum to the bound
            layer.bias.zero_()
        layers[0].weight[:4] = 0.0  # hidden neurons 0-3 never move
    ours = nn.Sequential(nn.Linear(10, 16), neuron(), nn.Linear(16, 4), neuron())
    ours.load_state_dict({k: v for k, v in layers.state_dict().items() if k.split(".")[0] in {"0", "2"}},
                         strict=False)
    data = 0.5 + 0.5 * torch.rand(6, 8, 10, generator=torch.Generator().manual_seed(5))  # [N, T, 10] in [0.5, 1)
    nb = _run_neurobench(twin, data)
    prof, outs = _run_spikeforge(ours, data)
    for a, b in zip(outs, _snntorch_spikes(twin, data), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert all(0 < v < 1 for v in nb["ActivationSparsityByLayer"].values())  # both layers spike, not always
    assert 0 < nb["NeuronOperations"]["Effective Neuron Ops"] < nb["NeuronOperations"]["Neuron Dense Ops"]
    _assert_same(nb, prof)
