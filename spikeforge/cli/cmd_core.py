"""Core commands: ``train`` and ``list``."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train an SNN (default: embedded digits) and print a report",
                       description="Train from defaults <- --config YAML <- --set key=value overrides.")
    p.add_argument("--config", help="YAML file of TrainConfig keys")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key (repeatable); unknown keys list the valid ones")
    p.add_argument("--data", help="shortcut for --set data=NAME")
    p.add_argument("--root", help="shortcut for --set root=DIR (folder with the dataset's files)")
    p.add_argument("--download", action="store_true",
                   help="shortcut for --set download=true (fetch missing files from the dataset's source)")
    p.add_argument("--out", help="shortcut for --set out_dir=DIR")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint (default: resume)")
    p.add_argument("--no-plots", action="store_true", help="skip writing PNG plots")
    p.set_defaults(func=_train)

    p = sub.add_parser("list", help="print the registries (neurons, surrogates, encoders, datasets, ...)")
    p.add_argument("kind", nargs="?", help="only this registry")
    p.set_defaults(func=_list)


def _train(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..recipes import run_recipe

    overrides = list(args.overrides)
    if args.data:
        overrides.append(f"data={args.data}")
    if args.root:
        overrides.append(f"root={args.root}")
    if args.download:
        overrides.append("download=true")
    if args.out:
        overrides.append(f"out_dir={args.out}")
    cfg = load_config(args.config, overrides)
    report = run_recipe(cfg, resume=not args.fresh, plots=not args.no_plots)  # run_training unless staged
    print(report)
    return 0


def registries() -> dict[str, object]:
    """Every public registry by plural name."""
    from .. import encoders, learning, models, neurons, plasticity, surrogate
    from ..data import DATASETS

    regs: dict[str, object] = {
        "neurons": neurons.NEURONS,
        "surrogates": surrogate.SURROGATES,
        "resets": neurons.RESETS,
        "encoders": encoders.ENCODERS,
        "decoders": encoders.DECODERS,
        "datasets": DATASETS,
        "losses": learning.LOSSES,
        "training_modes": learning.TRAINING_MODES,
        "models": models.MODELS,
        "plasticity": plasticity.PLASTICITY,
    }
    from ..convert import CONVERTERS

    regs["converters"] = CONVERTERS
    from ..quant import QUANTIZERS

    regs["quantizers"] = QUANTIZERS
    try:
        from ..data import REPRESENTATIONS

        regs["representations"] = REPRESENTATIONS
    except ImportError:
        pass
    return regs


def _list(args: argparse.Namespace) -> int:
    regs = registries()
    if args.kind is not None and args.kind not in regs:
        raise ValueError(f"unknown registry {args.kind!r}; valid: {', '.join(regs)}")
    for name, reg in regs.items():
        if args.kind in (None, name):
            print(f"{name}: {', '.join(reg.names())}")  # type: ignore[attr-defined]
            if name == "models" and args.kind == "models":
                from ..models import model_table

                print(model_table())
    return 0
