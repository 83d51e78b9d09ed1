"""Import a NIR graph (object or file) as a runnable spikeforge module."""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import nir
import numpy as np
import torch
from torch import nn

from ...layers.graph import ModuleGraph
from ...neurons import RESETS
from ._converters import (
    DT_KEY,
    NIR_INTEGRATORS,
    ImportContext,
    NIRFormatError,
    NIRWarning,
    _finite_dt,
    import_leaf,
)
from ._delays import import_delay_linear, import_delrec

__all__ = ["from_nir", "read_nir", "recorded_dt", "DEFAULT_DT"]

DEFAULT_DT = 1e-4  # [s] for graphs that do not record their dt (the NIR paper's value)


def read_nir(path: str | os.PathLike[str]) -> nir.NIRGraph:
    """Read a ``.nir`` (HDF5) file with ``nir.read`` without type checking, turning every failure
    (missing file, truncated or foreign HDF5, unknown node type, missing fields) into
    :class:`NIRFormatError` naming the file."""
    path = Path(path)
    if path.is_dir():
        raise NIRFormatError(f"NIR file {str(path)!r} is a folder, not a file")
    if not path.is_file():
        raise NIRFormatError(f"NIR file {str(path)!r} does not exist")
    try:
        graph = nir.read(path, type_check=False)
    except Exception as e:  # h5py/nir raise OSError, KeyError, AssertionError, TypeError... on bad files
        unknown = _unknown_node_types(path)
        why = f"{type(e).__name__}: {e}" if not unknown else (
            f"unknown node type(s) {unknown}; NIR node types: {', '.join(sorted(_NIR_NODE_TYPES))}")
        raise NIRFormatError(f"{str(path)!r} is not a readable NIR file ({why})") from e
    if not isinstance(graph, nir.NIRNode):
        raise NIRFormatError(f"{str(path)!r} does not hold a NIR node")
    return graph


# the node classes nir.read can build (a file's node "type" names one of them)
_NIR_NODE_TYPES = frozenset(n for n in dir(nir) if isinstance(getattr(nir, n), type)
                            and issubclass(getattr(nir, n), nir.NIRNode) and getattr(nir, n) is not nir.NIRNode)


def _unknown_node_types(path: Path) -> dict[str, str]:
    """``{node path in the file: type}`` for every node whose type NIR does not define (``{}`` if the
    file cannot be walked: the caller then reports the reader's own error)."""
    import h5py

    found: dict[str, str] = {}

    def visit(name: str, item: object) -> None:
        if isinstance(item, h5py.Group) and isinstance(item.get("type"), h5py.Dataset):
            value = item["type"][()]
            kind = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            if kind not in _NIR_NODE_TYPES:
                found[name] = kind

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception:  # a file h5py cannot walk: nir.read's error stands
        return {}
    return found


