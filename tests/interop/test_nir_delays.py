"""NIR export/import of delays (reference check 16): axonal delays as ``nir.Delay(d · dt)``,
per-synapse (DCLS) delays as the fan-out → Delay → summing Affine expansion of the reference (§2.4)."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.interop.nir import from_nir, to_nir
from spikeforge.layers import Delay, DelayedRecurrentSpiking, DelayLinear, LearnableDelay, ModuleGraph
from spikeforge.neurons import LI, LIF

DT = 1e-4


def _spikes(T: int, B: int, n: int, gen: torch.Generator, p: float = 0.3) -> torch.Tensor:
    return (torch.rand(T, B, n, generator=gen) < p).float()


def _shift_np(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Independent reference: ``y[t, :, c] = x[t - d[c], :, c]``, zeros before the start."""
    y = np.zeros_like(x)
    for c, dc in enumerate(d):
        y[dc:, :, c] = x[: x.shape[0] - dc, :, c]
    return y


@pytest.mark.parametrize("dt", [DT, 2.5e-4])
def test_axonal_delay_exports_d_dt_and_reimports_identically(dt: float, gen: torch.Generator,
                                                              tmp_path: Path) -> None:
    layer = LearnableDelay(5, K=7).eval()
    steps = [0, 1, 3, 6, 2]
    with torch.no_grad():
        layer.positions.copy_(3.0 - torch.tensor(steps, dtype=torch.float32) + torch.tensor([0.2, -0.3, 0, 0.4, 0]))
    assert layer.delays.tolist() == steps
    fixed = Delay(torch.tensor(steps))
    xs = _spikes(20, 3, 5, gen)
    for model in (layer, fixed):
        graph = to_nir(model, xs, dt=dt)
        node = next(n for n in graph.nodes.values() if isinstance(n, nir.Delay))
        np.testing.assert_array_equal(node.delay, np.array(steps, dtype=np.float64) * dt)
        nir.write(tmp_path / "d.nir", graph)
        back = from_nir(tmp_path / "d.nir")
        assert back.module(back.order[0]).delays.tolist() == steps
        with torch.no_grad():
            ys, ys2 = model(xs), back(xs)
        assert torch.equal(ys, ys2)
        np.testing.assert_array_equal(ys2.numpy(), _shift_np(xs.numpy(), np.array(steps)))


def _expansion_reference(graph: nir.NIRGraph, x: np.ndarray, dt: float) -> np.ndarray:
    """NIR semantics of a DelayLinear subgraph written out in float64 numpy: u = F x, delay, S v + b."""
    F, S = graph.nodes["fanout"].weight, graph.nodes["sum"].weight
    d = np.rint(graph.nodes["delay"].delay / dt).astype(int)
    u = x @ F.T.astype(np.float64)  # [T, B, N_out*N_in]
    y = _shift_np(u, d) @ S.T.astype(np.float64)  # [T, B, N_out]
    if isinstance(graph.nodes["sum"], nir.Affine):
        y = y + graph.nodes["sum"].bias
    return y


