"""ModuleGraph runs every node through the module call path: forward hooks see each node's real
input and output, the state of stateful nodes travels with the call, and hook-based tools
(``sf.metrics.profile``) work on imported and graph-built models, feed-forward and recurrent."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from _nets import DT, mlp_lif, recurrent_net, sample
from torch import nn

import spikeforge as sf
from spikeforge.interop.nir import from_nir, to_nir
from spikeforge.layers.graph import ModuleGraph
from spikeforge.neurons import LIF


def _record(model: nn.Module) -> tuple[dict[str, list[tuple[Any, ...]]], list[Any]]:
    """Forward hook on every node module: name → list of (args, output) per call."""
    calls: dict[str, list[tuple[Any, ...]]] = {}
    handles = []
    for name, module in model.named_modules():
        if name:
            def hook(m: nn.Module, args: tuple[Any, ...], out: Any, name: str = name) -> None:
                calls.setdefault(name, []).append((args, out))
            handles.append(module.register_forward_hook(hook))
    return calls, handles


def test_feedforward_nodes_are_called_once_with_the_whole_sequence(gen: torch.Generator) -> None:
    model = mlp_lif(gen)
    imported = from_nir(to_nir(model, torch.zeros(2, 1, 6), dt=DT))
    xs = sample((6,), gen)
    calls, handles = _record(imported)
    with torch.no_grad():
        ys = imported(xs)
    for h in handles:
        h.remove()
    node_calls = {k.removeprefix("nodes."): v for k, v in calls.items() if k != "nodes"}
    assert sorted(node_calls) == ["0", "1", "2", "3"]
    assert all(len(v) == 1 for v in node_calls.values())
    (args, out), = node_calls["1"]  # the LIF: whole sequence from rest, state None
    assert args[0].shape == (40, 3, 10) and args[1] is None
    with torch.no_grad():
        h = model[0](xs)
        assert torch.equal(args[0], h)
        assert torch.equal(out, model[1](h))  # what the hook saw is the neuron's real output
    assert torch.equal(node_calls["3"][0][1], ys)
    assert "forward" not in vars(imported.module("1"))  # the temporary binding is gone


def test_recurrent_nodes_are_called_per_step_with_their_state(gen: torch.Generator) -> None:
    """In a cycle every node runs step by step: hooks see ``[1, B, *]`` and the neuron's state
    before the step (None at the first step); the outputs seen equal a manual unrolling."""
    model = recurrent_net(gen)
    xs = sample((6,), gen, T=12)
    calls, handles = _record(model)
    with torch.no_grad():
        model(xs)
    for h in handles:
        h.remove()
    lif_calls = calls["nodes.lif"]
    assert len(lif_calls) == 12 and len(calls["nodes.rec"]) == 12
    fc, lif, rec = model.module("fc"), model.module("lif"), model.module("rec")
    state, z_prev = None, None
    with torch.no_grad():
        for t, (args, out) in enumerate(lif_calls):
            cur = fc(xs[t]) + (rec(z_prev) if z_prev is not None else 0)  # [B, 8]
            assert args[0].shape == (1, 3, 8) and torch.equal(args[0][0], cur)
            if t == 0:
                assert args[1] is None
            else:
                assert all(torch.equal(a, b) for a, b in zip(args[1], state))
            z_prev, state = lif.step(cur, state)
            assert torch.equal(out[0], z_prev)


def test_a_failing_hook_leaves_no_binding_behind(gen: torch.Generator) -> None:
    model = recurrent_net(gen)
    lif = model.module("lif")

    def boom(m: nn.Module, args: tuple[Any, ...]) -> None:
        raise RuntimeError("hook failed")

    handle = lif.register_forward_pre_hook(boom)
    with pytest.raises(RuntimeError, match="hook failed"):
        model(sample((6,), gen, T=3))
    handle.remove()
    assert "forward" not in vars(lif)
    assert lif(torch.ones(3, 2, 8)).shape == (3, 2, 8)  # its own forward again


def test_hooks_that_change_outputs_take_effect(gen: torch.Generator) -> None:
    model = from_nir(to_nir(mlp_lif(gen), torch.zeros(2, 1, 6), dt=DT))
    xs = sample((6,), gen)
    handle = model.module("1").register_forward_hook(lambda m, a, out: torch.zeros_like(out))
    with torch.no_grad():
        silenced = model(xs)
    handle.remove()
    li, lin = model.module("3"), model.module("2")
    with torch.no_grad():
        assert torch.equal(silenced, li(lin(torch.zeros(40, 3, 10))))


def _membrane_updates_by_hand(neuron: nn.Module, currents: list[torch.Tensor]) -> int:
    """NeuroBench's rule: every element at the first step, then the elements whose v changed."""
    state, prev, count = None, None, 0
    for cur in currents:
        _, state = neuron.step(cur, state)  # type: ignore[operator]
        count += state.v.numel() if prev is None else int((state.v != prev).sum())
        prev = state.v
    return count


