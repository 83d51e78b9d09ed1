"""``spikeforge profile``: cost report (synaptic ops, sparsity, energy, latency) of a model."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["register", "profile_report", "sample_input", "load_target"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile", help="print per-layer cost: synaptic ops, sparsity, membrane updates, energy",
        description="Profile a trained checkpoint (or the untrained model of a YAML config) on a batch of its "
                    "dataset's test split: NeuroBench-style counts per sample and energy estimates.")
    p.add_argument("target", help="checkpoint written by `spikeforge train`, or a YAML config file")
    p.add_argument("--samples", type=int, default=32, help="test samples to profile (default 32)")
    p.add_argument("--json", dest="json_path", help="also write the full report as JSON here")
    p.add_argument("--plot", dest="plot_path", help="also save a bar plot of energy per layer (PNG) here")
    p.add_argument("--latency", action="store_true", help="also time inference (warm-up + repetitions)")
    p.add_argument("--compare-ann", action="store_true", help="also price the same network with ReLU neurons")
    p.set_defaults(func=_profile)


def load_target(path: str | os.PathLike[str]) -> tuple[nn.Module, Any]:
    """``(model in eval mode, TrainConfig)`` from a checkpoint, or from a YAML config (fresh weights)."""
    from ..config import TrainConfig, load_config
    from ._paths import input_file

    p = input_file(path, "profile target")
    if p.suffix.lower() in (".yaml", ".yml"):
        from ..models import build_model

        cfg = load_config(p)
        return build_model(cfg).eval(), cfg
    from ..learning.snapshot import load_checkpoint, load_model

    cfg = TrainConfig.from_saved(load_checkpoint(p)["config"])
    return load_model(p), cfg


def sample_input(cfg: Any, samples: int) -> Tensor:
    """The first ``samples`` inputs of ``cfg.data``'s test split, batched as the trainer feeds them."""
    from torch.utils.data import DataLoader

    from ..data import DATASETS, load_dataset

    if samples < 1:
        raise ValueError(f"--samples must be >= 1, got {samples}")
    collate = None
    if DATASETS.meta(cfg.data).get("kind") == "temporal":
        from ..data.collate import pad_collate

        collate = pad_collate
    loader = DataLoader(load_dataset(cfg.data, "test"), batch_size=samples, shuffle=False, collate_fn=collate)
    return next(iter(loader))[0]


@torch.no_grad()
def profile_report(
    model: nn.Module,
    x: Tensor,
    *,
    json_path: str | os.PathLike[str] | None = None,
    plot_path: str | os.PathLike[str] | None = None,
    latency: bool = False,
    compare_ann: bool = False,
) -> str:
    """Profile ``model(x)`` and return the printed report; optionally write JSON and a plot."""
    from ..metrics import compare_ann_snn, measure_latency, profile

    was_training = model.training
    model.eval()
    try:
        with profile(model) as prof:
            model(x)
    finally:
        model.train(was_training)
    parts = [prof.report()]
    extra: dict[str, Any] = {}
    if latency:
        lat = measure_latency(model, x)
        extra["latency"] = lat.to_dict()
        parts.append(f"latency              {lat.median_s * 1e3:.3f} ms per batch of {lat.batch_size} "
                     f"(±{lat.std_s * 1e3:.3f}), {lat.samples_per_s:.1f} samples/s, "
                     f"{lat.seconds_per_step * 1e6:.1f} µs per step")
    if compare_ann:
        cmp = compare_ann_snn(model, x)
        extra["ann_vs_snn"] = cmp.to_dict()
        for name, snn_total in cmp.snn.items():
            parts.append(f"ANN vs SNN {name:<13} ANN {cmp.ann[name]:.4g} / SNN {snn_total:.4g} {cmp.units[name]} "
                         f"(ratio {cmp.ratio[name]:.3g}, ANN priced for {cmp.ann_steps} step(s))")
    if json_path is not None:
        data = prof.to_dict()
        data.update(extra)
        path = Path(json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2))
        parts.append(f"json                 {path}")
    if plot_path is not None:
        parts.append(f"plot                 {prof.plot_energy(plot_path)}")
    return "\n".join(parts)


def _check_outputs(args: argparse.Namespace) -> None:
    """--json / --plot are checked before the model runs: a bad path fails now, not after the profile."""
    from matplotlib.backend_bases import FigureCanvasBase

    from ._paths import output_file

    if args.json_path is not None:
        output_file(args.json_path, "--json", inputs=(args.target,))
    if args.plot_path is not None:
        output_file(args.plot_path, "--plot", inputs=(args.target,))
        kinds = FigureCanvasBase.get_supported_filetypes()
        ext = Path(args.plot_path).suffix.lower().lstrip(".")
        if ext not in kinds:
            raise ValueError(f"--plot {args.plot_path!r}: the extension names the image format; use one of "
                             f"{', '.join('.' + k for k in sorted(kinds))}")


def _profile(args: argparse.Namespace) -> int:
    _check_outputs(args)
    model, cfg = load_target(args.target)
    x = sample_input(cfg, args.samples)
    print(profile_report(model, x, json_path=args.json_path, plot_path=args.plot_path,
                         latency=args.latency, compare_ann=args.compare_ann))
    return 0
