"""Which peer simulators load a spikeforge graph holding ``nir.Delay`` (test-only peers).

Measured with the installed versions (snnTorch 1.0.0, Norse 1.1.0, SpikingJelly 2.0.0, nirtorch 2.6):
none of them runs a delay. snnTorch and SpikingJelly refuse the graph with nirtorch's clean
``ValueError: Unknown node type <class 'nir.ir.delay.Delay'>, mapping does not exist in node_map``
(their node maps have no ``Delay`` entry). Norse loads it *without an error* but drops the node:
its mapper returns ``None`` for ``Delay`` and nirtorch's deprecated ``load`` leaves a hole, so
the node after the delay is cut off from the nodes before it and is fed the graph input instead
(nirtorch logs "Multiple input nodes found"); which piece it runs depends on set order, and either
way (a shape error, or outputs that are not the model's) the network is not the exported one.
If a peer learns to run delays these tests fail, and docs/delays.md should be updated.
"""

from __future__ import annotations

import contextlib
import io
import logging

import pytest
import torch
from torch import nn

from spikeforge.interop.nir import to_nir
from spikeforge.layers import DelayLinear, LearnableDelay
from spikeforge.neurons import LIF

DT = 1e-4  # the dt fixed by snnTorch and SpikingJelly

pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.*deprecated:DeprecationWarning")


def _net(synaptic: bool) -> nn.Sequential:
    torch.manual_seed(21)
    first = DelayLinear(3, 4, K=4, bias=True) if synaptic else nn.Sequential(nn.Linear(3, 4), LearnableDelay(4, K=4))
    if synaptic:
        with torch.no_grad():
            first.positions.fill_(-1.0)  # every synapse 2 steps
    else:
        with torch.no_grad():
            first[1].positions.copy_(torch.tensor([1.0, 0.0, -1.0, -2.0]))  # 1, 2, 3, 4 steps
    return nn.Sequential(first, LIF(tau_mem=1e-3, dt=DT, reset="zero", size=4)).eval()


@pytest.mark.parametrize("synaptic", [False, True])
def test_snntorch_refuses_delay(synaptic: bool) -> None:
    pytest.importorskip("snntorch")
    from snntorch.import_nir import import_from_nir

    graph = to_nir(_net(synaptic), torch.zeros(5, 1, 3), dt=DT)
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(ValueError, match=r"Unknown node type.*Delay"):
        import_from_nir(graph)


@pytest.mark.parametrize("synaptic", [False, True])
def test_spikingjelly_refuses_delay(synaptic: bool) -> None:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based.nir_exchange import import_from_nir

    graph = to_nir(_net(synaptic), torch.zeros(5, 1, 3), dt=DT)
    with pytest.raises(ValueError, match=r"Unknown node type.*Delay"):
        import_from_nir(graph, dt=DT)


def test_norse_drops_the_delay_node(caplog: pytest.LogCaptureFixture) -> None:
    """Which of the two disconnected pieces Norse then runs is the first element of a Python set of
    nodes (nirtorch's ``next(iter(inputs))``, ordered by object address): from the LIF, fed the
    3-wide graph input, it fails with a shape error; from the graph input, the LIF never runs.
    Either way the outputs are not the model's."""
    norse = pytest.importorskip("norse.torch")
    net = _net(synaptic=False)
    xs = 3 * torch.rand(30, 2, 3, generator=torch.Generator().manual_seed(3))
    graph = to_nir(net, xs, dt=DT)  # nodes 0.0 (Affine) -> 0.1 (Delay) -> 1 (LIF)
    with caplog.at_level(logging.WARNING):
        peer = norse.from_nir(graph, dt=DT)
    assert "Multiple input nodes found" in caplog.text
    links = {n.name: [o.name for o in n.outgoing_nodes] for n in peer.graph.node_list}
    assert "0_1" not in links  # no delay node
    assert links["0_0"] == []  # the Affine before it feeds nothing
    with torch.no_grad():
        ours = net(xs)
        assert 0 < ours.mean() < 1
        try:
            ys, state = [], None
            for x in xs:
                y, state = peer(x, state)
                ys.append(y)
        except RuntimeError as e:
            assert "must match the size" in str(e)
        else:
            assert not (torch.stack(ys).shape == ours.shape and torch.equal(torch.stack(ys), ours))
