r"""Direction and speed of a moving shape from a layer of heterogeneous delays, and magnitude pruning.

Data: the DVS-like ``moving_shape`` dataset (:mod:`spikeforge.data.datasets.synthetic`): a square or
disc crosses a 32×32 sensor; ON/OFF event counts per ``dt`` bin, summed over 2×2 pixel blocks,

.. math:: x \in \mathbb{N}^{[T,\,B,\,2 \cdot 16 \cdot 16]}.

Model (no recurrence): :class:`~spikeforge.layers.DelayLinear` (every pixel-polarity → detector synapse
has a weight and a learnable delay) → LIF detectors → ``Linear`` readout, classified by the time mean
of the readout (:mod:`.models`, ``delay``). Baseline: the same network without delays, widened to
the same parameter budget (``plain``).

Pruning: after training, the fraction ``p`` of first-layer synapses with the smallest ``|w|`` is
set to zero (a pruned delay synapse carries nothing), without retraining, and test accuracy is
measured again.

Run ``python -m spikeforge.tasks.delays.motion --seeds 3``, or from a YAML file of
:class:`MotionConfig` fields: ``python -m spikeforge.tasks.delays.motion --config configs/delays_motion.yaml``.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import Tensor, nn

from ...data.datasets import load_dataset
from ._train import TrainConfig, accuracy, train_and_test
from .models import build_matched, count_params
from .yaml_config import load_task_config

__all__ = ["MotionConfig", "load_motion", "prune_first_layer", "run_motion"]


@dataclass(frozen=True)
class MotionConfig:
    label: str = "direction"  # "direction" or "speed"
    num_classes: int = 8  # directions 2πk/8, or speeds evenly spaced in speed_range
    n_train: int = 800
    n_test: int = 400
    dt: float = 5e-3  # s per time bin (T = 0.2 s / dt)
    pool: int = 2  # sum over pool×pool pixel blocks (32×32 → 16×16)
    noise_rate: float = 1.0  # background events per pixel per second
    speed_range: tuple[float, float] = (60.0, 160.0)  # px/s (the dataset default: the shape stays in view)
    duration: float = 0.2  # s; the path is centred on the sensor at duration / 2
    merge_polarity: bool = False  # sum ON and OFF (C = (32/pool)²): no instantaneous direction cue
    hidden: int = 16  # detectors of the delay network
    K: int = 11  # delay window (taps): delays 0 … K-1 bins
    beta: float = 0.5  # detector LIF decay per step
    prune: tuple[float, ...] = (0.0, 0.5, 0.8, 0.9, 0.95)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=20, lr=5e-3, lr_positions=0.5))


def load_motion(cfg: MotionConfig, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x_train [N, T, C], y_train [N], x_test, y_test)`` with ``C = P (32/pool)²`` (``P`` = 2, or 1 merged)."""
    out: list[Tensor] = []
    for split, n in (("train", cfg.n_train), ("test", cfg.n_test)):
        ds = load_dataset("moving_shape", split, n_samples=n, label=cfg.label, num_classes=cfg.num_classes,
                          dt=cfg.dt, noise_rate=cfg.noise_rate, speed_range=cfg.speed_range,
                          duration=cfg.duration, seed=seed)
        samples = [ds[i] for i in range(n)]  # each sample is generated on access: read it once
        x = torch.stack([s[0] for s in samples])  # [N, T, 2, H, W]
        if cfg.merge_polarity:
            x = x.sum(2, keepdim=True)  # [N, T, 1, H, W]
        N, T = x.shape[:2]
        x = nn.functional.avg_pool2d(x.flatten(0, 2), cfg.pool) * cfg.pool**2  # [N*T*P, H/p, W/p] (sum pool)
        out += [x.reshape(N, T, -1), torch.stack([s[1] for s in samples])]  # [N, T, P*H*W/p²], [N]
    return out[0], out[1], out[2], out[3]


