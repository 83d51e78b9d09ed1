"""Core commands: ``train`` and ``list``."""

from __future__ import annotations

import argparse
import os

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
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes on this machine (default 1); batch_size stays the global "
                        "batch (docs/scaling.md). Under torchrun, leave it at 1: torchrun starts the processes")
    p.add_argument("--backend", choices=("auto", "gloo", "nccl"), default="auto",
                   help="torch.distributed backend with --nproc > 1 or torchrun (auto: nccl with CUDA, else gloo)")
    p.set_defaults(func=_train)

    p = sub.add_parser("list", help="print the registries (neurons, surrogates, encoders, datasets, ...)")
    p.add_argument("kind", nargs="?", help="only this registry")
    p.set_defaults(func=_list)


def _train(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_config
    from ..learning import distributed
    from ..recipes import run_recipe
    from ._paths import output_dir

    if args.nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {args.nproc}")
    distributed.check_backend(args.backend)  # e.g. nccl without CUDA: refused before any process starts
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
    world = args.nproc if args.nproc > 1 else int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and (cfg.pretrain_epochs or cfg.iir_steps):
        raise ConfigError("pretrain_epochs and iir_steps (multi-stage recipes) run in one process only; "
                          "drop --nproc / torchrun or train the stages separately")
    if world > 1 and cfg.batch_size < world:
        raise ConfigError(f"batch_size {cfg.batch_size} (the global batch) is smaller than the {world} "
                          f"processes; set batch_size >= {world}")
    output_dir(cfg.out_dir, "config key 'out_dir' (--out)")  # a file there fails now, not after the data loads
    if args.nproc > 1:
        if "WORLD_SIZE" in os.environ:
            raise ValueError("--nproc inside torchrun (WORLD_SIZE is set): let torchrun start the processes")
        return distributed.launch(_child_argv(args), args.nproc)
    env = distributed.init_from_env(args.backend)  # torchrun or a --nproc child: join the group
    try:
        report = run_recipe(cfg, resume=not args.fresh, plots=not args.no_plots)  # run_training unless staged
        if env is not None:  # every rank done with its collectives before any tears gloo down: a rank that
            import torch.distributed as dist  # destroyed the group while its peer still ran aborted the peer
            # ("terminate called without an active exception", SIGABRT; seen in a resumed 2-process run)
            dist.barrier()
    finally:
        if env is not None:
            import torch.distributed as dist

            dist.destroy_process_group()
    if env is None or env.is_main:
        print(report)
    return 0


def _child_argv(args: argparse.Namespace) -> list[str]:
    """The ``spikeforge train`` arguments each ``--nproc`` process gets (all but ``--nproc``)."""
    argv = ["train", "--backend", args.backend]
    for flag, value in (("--config", args.config), ("--data", args.data), ("--root", args.root),
                        ("--out", args.out)):
        if value:
            argv += [flag, value]
    for item in args.overrides:
        argv += ["--set", item]
    argv += [flag for flag, on in (("--download", args.download), ("--fresh", args.fresh),
                                   ("--no-plots", args.no_plots)) if on]
    return argv


def registries() -> dict[str, object]:
    """Every public registry by plural name."""
    from .. import encoders, learning, models, neurons, plasticity, surrogate
    from ..data import DATASETS

    regs: dict[str, object] = {
        "neurons": neurons.NEURONS,
        "sequence_neurons": neurons.SEQUENCE_NEURONS,  # fixed T, non-causal: also valid for --set neuron=
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
