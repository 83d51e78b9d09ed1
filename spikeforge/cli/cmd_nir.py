"""NIR commands: ``export`` (checkpoint → ``.nir``) and ``import`` (summary of a ``.nir`` file)."""

from __future__ import annotations

import argparse
import sys
import warnings

import nir
import numpy as np
import torch
from torch import nn

__all__ = ["register", "export_command", "import_command", "summarize_graph"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained checkpoint to a NIR graph file (.nir)",
                       description="Export the network of a spikeforge checkpoint to NIR (HDF5).")
    p.add_argument("checkpoint", help="checkpoint written by `spikeforge train`")
    p.add_argument("-o", "--output", required=True, help="destination .nir file")
    p.add_argument("--dt", type=float, default=1e-4,
                   help="integration step [s] the graph is written for (default 1e-4); time constants are "
                        "scaled by dt / model dt so NIR simulators stepping at dt reproduce the model")
    p.add_argument("--reset", default=None, choices=["value", "zero", "subtract", "none"],
                   help="reset mode to record for every spiking neuron (default: each neuron's own)")
    p.add_argument("--steps", type=int, default=None,
                   help="time steps of the sample input used to trace shapes (default: the run's steps)")
    p.set_defaults(func=export_command)

    p = sub.add_parser("import", help="load a NIR graph file and print a summary of the graph and model",
                       description="Read a .nir file, import it as a spikeforge model and summarise it.")
    p.add_argument("path", help=".nir file")
    p.add_argument("--dt", type=float, default=None,
                   help="integration step [s] (default: the dt the file was written for, else 1e-4)")
    p.add_argument("--strict-dt", action="store_true",
                   help="fail if --dt differs from the dt recorded in the file (default: warn)")
    p.add_argument("--reset", default=None, choices=["value", "zero", "subtract", "none"],
                   help="force this reset mode (default: node metadata, else NIR's reset to v_reset)")
    p.set_defaults(func=import_command)


def _exportable(model: nn.Module) -> tuple[nn.Module, str | None]:
    """The part of a model that NIR can describe, and a note about what was left out.

    Zoo classifiers (:class:`~spikeforge.models.mlp.SNNClassifier`) encode static inputs into
    spike trains before their ``body``; encoders are input preprocessing with no NIR primitive,
    so only the body is exported and the graph expects encoded inputs ``[T, B, F]``.
    """
    body = getattr(model, "body", None)
    if isinstance(body, nn.Module) and hasattr(model, "encoder"):
        enc = model.encoder
        note = None if enc is None else (
            f"the input encoder ({type(enc).__name__}) is not part of the graph: feed it encoded inputs [T, B, F]")
        return body, note
    return model, None


def export_command(args: argparse.Namespace) -> int:
    """``spikeforge export CKPT -o OUT.nir [--dt] [--reset] [--steps]``; returns the exit code."""
    from ..data import DATASETS
    from ..interop.nir import to_nir
    from ..learning.snapshot import load_checkpoint, load_model
    from ._paths import input_file, output_file

    ckpt = input_file(args.checkpoint, "checkpoint")
    out = output_file(args.output, "--output", inputs=(ckpt,))
    model = load_model(ckpt)
    cfg = load_checkpoint(ckpt).get("config", {})
    shape = DATASETS.meta(cfg.get("data", "digits"))["input_shape"]
    steps = int(args.steps if args.steps is not None else cfg.get("steps", 16))
    if steps < 1:
        raise ValueError(f"--steps must be >= 1, got {steps}")
    target, note = _exportable(model)
    sample = torch.zeros((steps, 1, int(np.prod(shape))))  # [T, B=1, F] (the body sees flattened features)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = to_nir(target, sample, dt=args.dt, reset=args.reset)
    nir.write(out, graph)
    nir.read(out)  # the file must pass nir's own type check
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if note:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {out} ({len(graph.nodes)} nodes, {len(graph.edges)} edges, dt={args.dt:g} s)")
    return 0