def prune_first_layer(model: nn.Sequential, fraction: float) -> nn.Sequential:
    """A copy of ``model`` whose first layer has its ``fraction`` smallest-``|w|`` synapses set to 0."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"prune_first_layer: fraction must be in [0, 1), got {fraction}")
    pruned = copy.deepcopy(model)
    w = pruned[0].weight
    if not isinstance(w, Tensor):
        raise TypeError(f"prune_first_layer: the first layer has no weight tensor ({type(pruned[0]).__name__})")
    k = int(round(fraction * w.numel()))
    if k:
        with torch.no_grad():
            idx = w.abs().flatten().argsort()[:k]  # the k weakest synapses
            w.view(-1)[idx] = 0.0
    return pruned


def run_motion(cfg: MotionConfig, seeds: list[int]) -> list[dict[str, Any]]:
    """Train ``delay`` and ``plain`` per seed; one row per (kind, seed, pruning fraction)."""
    rows = []
    for seed in seeds:
        data = load_motion(cfg, seed)
        torch.manual_seed(seed)
        nets = build_matched(data[0].shape[-1], cfg.num_classes, cfg.hidden, cfg.K, cfg.beta)
        for kind in ("delay", "plain"):
            net, model = nets[kind]
            res = train_and_test(model, data, cfg.train, per_step=False, seed=seed)
            for p in cfg.prune:
                acc = accuracy(prune_first_layer(model, p), data[2], data[3], per_step=False)
                rows.append({"label": cfg.label, "kind": kind, "seed": seed, "hidden": net.hidden,
                             "params": count_params(model), "prune": p, "test_accuracy": acc,
                             "seconds": res["seconds"]})
    return rows


def main(argv: list[str] | None = None) -> None:
    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(prog="python -m spikeforge.tasks.delays.motion", description=__doc__.splitlines()[0])
    ap.add_argument("--config", help="YAML file of MotionConfig fields (e.g. configs/delays_motion.yaml); "
                    "not with --label, --classes or --crossing")
    ap.add_argument("--label", choices=("direction", "speed"), default=None, help="default: direction")
    ap.add_argument("--classes", type=int, default=None, help="default: 8 directions or 4 speeds")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--crossing", action="store_true",
                    help="shapes cross the whole sensor (300-450 px/s) and ON/OFF are summed, so neither the "
                         "event-count map nor one frame's polarity shows the direction")
    ap.add_argument("--json", help="write all rows to this file")
    args = ap.parse_args(argv)
    if args.config is not None:
        if args.label is not None or args.classes is not None or args.crossing:
            ap.error("--config sets label, num_classes and the crossing keys itself; drop --label/--classes/--crossing")
        from ...config import ConfigError

        try:
            cfg = load_task_config(args.config, MotionConfig)
        except ConfigError as e:
            ap.error(str(e))
        if cfg.label not in ("direction", "speed"):
            ap.error(f"{args.config}: label must be 'direction' or 'speed', got {cfg.label!r}")
    else:
        label = args.label or "direction"
        cfg = MotionConfig(label=label, num_classes=args.classes or (8 if label == "direction" else 4))
    if args.crossing:
        cfg = replace(cfg, speed_range=(300.0, 450.0), merge_polarity=True)
    if args.epochs is not None:
        cfg = replace(cfg, train=replace(cfg.train, epochs=args.epochs))
    rows = run_motion(cfg, list(range(args.seeds)))
    what = f"{cfg.label} ({cfg.num_classes} classes{', crossing' if args.crossing else ''})"
    print(f"| {what} | params | " + " | ".join(
        f"pruned {round(100 * p)} %" for p in cfg.prune) + " | train s/run |")
    print("|---|---|" + "---|" * len(cfg.prune) + "---|")
    for kind in ("delay", "plain"):
        mine = [r for r in rows if r["kind"] == kind]
        cells = []
        for p in cfg.prune:
            acc = [r["test_accuracy"] for r in mine if r["prune"] == p]
            sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
            cells.append(f"{100 * statistics.fmean(acc):.1f} ± {100 * sd:.1f}")
        sec = statistics.fmean(r["seconds"] for r in mine)
        print(f"| {kind} | {mine[0]['params']} | " + " | ".join(cells) + f" | {sec:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": asdict(cfg), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
