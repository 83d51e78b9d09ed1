"""Learned delays vs no delays vs recurrence on the generated delay tasks, over several seeds.

Tasks (data from :mod:`spikeforge.data.generators.delay_tasks`):

* ``xor`` / ``and`` — per-step target ``a(t - d_a) op b(t - d_b)`` on two Bernoulli(0.5) trains;
  accuracy per step (chance: 50 % for ``xor``, 75 % for ``and`` by always answering 0);
* ``motif`` — which of ``n_motifs`` spiking motifs (one spike per channel at a motif-specific delay)
  is hidden in Bernoulli noise; accuracy per sample (chance ``1 / n_motifs``).

Each seed draws its own data, initialisation and shuffling; the three networks of
:func:`~spikeforge.tasks.delays.models.build_matched` are trained with the same loop and budget.

Run ``python -m spikeforge.tasks.delays.run --task xor --seeds 3`` (``--help`` for the sizes), or from a
shipped YAML file of :class:`DelayTaskConfig` fields (the presets as files):
``python -m spikeforge.tasks.delays.run --config configs/delays_xor.yaml --seeds 3``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch
from torch import Tensor

from ...data.generators.delay_tasks import delayed_logic, make_motifs, spiking_motifs
from ._train import TrainConfig, train_and_test
from .models import KINDS, build_matched, count_params
from .yaml_config import load_task_config

__all__ = ["PRESETS", "DelayTaskConfig", "make_data", "run_task", "summarize"]


@dataclass(frozen=True)
class DelayTaskConfig:
    task: str = "xor"  # "xor", "and" or "motif"
    n_train: int = 512
    n_test: int = 256
    steps: int = 50  # T per sample
    delays: tuple[int, int] = (12, 4)  # (d_a, d_b) of xor / and
    channels: int = 16  # motif: input channels
    n_motifs: int = 4  # motif: classes
    motif_len: int = 20  # motif: spike offsets 0 … motif_len-1
    noise_rate: float = 0.02  # motif: background spike probability per step and channel
    jitter: int = 0  # motif: ± steps of jitter per motif spike
    hidden: int = 16  # hidden neurons of the delay network (baselines are widened to its budget)
    K: int = 17  # delay window (taps) of the delay network
    beta: float = 0.5  # hidden LIF decay per step
    train: TrainConfig = field(default_factory=TrainConfig)


PRESETS: dict[str, DelayTaskConfig] = {
    "xor": DelayTaskConfig(task="xor"),
    "and": DelayTaskConfig(task="and"),
    "motif": DelayTaskConfig(task="motif", steps=80, motif_len=40, hidden=32, K=41, beta=0.8),
}


def make_data(cfg: DelayTaskConfig, seed: int) -> tuple[tuple[Tensor, Tensor, Tensor, Tensor], int, int, bool]:
    """``((x_train, y_train, x_test, y_test), C_in, C_out, per_step)`` for ``cfg.task`` and ``seed``."""
    g = torch.Generator().manual_seed(seed)
    if cfg.task in ("xor", "and"):
        tr = delayed_logic(cfg.n_train, cfg.steps, delays=cfg.delays, op=cfg.task, generator=g)
        te = delayed_logic(cfg.n_test, cfg.steps, delays=cfg.delays, op=cfg.task, generator=g)
        return (*tr, *te), 2, 2, True
    if cfg.task == "motif":
        motifs = make_motifs(cfg.n_motifs, cfg.channels, cfg.motif_len, generator=g)
        kw: dict[str, Any] = {"steps": cfg.steps, "noise_rate": cfg.noise_rate, "jitter": cfg.jitter, "generator": g}
        tr = spiking_motifs(cfg.n_train, motifs, **kw)
        te = spiking_motifs(cfg.n_test, motifs, **kw)
        return (*tr, *te), cfg.channels, cfg.n_motifs, False
    raise ValueError(f"unknown delay task {cfg.task!r}; choose from {sorted(PRESETS)}")


def run_task(cfg: DelayTaskConfig, seeds: list[int], kinds: tuple[str, ...] = KINDS) -> list[dict[str, Any]]:
    """Train every network kind on every seed; one row per (kind, seed)."""
    rows = []
    for seed in seeds:
        data, c_in, c_out, per_step = make_data(cfg, seed)
        torch.manual_seed(seed)
        nets = build_matched(c_in, c_out, cfg.hidden, cfg.K, cfg.beta)
        for kind in kinds:
            net, model = nets[kind]
            res = train_and_test(model, data, cfg.train, per_step=per_step, seed=seed)
            rows.append({"task": cfg.task, "kind": kind, "seed": seed, "hidden": net.hidden,
                         "params": count_params(model), **res})
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and sample std of test accuracy and seconds per (task, kind)."""
    out = []
    for key in dict.fromkeys((r["task"], r["kind"]) for r in rows):
        acc = [r["test_accuracy"] for r in rows if (r["task"], r["kind"]) == key]
        sec = [r["seconds"] for r in rows if (r["task"], r["kind"]) == key]
        first = next(r for r in rows if (r["task"], r["kind"]) == key)
        out.append({"task": key[0], "kind": key[1], "params": first["params"], "hidden": first["hidden"],
                    "n": len(acc), "acc_mean": statistics.fmean(acc),
                    "acc_std": statistics.stdev(acc) if len(acc) > 1 else 0.0, "seconds_mean": statistics.fmean(sec)})
    return out


