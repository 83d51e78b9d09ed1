"""The main job: train a configured SNN, evaluate it, and write a report, checkpoint and plots.

``spikeforge train`` and ``make run`` are thin wrappers over :func:`run_training`.

A run directory holds ``checkpoint.pt`` (after every epoch, and every ``checkpoint_every_steps``
optimizer steps inside one when that key is > 0), ``history.csv`` (one row per epoch,
rewritten after every epoch), ``report.json`` (the report with the per-epoch history), the PNG
plots and, with ``log="tensorboard"``, ``tensorboard/`` event files. Running again resumes:
the checkpoint must come from the same experiment (every config key except the location keys
:attr:`TrainConfig.LOCATION_KEYS` and ``epochs``), so a copied or moved directory resumes. A
larger ``epochs`` extends a finished run; the cosine schedule then continues on the curve of the
new total (:class:`~spikeforge.learning.CosineSchedule`), and the report says so; a one-cycle
run (``scheduler="one_cycle"``, stepped per optimizer step) cannot change its length.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler

from .config import ConfigError, TrainConfig
from .data import DATASETS, load_dataset
from .learning import distributed as dist_
from .learning import LOSSES, CosineSchedule, RateRegularizer, RunLog, evaluate, fit, load_checkpoint, seed_everything
from .learning.modes import TRAINING_MODES, TrainingMode
from .learning.run_log import write_history_csv
from .models import build_model
from .models.dcls import delay_layers, delay_optimizer, set_delay_sigma

__all__ = ["run_training", "TrainReport", "make_loaders", "make_split_loaders", "load_splits", "training_mode",
           "make_scheduler"]


@dataclass
class TrainReport:
    """Outcome of :func:`run_training`; ``str()`` renders the printed report."""

    config: TrainConfig
    test_accuracy: float
    train_accuracy: float
    layer_rates: dict[str, float]
    wall_seconds: float
    checkpoint: Path
    plots: list[Path] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)
    resumed_from_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch (fit's history)
    schedule_note: str = ""  # set when a resumed run's length changed (its schedule follows the new total)
    logs: list[Path] = field(default_factory=list)  # history.csv (and the TensorBoard folder)
    val_accuracy: float | None = None  # last epoch's accuracy on the held-out validation split (val_fraction > 0)
    resumed_from_step: int = 0  # > 0: resumed from a mid-epoch checkpoint, this many steps into its epoch

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "test_accuracy": self.test_accuracy,
                "train_accuracy": self.train_accuracy, "layer_rates": self.layer_rates,
                "wall_seconds": self.wall_seconds, "checkpoint": str(self.checkpoint),
                "plots": [str(p) for p in self.plots], "cost": self.cost,
                "resumed_from_epoch": self.resumed_from_epoch, "schedule_note": self.schedule_note,
                "logs": [str(p) for p in self.logs], "history": self.history, "val_accuracy": self.val_accuracy,
                "resumed_from_step": self.resumed_from_step}

    def __str__(self) -> str:
        c = self.config
        lines = [
            f"spikeforge train — data={c.data} model={c.model} hidden={list(c.hidden)} neuron={c.neuron} "
            f"T={c.steps} epochs={c.epochs}",
            f"  {'test accuracy':<24} {self.test_accuracy * 100:6.2f} %",
            *([f"  {'validation accuracy':<24} {self.val_accuracy * 100:6.2f} % "
               f"({c.val_fraction:g} of the training split held out)"] if self.val_accuracy is not None else []),
            f"  {'train accuracy':<24} {self.train_accuracy * 100:6.2f} %",
            "  firing rate per layer (spikes per neuron per step, test set):",
        ]
        width = max((len(k) for k in self.layer_rates), default=0)
        lines += [f"    {name:<{width}}  {rate:.4f}" for name, rate in self.layer_rates.items()]
        for key, value in self.cost.items():
            lines.append(f"  {key:<24} {value:.4g}" if isinstance(value, float) else f"  {key:<24} {value}")
        lines.append(f"  {'wall time':<24} {self.wall_seconds:.1f} s"
                     + (f" (resumed in epoch {self.resumed_from_epoch + 1} after step {self.resumed_from_step})"
                        if self.resumed_from_step else
                        f" (resumed after epoch {self.resumed_from_epoch})" if self.resumed_from_epoch else ""))
        if self.schedule_note:
            lines.append(f"  {'schedule':<24} {self.schedule_note}")
        lines.append(f"  {'checkpoint':<24} {self.checkpoint}")
        lines += [f"  {'log':<24} {p}" for p in self.logs]
        lines += [f"  {'plot':<24} {p}" for p in self.plots]
        return "\n".join(lines)


def load_splits(cfg: TrainConfig) -> tuple[Any, Any]:
    """The train and test splits of ``cfg.data``, read from ``cfg.root`` (if set) and fetched from
    the dataset's source when ``cfg.download`` is on and files are missing."""
    kwargs: dict[str, Any] = {}
    if cfg.root is not None:
        kwargs["root"] = cfg.root
    if cfg.download:
        kwargs["download"] = True
    try:
        return load_dataset(cfg.data, "train", **kwargs), load_dataset(cfg.data, "test", **kwargs)
    except TypeError as e:
        if cfg.download and "download" in str(e):
            raise ConfigError(f"config key 'download': dataset {cfg.data!r} has no download source; "
                              "get its files and pass root=<folder>") from None
        raise
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e} (spikeforge train: --set root=<folder> or --root <folder>; --download "
                                "fetches the files from the dataset's source where it has one)") from None


