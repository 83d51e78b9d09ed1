"""Unsupported modules, registry coverage, corrupt and hostile NIR graphs/files → clear errors."""

from __future__ import annotations

from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch
from torch import nn

import spikeforge.interop.nir  # noqa: F401  (registers the NIR-only neurons "i" and "cuba_li")
from spikeforge.interop.nir import NEURON_TO_NIR, NIR_UNSUPPORTED, NIRFormatError, from_nir, to_nir
from spikeforge.interop.nir._converters import EXPORTERS
from spikeforge.neurons import ALIF, LIF, NEURONS, Izhikevich

DT = 1e-4


def test_every_registered_neuron_maps_or_opts_out() -> None:
    names = set(NEURONS.names())
    assert names <= set(NEURON_TO_NIR) | set(NIR_UNSUPPORTED), names - set(NEURON_TO_NIR) - set(NIR_UNSUPPORTED)
    assert not set(NEURON_TO_NIR) & set(NIR_UNSUPPORTED)
    assert {"i", "cuba_li"} <= names
    for name in NEURON_TO_NIR:  # mapped names really have an exporter for their class
        assert NEURONS.get(name) in EXPORTERS, name


@pytest.mark.parametrize("name", sorted(NIR_UNSUPPORTED))
def test_opted_out_neurons_raise_with_reason(name: str) -> None:
    neuron = NEURONS.create(name)
    with pytest.raises(TypeError, match=rf"module '1'.*{type(neuron).__name__}.*cannot be exported"):
        to_nir(nn.Sequential(nn.Linear(3, 3), neuron), torch.zeros(2, 1, 3), dt=DT)


@pytest.mark.parametrize("module", [nn.ReLU(), nn.BatchNorm1d(3), nn.LSTM(3, 3)])
def test_unsupported_module_is_named(module: nn.Module) -> None:
    model = nn.Sequential(nn.Linear(3, 3), module)
    with pytest.raises(TypeError, match=rf"module '1' of type {type(module).__name__} has no NIR counterpart"):
        to_nir(model, torch.zeros(2, 1, 3), dt=DT)


def test_unrepresentable_layers() -> None:
    from spikeforge.layers.time import TimeDistributed

    with pytest.raises(ValueError, match="merge the time or batch"):
        to_nir(nn.Sequential(nn.Flatten()), torch.zeros(2, 1, 3, 2), dt=DT)
    with pytest.raises(ValueError, match="vectors"):
        to_nir(nn.Sequential(nn.Linear(2, 2)), torch.zeros(2, 1, 3, 2), dt=DT)
    with pytest.raises(ValueError, match="ceil_mode"):
        to_nir(TimeDistributed(nn.AvgPool2d(2, ceil_mode=True)), torch.zeros(2, 1, 1, 5, 5), dt=DT)
    with pytest.raises(ValueError, match="grouped"):
        to_nir(TimeDistributed(nn.Conv2d(2, 2, 3, groups=2)), torch.zeros(2, 1, 2, 5, 5), dt=DT)
    with pytest.raises(ValueError, match="custom reset"):
        to_nir(LIF(reset=lambda v, z, th, vr: v * 0), torch.zeros(2, 1, 3), dt=DT)
    with pytest.raises(ValueError, match="unknown reset"):
        to_nir(LIF(), torch.zeros(2, 1, 3), dt=DT, reset="soft")


def _good_graph() -> nir.NIRGraph:
    return nir.NIRGraph.from_list(nir.Affine(weight=np.ones((3, 2)), bias=np.zeros(3)),
                                  nir.LIF(tau=np.full(3, 1e-3), r=np.ones(3), v_leak=np.zeros(3),
                                          v_threshold=np.ones(3)))


def _written(tmp_path: Path) -> Path:
    path = tmp_path / "good.nir"
    nir.write(path, _good_graph())
    return path