@pytest.mark.parametrize("bias", [True, False])
def test_per_synapse_delays_expand_to_fanout_delay_sum(bias: bool, gen: torch.Generator) -> None:
    torch.manual_seed(5)
    layer = DelayLinear(3, 4, K=6, bias=bias).double().eval()
    with torch.no_grad():
        layer.positions.uniform_(-3, 2, generator=gen)
    graph = to_nir(layer, torch.zeros(2, 1, 3, dtype=torch.float64), dt=DT)
    sub = graph.nodes["delaylinear"]
    assert isinstance(sub, nir.NIRGraph) and sub.metadata == {"layer": "DelayLinear", "K": 6}
    assert [type(sub.nodes[n]).__name__ for n in ("fanout", "delay", "sum")] == [
        "Linear", "Delay", "Affine" if bias else "Linear"]
    # the layout: channel c = j * N_in + i
    w, d = layer.weight.detach().numpy(), layer.delays.numpy()
    for j in range(4):
        for i in range(3):
            c = j * 3 + i
            assert sub.nodes["fanout"].weight[c].tolist() == [float(k == i) for k in range(3)]
            assert sub.nodes["delay"].delay[c] == d[j, i] * DT
            row = np.zeros(12)
            row[c] = w[j, i]
            assert sub.nodes["sum"].weight[j, c] == w[j, i]
    np.testing.assert_array_equal(sub.nodes["sum"].weight.reshape(4, 4, 3)[np.arange(4), np.arange(4)], w)
    assert np.count_nonzero(sub.nodes["sum"].weight) == np.count_nonzero(w)
    # the expansion, executed as NIR says, is the layer (float64, independent numpy reference)
    xs = torch.rand(25, 2, 3, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        ys = layer(xs).numpy()
    np.testing.assert_allclose(_expansion_reference(sub, xs.numpy(), DT), ys, rtol=0, atol=1e-12)


def _snn(gen: torch.Generator) -> nn.Sequential:
    torch.manual_seed(6)
    first, second = DelayLinear(6, 10, K=7, bias=True), DelayLinear(10, 3, K=5)
    with torch.no_grad():
        first.weight.mul_(10.0)
        first.positions.uniform_(-3, 3, generator=gen)
        second.positions.uniform_(-2, 2, generator=gen)
    return nn.Sequential(first, LIF(tau_mem=5e-4, dt=DT, reset="value", size=10), second,
                         LI(tau_mem=1e-3, dt=DT, size=3)).eval()


def test_small_snn_roundtrips_bit_exact(gen: torch.Generator, tmp_path: Path) -> None:
    net = _snn(gen)
    xs = _spikes(60, 4, 6, gen)
    nir.write(tmp_path / "snn.nir", to_nir(net, xs, dt=DT))
    back = from_nir(tmp_path / "snn.nir")
    assert [type(back.module(n)).__name__ for n in back.order] == ["DelayLinear", "LIF", "DelayLinear", "LI"]
    with torch.no_grad():
        hidden = net[1](net[0](xs))
        ys, ys2 = net(xs), back(xs)
        back.train()  # the imported layers keep rounded delays in training mode too
        ys3 = back(xs)
    assert 0.02 < hidden.mean() < 0.8  # the hidden layer fires, so the delays matter
    assert torch.equal(ys, ys2) and torch.equal(ys, ys3)
    # streamed in chunks through the imported graph's state: the same outputs
    with torch.no_grad():
        a, state = back.run(xs[:17])
        b, _ = back.run(xs[17:], state)
    assert torch.equal(torch.cat([a, b]), ys)


def test_untagged_expansion_runs_as_plain_nir(gen: torch.Generator) -> None:
    """Without the metadata tag (another tool's graph, or an edited one) the three nodes run as written."""
    net = _snn(gen)
    xs = _spikes(60, 4, 6, gen)
    graph = to_nir(net, xs, dt=DT)
    for node in graph.nodes.values():
        if isinstance(node, nir.NIRGraph):
            node.metadata = {}
    plain = from_nir(graph)
    assert type(plain.module(plain.order[0])).__name__ == "ModuleGraph"
    with torch.no_grad():
        torch.testing.assert_close(plain(xs), net(xs), rtol=1e-5, atol=1e-6)  # float32 summation order


def test_tagged_but_edited_expansion_is_not_fused() -> None:
    layer = DelayLinear(2, 2, K=4).eval()
    graph = to_nir(layer, torch.zeros(2, 1, 2), dt=DT)
    sub = graph.nodes["delaylinear"]
    sub.nodes["sum"].weight[0, 3] = 0.5  # output 0 now also reads channel 3 (synapse 1 -> input 1)
    back = from_nir(graph)
    assert isinstance(back.module("delaylinear"), ModuleGraph)
    xs = torch.rand(12, 2, 2)
    with torch.no_grad():
        got = back(xs).numpy()
    np.testing.assert_allclose(got, _expansion_reference(sub, xs.numpy().astype(np.float64), DT), rtol=1e-6)


@pytest.mark.parametrize("which", ["DelayLinear", "LearnableDelay"])
def test_interpolated_delays_need_round_delays(which: str, gen: torch.Generator) -> None:
    layer = DelayLinear(3, 2, K=5) if which == "DelayLinear" else LearnableDelay(3, K=5)
    xs = _spikes(15, 2, 3, gen)
    layer.train()  # Gaussian taps
    with pytest.raises(ValueError, match=r"mode 'gauss', training.*round_delays=True"):
        to_nir(layer, xs, dt=DT)
    layer.eval().set_mode("gauss")
    with pytest.raises(ValueError, match="not whole"):
        to_nir(layer, xs, dt=DT)
    layer.train().set_mode("auto")
    graph = to_nir(layer, xs, dt=DT, round_delays=True)
    with torch.no_grad():
        assert torch.equal(from_nir(graph)(xs), layer.eval()(xs))  # what the layer computes in eval()
    # forced triangle mode on whole positions is one-hot: exact, exported without asking
    with torch.no_grad():
        layer.positions.copy_(torch.round(layer.positions))
    layer.train().set_mode("triangle")
    with torch.no_grad():
        assert torch.equal(from_nir(to_nir(layer, xs, dt=DT))(xs), layer(xs))


def test_delay_linear_in_a_cycle_roundtrips(gen: torch.Generator, tmp_path: Path) -> None:
    """A DelayLinear on the feedback path of a recurrent graph: exported, re-imported (fused),
    stepped one step at a time by the graph with its delay line as state."""
    torch.manual_seed(7)
    rec = DelayLinear(8, 8, K=5).eval()
    with torch.no_grad():
        rec.weight.mul_(4.0)
        rec.positions.uniform_(-2, 2, generator=gen)
    fc = nn.Linear(4, 8)
    nn.init.constant_(fc.bias, 0.9)  # near threshold, so the delayed feedback decides spikes
    g = ModuleGraph({"fc": fc, "lif": LIF(tau_mem=5e-4, dt=DT, reset="zero", size=8), "rec": rec},
                    [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    xs = torch.rand(40, 2, 4, generator=gen) * 1.5
    nir.write(tmp_path / "rec.nir", to_nir(g, xs, dt=DT))
    back = from_nir(tmp_path / "rec.nir")
    assert back.is_recurrent and isinstance(back.module("rec"), DelayLinear)
    with torch.no_grad():
        zs = g(xs)
        assert 0 < zs.mean() < 1
        assert torch.equal(back(xs), zs)
        g.module("rec").positions.fill_(2.0)  # all delays 0: another network, other spikes
        assert not torch.equal(g(xs), zs)


def test_half_integer_positions_export_the_delays_the_layer_applies(gen: torch.Generator) -> None:
    """``torch.round`` rounds halves to even: the delay of P = 0.5 with ⌊K/2⌋ = 3 is K-1-round(3.5) = 2."""
    layer = LearnableDelay(4, K=7).eval()
    with torch.no_grad():
        layer.positions.copy_(torch.tensor([0.5, 1.5, -0.5, -2.5]))
    impulse = torch.zeros(10, 1, 4)
    impulse[0] = 1.0
    with torch.no_grad():
        applied = layer(impulse)[:, 0].argmax(0)  # step at which each impulse arrives
    graph = to_nir(layer, impulse, dt=DT)
    assert applied.tolist() == [2, 2, 4, 6]  # centres 3.5, 4.5, 2.5, 0.5 round to 4, 4, 2, 0
    assert layer.delays.tolist() == applied.tolist()
    np.testing.assert_array_equal(graph.nodes["learnabledelay"].delay, applied.numpy() * DT)


def _delrec(synaptic: bool, neuron: str, gen: torch.Generator) -> DelayedRecurrentSpiking:
    torch.manual_seed(9)
    layer = DelayedRecurrentSpiking(3, 6, max_delay=4, synaptic=synaptic, neuron=neuron, dt=1e-3, reset="zero")
    with torch.no_grad():
        layer.recurrent.weight.mul_(4.0)
        layer.input.bias.fill_(0.5)
        layer.delays.uniform_(0, 4, generator=gen)
    return layer.eval()


@pytest.mark.parametrize(("synaptic", "neuron"), [(False, "lif"), (True, "lif"), (True, "cuba_lif")])
def test_delrec_exports_a_delayed_feedback_cycle(synaptic: bool, neuron: str, gen: torch.Generator,
                                                 tmp_path: Path) -> None:
    layer = _delrec(synaptic, neuron, gen)
    xs = torch.rand(40, 2, 3, generator=gen) * 4
    graph = to_nir(layer, xs, dt=1e-3)
    sub = graph.nodes["delayedrecurrentspiking"]
    assert ("recurrent", "neuron") in sub.edges
    d = torch.round(layer.delays.detach()).numpy().astype(np.float64)
    np.testing.assert_array_equal(sub.nodes["delay"].delay, d.reshape(-1) * 1e-3)
    nir.write(tmp_path / "delrec.nir", graph)
    back = from_nir(tmp_path / "delrec.nir")
    assert isinstance(back.module("delayedrecurrentspiking"), DelayedRecurrentSpiking)
    # the same subgraph without its tag runs as plain NIR: a cycle stepped by ModuleGraph
    sub.metadata = {}
    plain = from_nir(graph)
    assert plain.module("delayedrecurrentspiking").is_recurrent
    with torch.no_grad():
        zs = layer(xs)
        assert 0 < zs.mean() < 1
        assert torch.equal(back(xs), zs)
        torch.testing.assert_close(plain(xs), zs)  # spikes: float summation order could only flip a tie
        layer.delays.fill_(0.0)  # other delays, other spikes: the delays are exercised
        assert not torch.equal(layer(xs), zs)


def test_delrec_spread_delays_need_round_delays(gen: torch.Generator) -> None:
    layer = _delrec(False, "lif", gen).train()
    layer.set_sigma(1.5)
    xs = torch.rand(20, 2, 3, generator=gen) * 4
    with pytest.raises(ValueError, match=r"spread over several steps.*round_delays=True"):
        to_nir(layer, xs, dt=1e-3)
    graph = to_nir(layer, xs, dt=1e-3, round_delays=True)
    with torch.no_grad():
        assert torch.equal(from_nir(graph)(xs), layer.eval()(xs))