def make_loaders(cfg: TrainConfig) -> tuple[DataLoader[Any], DataLoader[Any], RandomSampler]:
    """Train/test loaders; the train sampler's generator is reseeded per epoch (exact resume)."""
    train_loader, _, test_loader, sampler = make_split_loaders(cfg)
    return train_loader, test_loader, sampler


def make_split_loaders(cfg: TrainConfig) -> tuple[DataLoader[Any], DataLoader[Any] | None, DataLoader[Any],
                                                  RandomSampler]:
    """Train, validation (``None`` if ``cfg.val_fraction == 0``) and test loaders.

    The validation split is ``round(val_fraction · N)`` samples of the *training* split, chosen by a
    permutation seeded with ``cfg.seed`` (the test split is never used for model selection)."""
    train, test = load_splits(cfg)
    val = None
    if cfg.val_fraction > 0:
        from torch.utils.data import Subset

        n = len(train)
        n_val = int(round(cfg.val_fraction * n))
        if not 0 < n_val < n:
            raise ConfigError(f"config key 'val_fraction': {cfg.val_fraction} of {n} training samples leaves "
                              f"{n_val} for validation and {n - n_val} for training; both must be >= 1")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed)).tolist()
        train, val = Subset(train, order[n_val:]), Subset(train, order[:n_val])
    collate = None
    if DATASETS.meta(cfg.data).get("kind") == "temporal":
        from .data.collate import pad_collate

        collate = pad_collate
    sampler = RandomSampler(train, generator=torch.Generator().manual_seed(cfg.seed))
    train_loader = DataLoader(train, batch_size=cfg.batch_size, sampler=sampler, collate_fn=collate)
    val_loader = None if val is None else DataLoader(val, batch_size=256, shuffle=False, collate_fn=collate)
    test_loader = DataLoader(test, batch_size=256, shuffle=False, collate_fn=collate)
    return train_loader, val_loader, test_loader, sampler


