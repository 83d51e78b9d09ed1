"""Graphs with several Input / Output nodes: import, execution against a float64 reference, and
the spikeforge → NIR file → spikeforge round trip."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from _nets import DT
from torch import nn

from spikeforge.interop.nir import NIRFormatError, from_nir, to_nir
from spikeforge.layers.graph import ModuleGraph
from spikeforge.neurons import LI, LIF


def _two_in_two_out() -> nir.NIRGraph:
    """a[3] → Affine ─┐
                       LI → o1;   b[2] → Linear → o2 (and into the LI)
    b[2] → Linear ────┘"""
    g = np.random.default_rng(0)
    return nir.NIRGraph(
        nodes={
            "a": nir.Input(input_type=np.array([3])),
            "b": nir.Input(input_type=np.array([2])),
            "fa": nir.Affine(weight=g.normal(size=(4, 3)).astype(np.float32), bias=g.normal(size=4).astype(np.float32)),
            "fb": nir.Linear(weight=g.normal(size=(4, 2)).astype(np.float32)),
            "li": nir.LI(tau=np.linspace(5e-4, 2e-3, 4), r=np.linspace(1.0, 2.0, 4), v_leak=np.full(4, 0.1)),
            "o1": nir.Output(output_type=np.array([4])),
            "o2": nir.Output(output_type=np.array([4])),
        },
        edges=[("a", "fa"), ("b", "fb"), ("fa", "li"), ("fb", "li"), ("li", "o1"), ("fb", "o2")],
        metadata={"dt": DT},
    )


def _reference(graph: nir.NIRGraph, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward Euler of the graph in float64: ``v' = v + dt/tau (v_leak - v + r x)``, ``v(0) = v_leak``."""
    n = graph.nodes
    xa = a @ n["fa"].weight.T.astype(np.float64) + n["fa"].bias
    xb = b @ n["fb"].weight.T.astype(np.float64)
    li = n["li"]
    v = np.broadcast_to(li.v_leak, xa.shape[1:]).copy()
    vs = []
    for t in range(a.shape[0]):
        v = v + DT / li.tau * (li.v_leak - v + li.r * (xa[t] + xb[t]))
        vs.append(v)
    return np.stack(vs), xb


def test_imports_several_inputs_and_outputs(tmp_path: Path) -> None:
    graph = _two_in_two_out()
    nir.write(tmp_path / "two.nir", graph)
    net = from_nir(tmp_path / "two.nir")
    assert net.input_names == ["a", "b"] and net.output_names == ["o1", "o2"]
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(30, 5, 3, generator=gen), torch.rand(30, 5, 2, generator=gen)
    with torch.no_grad():
        o1, o2 = net((a, b))
        d1, d2 = net({"b": b, "a": a})  # by name, any order
    assert torch.equal(o1, d1) and torch.equal(o2, d2)
    ref1, ref2 = _reference(graph, a.double().numpy(), b.double().numpy())
    np.testing.assert_allclose(o1.double().numpy(), ref1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(o2.double().numpy(), ref2, rtol=1e-5, atol=1e-6)
    # streaming: run in two chunks and step by step give the same outputs
    (p1, p2), state = net.run((a[:12], b[:12]))
    (q1, q2), _ = net.run((a[12:], b[12:]), state)
    assert torch.equal(torch.cat([p1, q1]), o1) and torch.equal(torch.cat([p2, q2]), o2)
    (s1, s2), _ = net.step((a[0], b[0]))
    assert torch.equal(s1, o1[0]) and torch.equal(s2, o2[0])


def _graph_with_two_inputs_and_a_cycle() -> ModuleGraph:
    torch.manual_seed(21)
    return ModuleGraph(
        {"fx": nn.Linear(3, 6), "fy": nn.Linear(2, 6, bias=False),
         "lif": LIF(tau_mem=torch.linspace(5e-4, 2e-3, 6), dt=DT, reset="value"),
         "rec": nn.Linear(6, 6), "ro": nn.Linear(6, 2), "li": LI(tau_mem=1e-3, dt=DT, size=2)},
        [("x", "fx"), ("y", "fy"), ("fx", "lif"), ("fy", "lif"), ("lif", "rec"), ("rec", "lif"),
         ("lif", "ro"), ("ro", "li"), ("li", "readout"), ("lif", "spikes"), ("y", "fy_raw")],
        input=("x", "y"), output=("readout", "spikes", "fy_raw"),
    )


def test_multi_io_graph_roundtrips_through_a_file(tmp_path: Path) -> None:
    model = _graph_with_two_inputs_and_a_cycle()
    gen = torch.Generator().manual_seed(1)
    xs = (8 * torch.rand(40, 3, 3, generator=gen), 8 * torch.rand(40, 3, 2, generator=gen))
    graph = to_nir(model, xs, dt=DT)
    assert [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)] == ["x", "y"]
    assert sorted(n for n, v in graph.nodes.items() if isinstance(v, nir.Output)) == ["fy_raw", "readout", "spikes"]
    nir.write(tmp_path / "multi.nir", graph)
    nir.read(tmp_path / "multi.nir")  # nir's own type check accepts it
    imported = from_nir(tmp_path / "multi.nir")
    assert imported.input_names == ["x", "y"]
    assert sorted(imported.output_names) == ["fy_raw", "readout", "spikes"]
    with torch.no_grad():
        ours = dict(zip(model.output_names, model(xs)))
        theirs = dict(zip(imported.output_names, imported({"x": xs[0], "y": xs[1]})))
    assert 0 < ours["spikes"].mean().item() < 1
    assert torch.equal(ours["fy_raw"], xs[1])  # an input wired straight to an output
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name


def test_multi_io_errors_name_the_problem(tmp_path: Path) -> None:
    model = _graph_with_two_inputs_and_a_cycle()
    x, y = torch.rand(5, 2, 3), torch.rand(5, 2, 2)
    with pytest.raises(TypeError, match=r"2 input nodes \['x', 'y'\]"):
        model(x)
    with pytest.raises(ValueError, match=r"inputs are \['x', 'y'\], got a dict with keys \['x', 'z'\]"):
        model({"x": x, "z": y})
    with pytest.raises(ValueError, match="got 1 tensors"):
        model((x,))
    with pytest.raises(ValueError, match="share their leading"):
        model((x, y[:4]))
    with pytest.raises(ValueError, match="several|3 output nodes"):
        _ = model.output_name
    with pytest.raises(TypeError, match="one input and one output node"):
        to_nir(nn.Sequential(nn.Identity(), model), x)
    with pytest.raises(TypeError, match=r"one tensor \[T, B, \*\] per graph input"):
        to_nir(model, x)
    # a nested NIR subgraph with two inputs cannot be wired with single-valued edges
    sub = _two_in_two_out()
    sub.metadata = {}
    outer = nir.NIRGraph(nodes={"in": nir.Input(input_type=np.array([3])), "sub": sub,
                                "out": nir.Output(output_type=np.array([4]))},
                         edges=[("in", "sub"), ("sub", "out")], type_check=False)
    with pytest.raises(NIRFormatError, match="subgraph 'sub' has inputs"):
        from_nir(outer, type_check=False)
    bad = _two_in_two_out()
    bad.edges = [e for e in bad.edges if e[1] != "o2"]
    with pytest.raises(NIRFormatError, match="output node 'o2' cannot be reached"):
        from_nir(bad, type_check=False)
