"""spikeforge → NIR file → spikeforge gives identical outputs, for every primitive."""

from __future__ import annotations

import warnings
from pathlib import Path

import nir
import numpy as np
import pytest
import torch
from _nets import DT, NETS, mlp_cuba, mlp_lif, recurrent_net, sample
from torch import nn

from spikeforge.interop.nir import NEURON_TO_NIR, NIRFormatError, NIRWarning, from_nir, to_nir
from spikeforge.layers.graph import ModuleGraph
from spikeforge.neurons import LIF, NEURONS

ALL_PRIMITIVES = {"Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "SumPool2d", "AvgPool2d",
                  "Flatten", "Delay", "Threshold", "I", "IF", "LI", "LIF", "CubaLI", "CubaLIF", "NIRGraph"}


def _types(graph: nir.NIRGraph) -> set[str]:
    out = set()
    for node in graph.nodes.values():
        out.add(type(node).__name__)
        if isinstance(node, nir.NIRGraph):
            out |= _types(node)
    return out


def _roundtrip(model: nn.Module, xs: torch.Tensor, path: Path) -> tuple[torch.Tensor, torch.Tensor, nir.NIRGraph]:
    graph = to_nir(model, xs, dt=DT)
    nir.write(path, graph)
    checked = nir.read(path)  # nir's own type inference must accept every file we write
    imported = from_nir(path, dt=DT)
    with torch.no_grad():
        return model(xs), imported(xs), checked


@pytest.mark.parametrize("name", sorted(NETS))
def test_roundtrip_identical(name: str, gen: torch.Generator, tmp_path: Path) -> None:
    build, shape = NETS[name]
    model = build(gen)
    xs = sample(shape, gen)
    ys, ys2, graph = _roundtrip(model, xs, tmp_path / f"{name}.nir")
    assert ys.shape == ys2.shape
    assert torch.equal(ys, ys2), f"max diff {(ys - ys2).abs().max().item()}"
    if isinstance(model, nn.Sequential):  # not vacuous: every spiking layer fires, but not always
        h = xs
        for layer in model:
            h = layer(h)
            if getattr(layer, "spiking", False):
                assert 0 < h.mean().item() < 1, f"{type(layer).__name__} rate {h.mean().item()}"


def test_every_primitive_is_exercised(gen: torch.Generator) -> None:
    seen: set[str] = set()
    for build, shape in NETS.values():
        seen |= _types(to_nir(build(gen), sample(shape, gen, T=2), dt=DT))
    assert seen == ALL_PRIMITIVES


def test_recurrent_edge_delivers_one_step_later(gen: torch.Generator, tmp_path: Path) -> None:
    model = recurrent_net(gen)
    assert model.recurrent_edges == [("rec", "lif")]
    xs = sample((6,), gen)
    _, ys2, _ = _roundtrip(model, xs, tmp_path / "rec.nir")
    # the same net with the recurrent weight zeroed differs: the cycle is really executed
    with torch.no_grad():
        model.module("rec").weight.mul_(0).add_(0.5)
        model.module("rec").bias.zero_()
        assert not torch.equal(model(xs), ys2)
    # manual unrolling: lif input at t = fc(x_t) + rec(z_{t-1})
    m = recurrent_net(torch.Generator().manual_seed(1234))
    fc, lif, rec = m.module("fc"), m.module("lif"), m.module("rec")
    state, z_prev, zs = None, None, []
    with torch.no_grad():
        for x in xs:
            cur = fc(x) + (rec(z_prev) if z_prev is not None else 0)
            z_prev, state = lif.step(cur, state)
            zs.append(z_prev)
        ref = m.module("li")(m.module("out")(torch.stack(zs)))
        assert torch.equal(ref, m(xs))