def run_training(cfg: TrainConfig, *, resume: bool = True, plots: bool = True) -> TrainReport:
    """Train ``cfg`` (resuming from ``out_dir/checkpoint.pt`` if present), evaluate on the test
    split, record per-layer firing rates and cost, save plots and ``report.json``.

    Inside a process group (``spikeforge train --nproc N`` or ``torchrun``; see
    :mod:`~spikeforge.learning.distributed`) each rank trains on its share of every global batch
    of ``cfg.batch_size`` samples; only rank 0 logs, checkpoints, tests and writes the report
    (the other ranks return a report with ``nan`` test accuracy)."""
    t0 = time.perf_counter()
    env = dist_.current()
    main = env is None or env.is_main
    seed_everything(cfg.seed)  # the same on every rank: one init, one RNG stream (see the module docs)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    done, previous_epochs = _resume_plan(ckpt, cfg) if resume and ckpt.is_file() else (0, 0)
    train_loader, val_loader, test_loader, _ = make_split_loaders(cfg)
    model = build_model(cfg)
    train_loader, sharded = _sharded_loader(train_loader, cfg, env, model)  # the same batches as its RandomSampler
    loss_fn = LOSSES.get(cfg.loss)
    delays = bool(delay_layers(model))  # positions: own rate, clamped each step; SIG follows the schedule
    optimizer = (delay_optimizer(model, cfg.lr, cfg.lr_positions, cfg.weight_decay) if delays
                 else torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay))

    def set_epoch(e: int) -> None:
        sharded.set_epoch(cfg.seed * 100_003 + e)
        if delays:
            set_delay_sigma(model, e, cfg.epochs)
    scheduler = make_scheduler(cfg, optimizer, len(train_loader))
    if cfg.scheduler == "one_cycle" and previous_epochs:
        raise ConfigError(f"config key 'epochs': {ckpt} was trained on a one-cycle schedule over {previous_epochs} "
                          f"epochs; its cycle cannot be stretched to {cfg.epochs}. Keep epochs={previous_epochs}, "
                          "pass --fresh or choose another out_dir")
    note = _schedule_note(cfg, done, previous_epochs, scheduler if isinstance(scheduler, CosineSchedule) else None)
    if note and cfg.progress and main:
        print(f"spikeforge train: {note}", flush=True)
    regularizer = RateRegularizer(model, upper=0.5, weight=cfg.rate_reg) if cfg.rate_reg > 0 else None
    try:
        log = RunLog(out, tensorboard=cfg.log == "tensorboard") if main else None
    except ImportError as e:  # before any epoch is trained
        raise ConfigError(f"config key 'log': {e}") from None
    try:
        result = fit(model, train_loader, loss_fn=loss_fn, optimizer=optimizer, epochs=cfg.epochs,
                     scheduler=scheduler, checkpoint=ckpt, resume=resume, config=cfg.to_dict(),
                     regularizer=regularizer, progress=cfg.progress,
                     set_epoch=set_epoch, on_epoch_end=log, val_data=val_loader,
                     mode=training_mode(cfg), distributed=env, sampler=sharded,
                     checkpoint_every_steps=cfg.checkpoint_every_steps,
                     scheduler_per_step=cfg.scheduler == "one_cycle")
    finally:
        if log is not None:
            log.close()
    if regularizer is not None:
        regularizer.remove()
    if log is None:  # not rank 0: rank 0 tests and reports
        return TrainReport(cfg, float("nan"), result.history[-1]["train_accuracy"] if result.history else float("nan"),
                           {}, time.perf_counter() - t0, ckpt, resumed_from_epoch=result.resumed_from_epoch,
                           history=result.history, resumed_from_step=result.resumed_from_step)
    logs = [write_history_csv(result.history, log.csv_path)]
    if log.tensorboard_dir is not None:
        logs.append(log.tensorboard_dir)
    train_acc = result.history[-1]["train_accuracy"] if result.history else float("nan")
    rates, cost, test_acc, sample = _measure(model, test_loader)
    report = TrainReport(cfg, test_acc, train_acc, rates, 0.0, ckpt, cost=cost,
                         resumed_from_epoch=result.resumed_from_epoch, history=result.history,
                         resumed_from_step=result.resumed_from_step, schedule_note=note, logs=logs,
                         val_accuracy=result.history[-1].get("val_accuracy") if result.history else None)
    if plots:
        report.plots = _plots(model, sample, rates, result.history, out)
    report.wall_seconds = time.perf_counter() - t0
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report


def _sharded_loader(loader: DataLoader[Any], cfg: TrainConfig, env: dist_.DistEnv | None,
                    model: nn.Module) -> tuple[DataLoader[Any], dist_.ShardedBatchSampler]:
    """This rank's training loader: its share of every global batch of ``cfg.batch_size`` (in one
    process, the whole batch: the batches of ``loader``'s ``RandomSampler`` reseeded per epoch,
    from a sampler whose position a mid-epoch checkpoint can store)."""
    if env is not None:
        dist_.refuse_unsupported(model)
    rank, world = (env.rank, env.world_size) if env is not None else (0, 1)
    try:
        sampler = dist_.ShardedBatchSampler(len(loader.dataset), cfg.batch_size,  # type: ignore[arg-type]
                                            rank, world)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return DataLoader(loader.dataset, batch_sampler=sampler, collate_fn=loader.collate_fn), sampler


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Any:
    r"""The learning-rate schedule ``cfg.scheduler`` for ``optimizer`` (``None`` for ``"none"``).

    ``cosine``: :class:`~spikeforge.learning.CosineSchedule` over ``cfg.epochs``, stepped per epoch,
    from each group's rate down to 0. ``one_cycle``: ``torch.optim.lr_scheduler.OneCycleLR`` over
    ``cfg.epochs · steps_per_epoch`` optimizer steps (stepped per step), with each parameter group's
    configured rate as its own peak :math:`\eta_{max}` (``lr`` for weights, ``lr_positions`` for delay
    positions): cosine warm-up from :math:`\eta_{max}/25` to the peak over the first 30 % of the steps,
    then cosine annealing to :math:`\eta_{max}/(25 \cdot 10^4)`; Adam's :math:`\beta_1` cycles
    inversely between 0.95 and 0.85 (torch's defaults, which the DCLS reference script keeps).
    """
    if cfg.scheduler == "cosine":
        return CosineSchedule(optimizer, cfg.epochs)
    if cfg.scheduler == "one_cycle":
        if steps_per_epoch < 1:
            raise ConfigError(f"config key 'scheduler': one_cycle needs at least one step per epoch, got "
                              f"{steps_per_epoch}")
        peaks = [float(g["lr"]) for g in optimizer.param_groups]
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peaks,
                                                   total_steps=cfg.epochs * steps_per_epoch)
    return None