def _parse(argv: list[str] | None) -> tuple[DelayTaskConfig, argparse.Namespace]:
    ap = argparse.ArgumentParser(prog="python -m spikeforge.tasks.delays.run", description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=sorted(PRESETS), default=None, help="a preset (default: xor)")
    ap.add_argument("--config", help="YAML file of DelayTaskConfig fields (e.g. configs/delays_xor.yaml) "
                    "instead of a preset; its nested 'train:' mapping sets the training keys")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0 … N-1")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS))
    ap.add_argument("--json", help="write all rows and the summary to this file")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override a field of DelayTaskConfig or TrainConfig, e.g. --set epochs=20 hidden=32")
    args = ap.parse_args(argv)
    if args.config is not None and args.task is not None:
        ap.error("give --task or --config, not both (the YAML file names its task)")
    if args.config is not None:
        from ...config import ConfigError

        try:
            cfg = load_task_config(args.config, DelayTaskConfig)
        except ConfigError as e:
            ap.error(str(e))
        if cfg.task not in PRESETS:
            ap.error(f"{args.config}: task must be one of {sorted(PRESETS)}, got {cfg.task!r}")
    else:
        cfg = PRESETS[args.task or "xor"]
    task_fields = {f.name: f for f in fields(DelayTaskConfig)}
    train_fields = {f.name: f for f in fields(TrainConfig)}
    for item in args.set:
        key, _, value = item.partition("=")
        if key in task_fields and key != "train":
            old = getattr(cfg, key)
            new: Any = tuple(int(v) for v in value.split(",")) if isinstance(old, tuple) else type(old)(value)
            cfg = replace(cfg, **{key: new})
        elif key in train_fields:
            cfg = replace(cfg, train=replace(cfg.train, **{key: type(getattr(cfg.train, key))(value)}))
        else:
            ap.error(f"unknown --set key {key!r}; valid: {sorted(set(task_fields) | set(train_fields) - {'train'})}")
    return cfg, args


def main(argv: list[str] | None = None) -> None:
    torch.set_num_threads(1)
    cfg, args = _parse(argv)
    kinds = tuple(k.strip() for k in args.kinds.split(","))
    rows = run_task(cfg, list(range(args.seeds)), kinds)
    summary = summarize(rows)
    print(f"| task | model | hidden | params | test accuracy (mean ± std, {args.seeds} seeds) | train s/run |")
    print("|---|---|---|---|---|---|")
    for s in summary:
        print(f"| {s['task']} | {s['kind']} | {s['hidden']} | {s['params']} | "
              f"{100 * s['acc_mean']:.1f} ± {100 * s['acc_std']:.1f} % | {s['seconds_mean']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": asdict(cfg), "rows": rows, "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
