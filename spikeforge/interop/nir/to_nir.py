"""Export a spikeforge network to a NIR graph."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import nir
import numpy as np
import torch
from torch import Tensor, nn

from ...layers.graph import ModuleGraph
from ...layers.sequential import SpikingSequential
from ...neurons import RESETS
from ...neurons._base import check_sequence
from ._converters import DT_KEY, ExportContext, _finite_dt, export_leaf

__all__ = ["to_nir"]

_IDENTITY = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)


def to_nir(
    model: nn.Module,
    sample_input: Tensor | tuple[Tensor, ...] | list[Tensor] | Mapping[str, Tensor],
    *,
    dt: float = 1e-4,
    reset: str | None = None,
    round_delays: bool = False,
) -> nir.NIRGraph:
    """Describe ``model`` as a NIR graph (continuous-time nodes, per-neuron parameter arrays).

    The walker understands ``nn.Sequential`` and :class:`~spikeforge.layers.SpikingSequential`
    (inlined), :class:`~spikeforge.layers.graph.ModuleGraph`
    (its nodes and edges, cycles included; nested graphs become NIR subgraphs), identity layers
    (``Identity``, ``Dropout*``: skipped, the graph is for inference) and the leaves listed in
    :data:`~spikeforge.interop.nir._converters.EXPORTERS`. Anything else raises ``TypeError``
    naming the module.

    Args:
        model: The network; it maps ``[T, B, *in]`` to ``[T, B, *out]``.
        sample_input: A time-major input ``[T, B, *in]``; it fixes the per-sample shapes
            (``*in``) written as NIR types and is run once through ``model`` to check them. For
            a ModuleGraph with several input nodes, one tensor per input node, as the graph takes
            them (a tuple in the order of ``input_names`` or a dict); each input and output node
            becomes a NIR ``Input`` / ``Output`` node of the same name.
        dt: Integration step [s] the graph is written for (1e-4 s, the NIR paper's value, by
            default). Neuron time constants are scaled by ``dt / neuron.dt`` so a NIR simulator
            stepping at ``dt`` reproduces the model step for step; delays become ``steps * dt``.
            The value is stored in the graph's ``metadata["dt"]``.
        reset: ``None`` records each spiking neuron's own reset mode in its node's
            ``metadata["reset_mode"]``; a mode name (``"value"``, ``"zero"``, ``"subtract"``,
            ``"none"``) records that mode for every spiking neuron instead. A :class:`NIRWarning`
            is issued for each neuron whose recorded mode NIR cannot express (``subtract``,
            ``none``: other NIR readers reset to ``v_reset``) or that differs from its own mode.
        round_delays: Learnable delays (``LearnableDelay``, ``DelayLinear``) are written as whole
            steps ``d · dt``, which is what they compute in evaluation mode (rounded positions).
            A layer whose current kernel is interpolated (training mode, or a forced ``gauss`` /
            fractional ``triangle`` mode) raises ``ValueError``, unless this is ``True``: then its
            rounded positions are exported (the graph then computes what the layer does in
            ``eval()``, not what it computes now). ``DelayLinear`` becomes a subgraph
            (fan-out ``Linear`` → ``Delay`` → summing ``Affine``, see :mod:`._delays`).

    Returns:
        A type-checked ``nir.NIRGraph`` (``nir``'s own type inference has run on it); write it
        with ``nir.write(path, graph)``.

    Raises:
        TypeError: a module has no NIR counterpart (the message names it) or bad arguments.
        ValueError: shapes NIR cannot express (e.g. Linear on non-vector input), a bad ``dt``, or
            interpolated delays without ``round_delays=True``.

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 8), LIF(reset="value", dt=1e-4), nn.Linear(8, 2), LI(dt=1e-4))
        >>> graph = to_nir(net, torch.zeros(10, 1, 4))
        >>> nir.write("net.nir", graph)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if reset is not None and reset not in RESETS:
        raise ValueError(f"unknown reset mode {reset!r}; valid: {RESETS.names()} or None")
    ctx = ExportContext(dt=_finite_dt(dt), reset=reset, round_delays=bool(round_delays))
    if isinstance(model, ModuleGraph):
        graph, out_shapes = _graph_to_nir(model, "", _input_shapes(model, sample_input), ctx)
        outs = [out_shapes[n] for n in model.output_names]
    else:
        if not isinstance(sample_input, Tensor):
            raise TypeError(f"sample_input must be a tensor [T, B, *in] (several inputs need a ModuleGraph), "
                            f"got {type(sample_input).__name__}")
        check_sequence(sample_input)
        in_shape = tuple(int(s) for s in sample_input.shape[2:])
        frag = _convert(model, "", in_shape, ctx)
        outs = [frag.out_shape]
        graph = _wrap(frag, in_shape)
    with torch.no_grad():
        expected = model(sample_input)
    produced = list(expected) if isinstance(expected, tuple) else [expected]
    if not all(isinstance(y, Tensor) for y in produced):
        raise TypeError(f"model must return a tensor [T, B, *] (or a tuple of them), got {type(expected).__name__}")
    if outs != [tuple(y.shape[2:]) for y in produced]:
        raise RuntimeError(f"internal shape inference gave output(s) {outs}, "
                           f"the model gave {[tuple(y.shape[2:]) for y in produced]}")
    graph.metadata = {DT_KEY: ctx.dt, "producer": "spikeforge"}
    return graph