def test_profile_of_a_recurrent_graph_counts_from_the_real_state(gen: torch.Generator) -> None:
    """Membrane updates of a neuron stepped inside a cycle are counted against its state before
    each step, not from rest (which would count every element at every step)."""
    torch.manual_seed(3)
    fc, rec = nn.Linear(4, 6, bias=False), nn.Linear(6, 6, bias=False)
    with torch.no_grad():
        fc.weight.abs_()
        rec.weight.mul_(0.3)
    lif = LIF(tau_mem=2e-4, dt=DT, reset="zero", size=6)
    graph = ModuleGraph({"fc": fc, "lif": lif, "rec": rec},
                        [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")])
    xs = torch.zeros(16, 2, 4)
    xs[2] = 6.0  # spikes, then v = 0 stays 0 where nothing arrives: few updates
    with sf.metrics.profile(graph) as prof, torch.no_grad():
        zs = graph(xs)
    currents, z_prev = [], torch.zeros(2, 6)
    with torch.no_grad():
        for t in range(16):
            currents.append(fc(xs[t]) + (rec(z_prev) if t else 0))
            z_prev = zs[t]
    expected = _membrane_updates_by_hand(lif, currents)
    assert 0 < zs.sum() and expected < 16 * 2 * 6  # not the dense count (v stays 0 at t = 1)
    assert prof.membrane_updates() == pytest.approx(expected / 2, rel=1e-12)
    assert prof.samples == 2 and prof.steps == 16


@pytest.mark.parametrize("recurrent", [False, True])
def test_profile_of_an_imported_model_equals_the_original(recurrent: bool, gen: torch.Generator) -> None:
    """``profile(from_nir(...))`` used to raise "ran no time-major module"; it now measures the
    same network as the original model (hand-built Sequential, or the graph's own unrolling)."""
    model = recurrent_net(gen) if recurrent else mlp_lif(gen)
    imported = from_nir(to_nir(model, torch.zeros(2, 1, 6), dt=DT))
    xs = sample((6,), gen)
    with sf.metrics.profile(imported) as prof, torch.no_grad():
        ys = imported(xs)
    assert prof.samples == 3 and prof.steps == 40
    if not recurrent:
        with sf.metrics.profile(model) as ref, torch.no_grad():
            assert torch.equal(model(xs), ys)
        assert prof.synops() == ref.synops()
        assert prof.activation_sparsity() == ref.activation_sparsity()
        assert prof.membrane_updates() == ref.membrane_updates()
        assert prof.neuron_ops() == ref.neuron_ops()
        return
    # recurrent: hand counts from the spikes (fc: 6 -> 8 MACs on analog input, rec: 8 -> 8 ACs on
    # spikes, out: 8 -> 3 ACs; every weight is nonzero)
    fc, lif, rec = imported.module("fc"), imported.module("lif"), imported.module("rec")
    with torch.no_grad():
        state, z_prev, spikes, currents = None, None, [], []
        for x in xs:
            cur = fc(x) + (rec(z_prev) if z_prev is not None else 0)
            currents.append(cur)
            z_prev, state = lif.step(cur, state)
            spikes.append(z_prev)
    s = torch.stack(spikes)  # [T, B, 8]
    nnz = int((s != 0).sum())
    assert 0 < nnz < s.numel()
    syn = prof.synops()
    assert syn == pytest.approx({"Effective_MACs": 40 * 6 * 8, "Effective_ACs": nnz * (8 + 3) / 3,
                                 "Dense": 40 * (6 * 8 + 8 * 8 + 8 * 3)}, rel=1e-12)
    assert prof.activation_sparsity() == pytest.approx(1 - nnz / s.numel(), abs=1e-12)
    with torch.no_grad():
        readout = list(imported.module("out")(s))  # [B, 3] per step
        expected = _membrane_updates_by_hand(lif, currents) + _membrane_updates_by_hand(imported.module("li"), readout)
    assert prof.membrane_updates() == pytest.approx(expected / 3, rel=1e-12)


def test_concurrent_calls_of_one_graph_stay_correct(gen: torch.Generator) -> None:
    """The temporary forward binding is per call and locked per module: threads sharing a graph
    each get their own results."""
    import threading

    import time

    model = recurrent_net(gen)
    inputs = [sample((6,), torch.Generator().manual_seed(i), T=15) for i in range(4)]
    with torch.no_grad():
        expected = [model(x) for x in inputs]
    results: dict[int, torch.Tensor] = {}
    # a slow pre-hook (it releases the GIL) widens the window between binding and running forward
    model.module("lif").register_forward_pre_hook(lambda m, a: time.sleep(1e-4))

    def work(i: int) -> None:
        with torch.no_grad():
            for _ in range(3):
                results[i] = model(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(torch.equal(results[i], expected[i]) for i in range(4))
    assert all("forward" not in vars(m) for m in model.modules())