def from_nir(
    graph: nir.NIRNode | str | os.PathLike[str],
    *,
    dt: float | None = None,
    reset: str | None = None,
    dtype: torch.dtype | None = None,
    type_check: bool = True,
    strict_dt: bool = False,
    integrator: str | None = None,
) -> ModuleGraph:
    r"""Build a :class:`~spikeforge.layers.graph.ModuleGraph` that simulates a NIR graph.

    Each neuron node is integrated at step ``dt`` with NIR's continuous-time parameters taken
    exactly (``tau``, ``r``, ``v_leak``, ``v_threshold``, ``v_reset``, ``w_in``, per neuron), by
    forward Euler unless ``integrator`` or the node's metadata says ``"exp"``, e.g. ``LIF``:
    :math:`v' = (1 - a) v + a r x + a v_{leak}`, :math:`a = dt/\tau`, spike if
    :math:`v' > v_{threshold}` (strict), reset in the same step; neurons start at rest
    (``v = v_leak``, currents 0). Edges into a node are summed; an edge that closes a cycle
    delivers its value one step later. Nested ``NIRGraph`` nodes become nested ModuleGraphs, except
    the fan-out → Delay → summing Affine subgraphs written for a ``DelayLinear`` (tagged in their
    metadata), which become that layer again (see :mod:`._delays`).

    A graph with several ``Input`` / ``Output`` nodes becomes a ModuleGraph with several inputs /
    outputs: pass its inputs as a tuple in the order of ``net.input_names`` (the order of the
    ``Input`` nodes in the graph) or as a dict ``{input name: tensor}``; it returns a tuple in
    the order of ``net.output_names``. Nested subgraphs must have one input and one output.

    Args:
        graph: A ``nir.NIRGraph`` (or a single node), or the path of a ``.nir`` file.
        dt: Integration step in seconds. ``None`` (default) uses the step the graph was written
            for, its ``metadata["dt"]`` (recorded by :func:`to_nir`), so the import reproduces the
            exporter step for step; graphs without it (other tools) get 1e-4 s, the NIR paper's
            value. A ``dt`` that differs from the recorded one integrates the same continuous-time
            parameters on another grid, so outputs differ: a :class:`NIRWarning` says so, or
            ``ValueError`` with ``strict_dt=True``.
        reset: Discrete reset for spiking nodes. ``None`` uses the node's
            ``metadata["reset_mode"]`` when present, else NIR's reset to ``v_reset``
            (``"value"``). A mode name forces it for every node, with a :class:`NIRWarning` for
            nodes whose declared semantics it does not reproduce.
        dtype: Parameter dtype (default: torch's default dtype).
        type_check: Run ``nir``'s type inference and check (shape consistency along every edge).
        strict_dt: Refuse (``ValueError``) a ``dt`` that differs from the graph's recorded one.
        integrator: How neurons integrate their ODE: ``None`` uses each node's
            ``metadata["integrator"]`` (written by :func:`to_nir`) when present, else forward Euler
            (``"euler"``, what other NIR simulators do; it requires ``dt <= tau``); ``"exp"``
            (exact exponential integration, any ``tau > 0``) or ``"euler"`` force it for every node.

    Returns:
        A module mapping ``[T, B, *in] -> [T, B, *out]`` (also ``run`` / ``step`` with state).
        Node names are kept (:attr:`ModuleGraph.node_names`, :meth:`ModuleGraph.module`).

    Raises:
        NIRFormatError: unreadable file, missing nodes, edges to nowhere, wrong shapes or
            parameter values (the message names the node).
        ValueError, TypeError: bad arguments, or ``dt`` differs from the recorded one with
            ``strict_dt=True``.

    Example:
        >>> graph = to_nir(nn.Sequential(nn.Linear(4, 8), LIF(dt=1e-4, reset="value")), torch.zeros(10, 1, 4))
        >>> net = from_nir(graph)                     # or from_nir("net.nir"): dt from the file
        >>> ys = net(torch.rand(100, 8, 4))           # [100, 8, 8] spikes
    """
    if dt is not None:
        dt = _finite_dt(dt)
    if reset is not None and reset not in RESETS:
        raise ValueError(f"unknown reset mode {reset!r}; valid: {RESETS.names()} or None")
    if integrator is not None and integrator not in NIR_INTEGRATORS:
        raise ValueError(f"unknown integrator {integrator!r}; valid: {list(NIR_INTEGRATORS)} or None")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    if isinstance(graph, (str, os.PathLike)):
        graph = read_nir(graph)
    if not isinstance(graph, nir.NIRNode):
        raise TypeError(f"expected a nir.NIRGraph, a NIR node or a path, got {type(graph).__name__}")
    graph = copy.deepcopy(graph)  # nir's type inference mutates the graph (adds Input/Output nodes)
    if not isinstance(graph, nir.NIRGraph):
        graph = _single_node_graph(graph)
    _check_structure(graph, "")
    if type_check:
        try:
            graph.infer_types()
            graph.check_types()
        except (ValueError, AssertionError, KeyError, TypeError, IndexError, NotImplementedError) as e:
            raise NIRFormatError(f"NIR shape check failed: {e}") from e
    ctx = ImportContext(dt=_import_dt(graph, dt, strict_dt), reset=reset, dtype=dtype or torch.get_default_dtype(),
                        integrator=integrator)
    return _build(graph, "", ctx)


def recorded_dt(graph: nir.NIRGraph) -> float | None:
    """The step [s] a graph was written for (``metadata["dt"]``), or ``None`` if not recorded."""
    file_dt = graph.metadata.get(DT_KEY) if isinstance(graph.metadata, dict) else None
    if file_dt is None:
        return None
    try:
        value = float(np.asarray(file_dt))
    except (TypeError, ValueError):
        raise NIRFormatError(f"graph metadata dt={file_dt!r} is not a number") from None
    if not (value > 0 and np.isfinite(value)):
        raise NIRFormatError(f"graph metadata dt={value!r} is not a positive number of seconds")
    return value