@dataclass
class _Fragment:
    """Part of a graph with one entry node and one exit node (``None``: identity)."""

    nodes: dict[str, nir.NIRNode] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    entry: str | None = None
    exit: str | None = None
    out_shape: tuple[int, ...] = ()


def _out_shape(module: nn.Module, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Per-sample output shape of a module, by running it on one step of zeros ``[1, 1, *in]``."""
    tensors = [t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
    dtype = tensors[0].dtype if tensors else torch.get_default_dtype()
    device = tensors[0].device if tensors else None
    with torch.no_grad():
        y = module(torch.zeros((1, 1, *in_shape), dtype=dtype, device=device))
    return tuple(int(s) for s in y.shape[2:])


# containers inlined, by exact type (another subclass of nn.Sequential may compute something else);
# SpikingSequential computes what nn.Sequential does (its fused pairs are the same bits)
_SEQUENTIAL = (nn.Sequential, SpikingSequential)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _convert(module: nn.Module, name: str, in_shape: tuple[int, ...], ctx: ExportContext) -> _Fragment:
    if isinstance(module, _IDENTITY) or _is_sequence_dropout(module):
        return _Fragment(out_shape=in_shape)
    if type(module) in _SEQUENTIAL:
        frag = _Fragment(out_shape=in_shape)
        for child_name, child in module.named_children():
            sub = _convert(child, _join(name, child_name), frag.out_shape, ctx)
            if sub.entry is None:
                continue
            frag.nodes.update(sub.nodes)
            frag.edges += sub.edges
            if frag.exit is not None:
                frag.edges.append((frag.exit, sub.entry))
            else:
                frag.entry = sub.entry
            frag.exit, frag.out_shape = sub.exit, sub.out_shape
        return frag
    node_name = name or type(module).__name__.lower()
    if isinstance(module, ModuleGraph):
        graph, out_shape = _subgraph_to_nir(module, node_name, in_shape, ctx)
        return _Fragment({node_name: graph}, [], node_name, node_name, out_shape)
    node = export_leaf(module, node_name, in_shape, ctx)
    return _Fragment({node_name: node}, [], node_name, node_name, _out_shape(module, in_shape))


def _is_sequence_dropout(module: nn.Module) -> bool:
    """spikeforge's time-shared dropout (if that layer exists) is an identity at inference."""
    return type(module).__name__ == "SequenceDropout" and type(module).__module__.startswith("spikeforge.")


def _wrap(frag: _Fragment, in_shape: tuple[int, ...]) -> nir.NIRGraph:
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(in_shape)), **frag.nodes,
                                     "output": nir.Output(output_type=np.array(frag.out_shape))}
    if len(nodes) != len(frag.nodes) + 2:
        raise ValueError("a module is named 'input' or 'output', which NIR reserves for the graph boundary")
    if frag.entry is None:
        edges = [("input", "output")]
    else:
        edges = [("input", frag.entry), *frag.edges, (frag.exit, "output")]  # type: ignore[list-item]
    return _checked(nodes, edges)