def training_mode(cfg: TrainConfig) -> TrainingMode:
    """The :data:`~spikeforge.learning.TRAINING_MODES` entry ``cfg.train_mode`` with its config keys
    (``online_k`` for sltt-k; ``ottt_decay`` for ottt, by default the forward-Euler leak
    ``1 - dt/tau_mem`` of the hidden neuron, 1 for a neuron without ``tau_mem``)."""
    if cfg.train_mode == "sltt-k":
        return TRAINING_MODES.create("sltt-k", k=cfg.online_k)
    if cfg.train_mode == "ottt":
        decay = cfg.ottt_decay
        if decay is None:
            from .neurons import NEURONS  # a neuron without tau_mem (IF) does not leak

            leaky = "tau_mem" in NEURONS.get(cfg.neuron).params_cls._fields
            decay = 1.0 - cfg.resolved("dt") / cfg.resolved("tau_mem") if leaky else 1.0
        return TRAINING_MODES.create("ottt", decay=max(0.0, decay))
    return TRAINING_MODES.create(cfg.train_mode)


def _resume_plan(ckpt: Path, cfg: TrainConfig) -> tuple[int, int]:
    """``(epochs done, the saved run's length if it differs from cfg.epochs else 0)`` for resuming
    ``ckpt``; refuses a checkpoint of another experiment or one already past ``cfg.epochs``."""
    payload = load_checkpoint(ckpt)
    saved = payload["config"]
    diff = cfg.differing_keys(saved, TrainConfig.LOCATION_KEYS | {"epochs"})
    if diff:
        raise ValueError(
            f"{ckpt} was written by a different configuration (differs in {diff}); "
            "pass --fresh to start over or choose another out_dir"
        )
    done = int(payload["epoch"])
    if cfg.epochs < done:
        raise ConfigError(f"config key 'epochs': {ckpt} already holds {done} trained epochs, more than "
                          f"epochs={cfg.epochs}; set epochs >= {done}, pass --fresh or choose another out_dir")
    saved_epochs = int(saved.get("epochs", cfg.epochs))
    return done, (saved_epochs if saved_epochs != cfg.epochs else 0)


def _schedule_note(cfg: TrainConfig, done: int, previous_epochs: int, scheduler: CosineSchedule | None) -> str:
    """What happens to the schedule when a resumed run's length changed ("" if it did not)."""
    if not previous_epochs:
        return ""
    head = f"run length changed from {previous_epochs} to {cfg.epochs} epochs"
    if scheduler is None or done >= cfg.epochs:
        return head
    return (f"{head}; the cosine schedule continues over {cfg.epochs} epochs "
            f"(lr {scheduler.rate(done, cfg.lr):.4g} at epoch {done + 1}, annealing to 0 at epoch {cfg.epochs})")


def _measure(model: nn.Module, test_loader: DataLoader[Any]) -> tuple[dict[str, float], dict[str, Any], float, Any]:
    """Test accuracy, per-layer firing rates and cost over the whole test set."""
    from . import metrics
    from .monitors import record_rates

    sample = next(iter(test_loader))[0]
    with record_rates(model) as rec:
        acc = evaluate(model, test_loader)["accuracy"]
    rates = rec.rates()
    cost = metrics.summarize(model, sample)
    return rates, cost, acc, sample


def _plots(model: nn.Module, sample: Any, rates: dict[str, float], history: list[dict[str, float]],
           out: Path) -> list[Path]:
    """Training curves, per-layer rates and a raster of the first spiking layer (PNG)."""
    from .monitors import plots

    paths = {"training": out / "training.png", "rates": out / "rates.png", "raster": out / "raster.png"}
    if history:
        plots.plot_training_curves(history, paths["training"])
    plots.plot_layer_rates(rates, paths["rates"])
    plots.plot_raster_of_first_layer(model, sample, paths["raster"])
    return [p for p in paths.values() if p.is_file()]