def _shape(types: dict | None) -> str:
    if not types:
        return "?"
    v = next(iter(types.values()))
    return "?" if v is None else "[" + ", ".join(str(int(s)) for s in np.asarray(v).reshape(-1)) + "]"


def summarize_graph(graph: nir.NIRGraph, indent: str = "") -> list[str]:
    """Human-readable lines: one per node (type, input → output shape, reset mode) and the edges."""
    lines = []
    for name, node in graph.nodes.items():
        meta = node.metadata if isinstance(node.metadata, dict) else {}
        reset = meta.get("reset_mode")
        reset = reset.decode() if isinstance(reset, bytes) else reset
        extra = f"  reset={reset}" if reset is not None else ""
        lines.append(f"{indent}{name:<16} {type(node).__name__:<10} {_shape(node.input_type)} -> "
                     f"{_shape(node.output_type)}{extra}")
        if isinstance(node, nir.NIRGraph):
            lines += summarize_graph(node, indent + "    ")
    lines.append(f"{indent}edges: " + ", ".join(f"{a}->{b}" for a, b in graph.edges))
    return lines


def import_command(args: argparse.Namespace) -> int:
    """``spikeforge import FILE.nir [--dt] [--strict-dt] [--reset]``: print the graph and the imported model."""
    from ..interop.nir import from_nir, read_nir
    from ..interop.nir.from_nir import DEFAULT_DT, recorded_dt

    graph = read_nir(args.path)
    file_dt = recorded_dt(graph)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = from_nir(graph, dt=args.dt, reset=args.reset, strict_dt=args.strict_dt)
        except ValueError as e:
            raise _dt_advice(e, args.dt, file_dt) from None
    dt = args.dt if args.dt is not None else (file_dt if file_dt is not None else DEFAULT_DT)
    typed = nir.NIRGraph(nodes=graph.nodes, edges=graph.edges, metadata=graph.metadata, type_check=False)
    typed.infer_types()
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    print(f"NIR graph {args.path}: {len(graph.nodes)} nodes, {len(graph.edges)} edges"
          + (f", written for dt={float(np.asarray(meta['dt'])):g} s" if "dt" in meta else ""))
    for line in summarize_graph(typed):
        print("  " + line)
    rec = _recurrent(model)
    n_params = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    print(f"spikeforge model: ModuleGraph with {len(model.node_names)} modules, dt={dt:g} s, "
          f"{n_params} parameter values" + (f", recurrent edges {rec}" if rec else ""))
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return 0


def _dt_advice(e: ValueError, dt: float | None, file_dt: float | None) -> ValueError:
    """``e`` as is, unless it is a neuron refusing a time constant below dt (forward Euler): that
    error advises ``integrator='exp'``, an argument of ``from_nir`` the command does not offer, so it
    is restated with what the command can change (``--dt``)."""
    from ..neurons._dynamics import EulerUnstableError

    cause = e if isinstance(e, EulerUnstableError) else e.__cause__
    if not isinstance(cause, EulerUnstableError):
        return e
    where = str(e).removesuffix(str(cause)) if cause is not e else ""  # "node 'x' (LIF): " from the importer
    tau, used = cause.shown()
    fix = f"lower --dt to <= {tau} s"
    if dt is not None and file_dt is not None and file_dt <= cause.tau:
        fix += f" or leave --dt out (the file was written for dt={file_dt:g} s)"
    return ValueError(f"{where}{cause.rule()}; its "
                      f"{cause.name} is {tau} s and dt={used} s{' (--dt)' * (dt is not None)}: {fix}")


def _recurrent(model: nn.Module) -> list[tuple[str, str]]:
    from ..layers.graph import ModuleGraph

    return [e for m in model.modules() if isinstance(m, ModuleGraph) for e in m.recurrent_edges]