def _checked(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]) -> nir.NIRGraph:
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=True)
    except (ValueError, AssertionError, KeyError) as e:
        raise ValueError(f"nir type inference rejected the exported graph: {e}") from e


def _input_shapes(g: ModuleGraph, sample: Any) -> dict[str, tuple[int, ...]]:
    """Per-sample shape of each input node of ``g`` from a sample input as ``g`` takes it."""
    if isinstance(sample, Tensor):
        bound = {g.input_name: sample} if len(g.input_names) == 1 else None
    elif isinstance(sample, Mapping):
        bound = {str(k): v for k, v in sample.items()}
    elif isinstance(sample, (tuple, list)):
        bound = dict(zip(g.input_names, sample)) if len(sample) == len(g.input_names) else None
    else:
        bound = None
    if bound is None or sorted(bound) != sorted(g.input_names):
        raise TypeError(f"sample_input must give one tensor [T, B, *] per graph input {g.input_names} (a tuple in "
                        f"that order or a dict), got {type(sample).__name__}")
    return {n: tuple(int(s) for s in check_sequence(x).shape[2:]) for n, x in bound.items()}


def _subgraph_to_nir(g: ModuleGraph, prefix: str, in_shape: tuple[int, ...], ctx: ExportContext
                     ) -> tuple[nir.NIRGraph, tuple[int, ...]]:
    """A ModuleGraph used as one node (one value in, one out) as a NIR subgraph."""
    if len(g.input_names) != 1 or len(g.output_names) != 1:
        raise TypeError(f"node {prefix!r}: a ModuleGraph used as a node must have one input and one output node, "
                        f"got inputs {g.input_names} and outputs {g.output_names}")
    graph, out_shapes = _graph_to_nir(g, prefix, {g.input_name: in_shape}, ctx)
    return graph, out_shapes[g.output_name]


def _graph_to_nir(g: ModuleGraph, prefix: str, in_shapes: dict[str, tuple[int, ...]], ctx: ExportContext
                  ) -> tuple[nir.NIRGraph, dict[str, tuple[int, ...]]]:
    """A ModuleGraph as a NIR graph: modules converted one by one, edges kept, shapes propagated."""
    shapes: dict[str, tuple[int, ...]] = dict(in_shapes)
    nodes: dict[str, nir.NIRNode] = {n: nir.Input(input_type=np.array(in_shapes[n])) for n in g.input_names}
    rec = set(g.recurrent_edges)
    for name in g.order:
        srcs = [a for a, b in g.edges if b == name and (a, b) not in rec]
        ins = {shapes[a] for a in srcs}
        if len(ins) != 1:
            raise ValueError(f"node {_join(prefix, name)!r} receives inputs of different shapes {sorted(ins)}")
        shape = ins.pop()
        module = g.module(name)
        if isinstance(module, _IDENTITY):
            raise TypeError(f"node {_join(prefix, name)!r}: identity layers inside a ModuleGraph have no NIR node; "
                            f"connect their neighbours directly")
        if isinstance(module, ModuleGraph):
            nodes[name], shapes[name] = _subgraph_to_nir(module, _join(prefix, name), shape, ctx)
        elif type(module) in _SEQUENTIAL:
            frag = _convert(module, _join(prefix, name), shape, ctx)
            if frag.entry is None:
                raise TypeError(f"node {_join(prefix, name)!r} is an empty Sequential")
            nodes[name] = _wrap(frag, shape)
            shapes[name] = frag.out_shape
        else:
            nodes[name] = export_leaf(module, _join(prefix, name), shape, ctx)
            shapes[name] = _out_shape(module, shape)
    # shapes along recurrent edges are checked by nir's type check in _checked()
    out_shapes: dict[str, tuple[int, ...]] = {}
    for out in g.output_names:
        outs = {shapes[a] for a, b in g.edges if b == out}
        if len(outs) != 1:
            raise ValueError(f"output {out!r} of graph {prefix or '<root>'!r} receives different shapes "
                             f"{sorted(outs)}")
        out_shapes[out] = outs.pop()
        nodes[out] = nir.Output(output_type=np.array(out_shapes[out]))
    return _checked(nodes, list(g.edges)), out_shapes