def test_missing_and_truncated_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(NIRFormatError, match="does not exist"):
        from_nir(tmp_path / "nope.nir")
    path = _written(tmp_path)
    data = path.read_bytes()
    (tmp_path / "trunc.nir").write_bytes(data[: len(data) // 2])
    with pytest.raises(NIRFormatError, match="not a readable NIR file"):
        from_nir(tmp_path / "trunc.nir")
    (tmp_path / "text.nir").write_text("hello")
    with pytest.raises(NIRFormatError, match="not a readable NIR file"):
        from_nir(tmp_path / "text.nir")
    with h5py.File(tmp_path / "empty.nir", "w") as f:
        f.create_dataset("version", data="1.0")
    with pytest.raises(NIRFormatError, match="not a readable NIR file"):
        from_nir(tmp_path / "empty.nir")


def test_file_with_removed_node_or_dangling_edge(tmp_path: Path) -> None:
    path = _written(tmp_path)
    with h5py.File(path, "a") as f:
        del f["node/nodes/lif"]
    with pytest.raises(NIRFormatError, match="missing node 'lif'"):
        from_nir(path)
    g = _good_graph()
    g.edges.append(("lif", "nowhere"))
    with pytest.raises(NIRFormatError, match="missing node 'nowhere'"):
        from_nir(g)


def test_file_with_wrong_parameter_shape(tmp_path: Path) -> None:
    path = _written(tmp_path)
    with h5py.File(path, "a") as f:
        del f["node/nodes/affine/weight"]
        f["node/nodes/affine/weight"] = np.ones((4, 2))  # 4 outputs into a 3-neuron LIF
    with pytest.raises(NIRFormatError, match="shape check failed.*type mismatch"):
        from_nir(path)
    with h5py.File(path, "a") as f:
        del f["node/nodes/affine/weight"]
        f["node/nodes/affine/weight"] = np.ones(6)  # not a matrix
    with pytest.raises(NIRFormatError):
        from_nir(path)


def test_hostile_values() -> None:
    g = _good_graph()
    g.nodes["lif"].tau = np.array([1e-3, -1.0, 1e-3])
    with pytest.raises(NIRFormatError, match=r"node 'lif' \(LIF\).*tau_mem must be > 0"):
        from_nir(g)
    g = _good_graph()
    g.nodes["affine"].weight = np.full((3, 2), np.nan)
    with pytest.raises(NIRFormatError, match="node 'affine'.*non-finite"):
        from_nir(g)
    g = _good_graph()
    g.nodes["lif"].metadata = {"reset_mode": "explode"}
    with pytest.raises(NIRFormatError, match="not a reset mode"):
        from_nir(g)
    g = _good_graph()
    g.nodes["output2"] = nir.Output(np.array([3]))  # a second output that nothing feeds
    with pytest.raises(NIRFormatError, match="output node 'output2' cannot be reached"):
        from_nir(g, type_check=False)
    g = _good_graph()
    g.nodes = {n: v for n, v in g.nodes.items() if not isinstance(v, nir.Input)}
    g.edges = [e for e in g.edges if e[0] in g.nodes]
    with pytest.raises(NIRFormatError, match="at least one Input"):
        from_nir(g, type_check=False)


def test_delay_must_be_whole_steps() -> None:
    g = nir.NIRGraph.from_list(nir.Delay(delay=np.array([1e-4, 1.5e-4])))
    with pytest.raises(NIRFormatError, match="whole multiples of dt"):
        from_nir(g, dt=DT)
    assert from_nir(g, dt=5e-5).module("delay").delays.tolist() == [2, 3]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="dt must be"):
        from_nir(_good_graph(), dt=0)
    with pytest.raises(TypeError, match="expected a nir.NIRGraph"):
        from_nir(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        to_nir(lambda x: x, torch.zeros(2, 1, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[T, B, ...\]"):
        to_nir(LIF(), torch.zeros(3))


def test_alif_and_izhikevich_are_really_unsupported() -> None:
    assert isinstance(NEURONS.create("alif"), ALIF) and isinstance(NEURONS.create("izhikevich"), Izhikevich)
