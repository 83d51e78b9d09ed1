"""Measure the staged recipes on sklearn digits (MLP 64-128-10, LIF, direct input).

``OMP_NUM_THREADS=1 python tools/staged_digits.py iir``     IIR T = 5 → 1 vs training at T = 1 from scratch
``OMP_NUM_THREADS=1 python tools/staged_digits.py bridge``  ANN-twin pretraining + fine-tuning vs SNN from scratch
Prints markdown tables (test accuracy, 397 test images).
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

from spikeforge.config import TrainConfig
from spikeforge.recipes import run_recipe

BASE = {"data": "digits", "hidden": (128,), "lr": 5e-3, "progress": False, "seed": 0}


def _run(out: Path, **kw: object) -> dict:
    cfg = TrainConfig.from_dict({**BASE, "out_dir": str(out), **kw})
    rep = run_recipe(cfg, resume=False, plots=False)
    recipe = out / "recipe.json"
    stages = json.loads(recipe.read_text())["stages"] if recipe.is_file() else []
    return {"final": rep.test_accuracy, "stages": stages}


def iir(tmp: Path, epochs: int = 4) -> None:
    steps = [5, 4, 3, 2, 1]
    staged = _run(tmp / "iir", iir_steps=steps, epochs=epochs)
    print("| recipe | epochs | " + " | ".join(f"T={t}" for t in steps) + " |")
    print("|---|---|" + "---|" * len(steps))
    accs = {s["steps"]: s["test_accuracy"] for s in staged["stages"]}
    print(f"| IIR 5→1 | {epochs} per stage | " + " | ".join(f"{100 * accs[t]:.1f}" for t in steps) + " |")
    row = []
    for t in steps:
        row.append(_run(tmp / f"direct{t}", steps=t, epochs=epochs * len(steps))["final"])
    print(f"| from scratch at each T | {epochs * len(steps)} | " + " | ".join(f"{100 * a:.1f}" for a in row) + " |")


def bridge(tmp: Path, pre: int = 10, fine: int = 2, steps: int = 4) -> None:
    b = _run(tmp / "bridge", pretrain_epochs=pre, epochs=fine, steps=steps)
    ann = b["stages"][0]
    s_fine = _run(tmp / "scratch_fine", epochs=fine, steps=steps)["final"]
    s_long = _run(tmp / "scratch_long", epochs=pre + fine, steps=steps)["final"]
    print(f"| T = {steps} | test accuracy |\n|---|---|")
    print(f"| ANN twin after {pre} epochs (exact spikes) | {100 * ann['ann_test_accuracy']:.1f} |")
    print(f"| SNN with the twin's weights, no spiking training | {100 * ann['snn_test_accuracy']:.1f} |")
    print(f"| + {fine} SNN epochs (bridge) | {100 * b['final']:.1f} |")
    print(f"| SNN from scratch, {fine} epochs | {100 * s_fine:.1f} |")
    print(f"| SNN from scratch, {pre + fine} epochs | {100 * s_long:.1f} |")


if __name__ == "__main__":
    torch.set_num_threads(1)
    what = sys.argv[1] if len(sys.argv) > 1 else "iir"
    with tempfile.TemporaryDirectory() as d:
        jobs: dict[str, Callable[[Path], None]] = {"iir": iir, "bridge": bridge}
        jobs[what](Path(d))