def test_subtract_reset_roundtrips_via_metadata(gen: torch.Generator, tmp_path: Path) -> None:
    model = mlp_lif(gen, reset="subtract")
    xs = sample((6,), gen)
    with pytest.warns(NIRWarning, match="subtract"):
        graph = to_nir(model, xs, dt=DT)
    assert graph.nodes["1"].metadata["reset_mode"] == "subtract"
    nir.write(tmp_path / "s.nir", graph)
    imported = from_nir(tmp_path / "s.nir", dt=DT)
    assert imported.module("1").reset_name == "subtract"
    assert torch.equal(model(xs), imported(xs))
    # forcing NIR's own semantics gives a warning and (here) different outputs
    with pytest.warns(NIRWarning, match="reset='value'"):
        forced = from_nir(tmp_path / "s.nir", dt=DT, reset="value")
    assert not torch.equal(model(xs), forced(xs))


def test_reset_override_on_export_warns(gen: torch.Generator) -> None:
    model = mlp_lif(gen, reset="value")
    with pytest.warns(NIRWarning, match="does not reproduce"):
        graph = to_nir(model, sample((6,), gen, T=2), dt=DT, reset="zero")
    assert graph.nodes["1"].metadata["reset_mode"] == "zero"
    assert not graph.nodes["1"].v_reset.any()


def test_parameters_are_per_neuron_arrays(gen: torch.Generator) -> None:
    graph = to_nir(nn.Sequential(nn.Linear(3, 5), LIF(dt=DT, reset="value")), torch.zeros(2, 1, 3), dt=DT)
    lif = graph.nodes["1"]
    for field in ("tau", "r", "v_leak", "v_threshold", "v_reset"):
        assert getattr(lif, field).shape == (5,), field