def _import_dt(graph: nir.NIRGraph, dt: float | None, strict: bool) -> float:
    """``dt`` to import with: the recorded one by default; a different one warns or raises."""
    file_dt = recorded_dt(graph)
    if dt is None:
        return file_dt if file_dt is not None else DEFAULT_DT
    if file_dt is not None and not np.isclose(file_dt, dt, rtol=1e-9, atol=0.0):
        msg = (f"the graph was written for dt={file_dt:g} s but is imported with dt={dt:g} s: the continuous-time "
               f"parameters are honoured, but step-by-step outputs differ from the exporter's (omit dt to use "
               f"the recorded {file_dt:g} s)")
        if strict:
            raise ValueError(msg)
        warnings.warn(msg, NIRWarning, stacklevel=3)
    return dt


def _single_node_graph(node: nir.NIRNode) -> nir.NIRGraph:
    shape = (node.input_type or {}).get("input")
    if shape is None:
        raise NIRFormatError(f"a lone {type(node).__name__} node has no input type; wrap it in a NIRGraph")
    return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.asarray(shape)), "node": node,
                               "output": nir.Output(output_type=np.asarray(node.output_type["output"]))},
                        edges=[("input", "node"), ("node", "output")], type_check=False)


def _check_structure(g: nir.NIRGraph, prefix: str) -> None:
    where = f"subgraph {prefix!r}" if prefix else "graph"
    if not isinstance(g.nodes, dict) or not g.nodes:
        raise NIRFormatError(f"{where} has no nodes")
    for name, node in g.nodes.items():
        if not isinstance(node, nir.NIRNode):
            raise NIRFormatError(f"{where}: node {name!r} is not a NIR node ({type(node).__name__})")
    try:
        edges = [(str(a), str(b)) for a, b in g.edges]
    except (TypeError, ValueError):
        raise NIRFormatError(f"{where}: edges must be (source, destination) pairs, got {g.edges!r}") from None
    for a, b in edges:
        for end in (a, b):
            if end not in g.nodes:
                raise NIRFormatError(f"{where}: edge ({a!r}, {b!r}) refers to missing node {end!r}; "
                                     f"nodes: {sorted(g.nodes)}")
    if len(set(edges)) != len(edges):
        dup = next(e for e in edges if edges.count(e) > 1)
        raise NIRFormatError(f"{where}: duplicate edge {dup}")
    for name, node in g.nodes.items():
        if isinstance(node, nir.NIRGraph):
            _check_structure(node, f"{prefix}.{name}" if prefix else name)


def _build(g: nir.NIRGraph, prefix: str, ctx: ImportContext) -> ModuleGraph:
    where = f"subgraph {prefix!r}" if prefix else "graph"
    inputs = [n for n, node in g.nodes.items() if isinstance(node, nir.Input)]
    outputs = [n for n, node in g.nodes.items() if isinstance(node, nir.Output)]
    if not inputs or not outputs:
        raise NIRFormatError(f"{where} needs at least one Input and one Output node, found inputs {inputs} "
                             f"and outputs {outputs}")
    if prefix and (len(inputs) != 1 or len(outputs) != 1):
        raise NIRFormatError(f"{where} has inputs {inputs} and outputs {outputs}: a nested subgraph must have "
                             f"exactly one Input and one Output node (its edges carry one value)")
    modules: dict[str, nn.Module] = {}
    for name, node in g.nodes.items():
        if name in inputs or name in outputs:
            continue
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(node, nir.NIRGraph):
            fused: nn.Module | None = import_delay_linear(node, ctx)
            if fused is None:
                fused = import_delrec(node, path, ctx)
            modules[name] = fused if fused is not None else _build(node, path, ctx)
        elif isinstance(node, (nir.Input, nir.Output)):  # unreachable: counted above
            raise NIRFormatError(f"{where}: unexpected boundary node {name!r}")
        else:
            modules[name] = import_leaf(node, path, ctx)
    try:
        return ModuleGraph(modules, [(str(a), str(b)) for a, b in g.edges], input=inputs, output=outputs)
    except ValueError as e:
        raise NIRFormatError(f"{where}: {e}") from e