def test_time_rescaling_between_dts(gen: torch.Generator, tmp_path: Path) -> None:
    """A model stepping at 1 ms exported for dt = 0.1 ms: taus scaled by 0.1, same spikes step for step."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 10), LIF(tau_mem=8e-3, dt=1e-3, reset="value", size=10),
                          nn.Linear(10, 2))
    xs = sample((6,), gen)
    graph = to_nir(model, xs, dt=1e-4)
    assert graph.nodes["1"].tau == pytest.approx([8e-4] * 10)
    assert graph.metadata["dt"] == 1e-4
    nir.write(tmp_path / "r.nir", graph)
    imported = from_nir(tmp_path / "r.nir", dt=1e-4)
    torch.testing.assert_close(imported(xs), model(xs), rtol=1e-5, atol=1e-5)
    with pytest.warns(NIRWarning, match="written for dt=0.0001"):
        from_nir(tmp_path / "r.nir", dt=2e-4)


def _param_arrays(graph: nir.NIRGraph, prefix: str = "") -> dict[str, np.ndarray]:
    """Every float parameter of every node, keyed ``node.field`` (nested graphs flattened)."""
    out: dict[str, np.ndarray] = {}
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            out.update(_param_arrays(node, f"{prefix}{name}."))
            continue
        for field, value in vars(node).items():
            a = np.asarray(value) if isinstance(value, (np.ndarray, float)) else None
            if a is not None and a.dtype.kind == "f":
                out[f"{prefix}{name}.{field}"] = a
    return out


@pytest.mark.parametrize(("scale", "export"), [(2.0, 1.0), (0.5, 1.0), (10.0, 1.0), (1.0, 2.0)])
@pytest.mark.parametrize("name", sorted(NETS))
def test_roundtrip_with_neuron_dt_unequal_export_dt(name: str, scale: float, export: float, tmp_path: Path) -> None:
    """Every net built to step at ``DT * scale`` (time constants times ``scale``, IF/Integrator ``r``
    divided by it), exported at ``DT * export`` and imported at that recorded dt: identical outputs,
    and the graph equals the one exported from the same net built at ``DT`` directly — so every
    rescaling rule (LIF/LI ``tau``, IF and Integrator ``r``, CubaLIF/CubaLI ``tau_syn`` and
    ``tau_mem``, PLIF, Delay seconds) is exercised with neuron dt != export dt. Powers of two
    rescale exactly in binary (bit-identical); ``scale = 10`` (1 ms → 0.1 ms) agrees to float32
    rounding."""
    build, shape = NETS[name]
    model = build(torch.Generator().manual_seed(0), scale=scale)
    direct = build(torch.Generator().manual_seed(0))  # the same net, stepping at DT
    xs = sample(shape, torch.Generator().manual_seed(1))
    graph = to_nir(model, xs, dt=DT * export)
    assert graph.metadata["dt"] == DT * export
    reference = _param_arrays(to_nir(direct, xs, dt=DT * export))
    params = _param_arrays(graph)
    assert sorted(params) == sorted(reference)
    for key, value in params.items():
        np.testing.assert_allclose(value, reference[key], rtol=1e-6, atol=0, err_msg=key)
    nir.write(tmp_path / "scaled.nir", graph)
    imported = from_nir(tmp_path / "scaled.nir")  # the recorded DT * export
    with torch.no_grad():
        ys, ys2, ys_direct = model(xs), imported(xs), direct(xs)
    exact = scale != 10.0
    for other in (ys2, ys_direct):
        if exact:
            assert torch.equal(ys, other), f"max diff {(ys - other).abs().max().item()}"
        else:
            torch.testing.assert_close(other, ys, rtol=1e-5, atol=1e-5)


def test_import_uses_the_recorded_dt_by_default(gen: torch.Generator, tmp_path: Path) -> None:
    """A file written for 0.2 ms imports at 0.2 ms unless told otherwise (the old default, 0.1 ms,
    silently integrated it on another grid)."""
    model = mlp_cuba(gen, scale=2.0)  # steps at 2 * DT
    xs = sample((6,), gen)
    nir.write(tmp_path / "m.nir", to_nir(model, xs, dt=2 * DT))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: nothing differs
        imported = from_nir(tmp_path / "m.nir")
        strict = from_nir(tmp_path / "m.nir", dt=2 * DT, strict_dt=True)
    assert imported.module("3").dt == 2 * DT
    with torch.no_grad():
        ys = model(xs)
        assert torch.equal(imported(xs), ys)
        assert torch.equal(strict(xs), ys)


def test_import_with_another_dt_warns_or_raises(gen: torch.Generator, tmp_path: Path) -> None:
    model = mlp_cuba(gen, scale=2.0)
    xs = sample((6,), gen)
    path = tmp_path / "m.nir"
    nir.write(path, to_nir(model, xs, dt=2 * DT))
    with pytest.warns(NIRWarning, match=r"written for dt=0.0002 s but is imported with dt=0.0001 s"):
        other = from_nir(path, dt=DT)
    with torch.no_grad():
        assert (other(xs) - model(xs)).abs().max() > 0.1  # what the warning is about
    with pytest.raises(ValueError, match=r"written for dt=0.0002 s but is imported with dt=0.0001 s"):
        from_nir(path, dt=DT, strict_dt=True)
    # a graph that records no dt (other tools): the given dt, or 1e-4 s, and nothing to compare
    graph = nir.read(path)
    graph.metadata = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert from_nir(graph, dt=2 * DT, strict_dt=True).module("3").dt == 2 * DT
        assert from_nir(graph).module("3").dt == DT
    graph.metadata = {"dt": -1.0}
    with pytest.raises(NIRFormatError, match="dt=-1.0"):
        from_nir(graph)


def test_lone_module_and_identity_layers(gen: torch.Generator) -> None:
    model = nn.Sequential(nn.Identity(), nn.Dropout(0.5), LIF(dt=DT, reset="value"))
    graph = to_nir(model.eval(), torch.zeros(3, 1, 4), dt=DT)
    assert sorted(graph.nodes) == ["2", "input", "output"]
    imported = from_nir(graph, dt=DT)
    xs = sample((4,), gen)
    assert torch.equal(imported(xs), model(xs))


def test_imported_graph_streams_like_a_neuron(gen: torch.Generator) -> None:
    """run(xs, state) continues exactly; step() over time equals forward()."""
    imported = from_nir(to_nir(recurrent_net(gen), torch.zeros(2, 1, 6), dt=DT), dt=DT)
    xs = sample((6,), gen)
    full = imported(xs)
    a, s = imported.run(xs[:15])
    b, _ = imported.run(xs[15:], s)
    assert torch.equal(torch.cat([a, b]), full)
    ff = from_nir(to_nir(mlp_lif(gen), torch.zeros(2, 1, 6), dt=DT), dt=DT)
    ys, state = [], None
    for x in xs:
        y, state = ff.step(x, state)
        ys.append(y)
    assert torch.equal(torch.stack(ys), ff(xs))
    assert isinstance(ff, ModuleGraph) and not ff.is_recurrent


def test_graph_with_sequential_node_and_delay_in_a_cycle(gen: torch.Generator, tmp_path: Path) -> None:
    """A Sequential inside a ModuleGraph becomes a NIR subgraph; a Delay inside a cycle runs stepwise."""
    from spikeforge.layers.delay import Delay

    torch.manual_seed(8)
    fc = nn.Sequential(nn.Linear(6, 8), nn.Linear(8, 8))
    model = ModuleGraph({"fc": fc, "lif": LIF(tau_mem=1e-3, dt=DT, reset="value", size=8),
                         "delay": Delay(torch.arange(8) % 3), "rec": nn.Linear(8, 8)},
                        [("input", "fc"), ("fc", "lif"), ("lif", "delay"), ("delay", "rec"), ("rec", "lif"),
                         ("lif", "output")])
    xs = sample((6,), gen)
    ys, ys2, graph = _roundtrip(model, xs, tmp_path / "seq.nir")
    assert isinstance(graph.nodes["fc"], nir.NIRGraph)
    assert 0 < ys.mean().item() < 1
    assert torch.equal(ys, ys2)


@pytest.mark.parametrize("neuron", sorted(NEURON_TO_NIR))
def test_exp_integrator_roundtrips_at_another_dt(neuron: str, tmp_path: Path) -> None:
    """Every exportable neuron with ``integrator="exp"``: its node records the integrator, and the
    file re-imports (at an export dt of half the neuron's) with identical outputs; forcing forward
    Euler on import changes them wherever a time constant is involved."""
    torch.manual_seed(9)
    cls = NEURONS.get(neuron)
    reset = {"reset": "value"} if cls.spiking else {}
    model = nn.Sequential(nn.Linear(4, 5), cls(dt=2e-3, integrator="exp", size=5, **reset))
    xs = 3 * torch.rand(30, 2, 4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = model(xs)
    assert 0 < out.ne(0).float().mean() < 1 if cls.spiking else out.abs().sum() > 0  # not vacuous
    graph = to_nir(model, xs, dt=1e-3)
    assert graph.nodes["1"].metadata["integrator"] == "exp"
    nir.write(tmp_path / "exp.nir", graph)
    imported = from_nir(tmp_path / "exp.nir")
    assert imported.module("1").integrator == "exp"
    with torch.no_grad():
        ys = model(xs)
        assert torch.equal(imported(xs), ys)
        if "tau_mem" in cls.params_cls._fields:
            assert not torch.equal(from_nir(tmp_path / "exp.nir", integrator="euler")(xs), ys)


def test_exp_integrator_on_import_allows_dt_above_tau() -> None:
    """Forward Euler refuses dt > tau; ``integrator="exp"`` integrates exactly, like the module."""
    torch.manual_seed(10)
    model = nn.Sequential(nn.Linear(4, 5), LIF(tau_mem=5e-4, dt=1e-4, reset="zero", size=5))
    graph = to_nir(model, torch.zeros(2, 1, 4), dt=1e-4)
    with pytest.raises(NIRFormatError, match="integrator='exp'"), pytest.warns(NIRWarning, match="written for"):
        from_nir(graph, dt=1e-3)
    with pytest.warns(NIRWarning, match="written for dt=0.0001"):
        coarse = from_nir(graph, dt=1e-3, integrator="exp")
    direct = nn.Sequential(model[0], LIF(tau_mem=5e-4, dt=1e-3, reset="zero", size=5, integrator="exp"))
    xs = 3 * torch.rand(20, 2, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(coarse(xs), direct(xs))
    graph.nodes["1"].metadata["integrator"] = "rk4"
    with pytest.raises(NIRFormatError, match="integrator='rk4' is not an integrator"):
        from_nir(graph)
    with pytest.raises(ValueError, match="unknown integrator 'rk4'"):
        from_nir(graph, integrator="rk4")
