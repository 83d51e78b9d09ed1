"""Multi-stage training recipes: ANN-twin pretraining and IIR timestep reduction.

Both are driven by :class:`~spikeforge.config.TrainConfig` keys, so ``spikeforge train`` runs them:

- ``pretrain_epochs > 0`` — **ANN-pretraining bridge** (pipe-S): train the one-step
  :class:`~spikeforge.learning.ann_twin.ANNTwin` (it shares the SNN's weights, with the
  sharpening ramp in place of the spiking neurons) for that many epochs in ``out_dir/ann``, then
  fine-tune the SNN from those weights.
- ``iir_steps = [5, 4, 3, 2, 1]`` — **IIR** (Chowdhury, Rathi & Roy 2021): train at ``T = 5``, then
  at ``T = 4`` starting from the ``T = 5`` weights, …, down to ``T = 1``; ``epochs`` per stage,
  each stage in ``out_dir/T<steps>``.

Every stage is an ordinary run (:func:`~spikeforge.experiment.run_training`, or ``fit`` for the
twin) with its own checkpoint, so a killed recipe resumes exactly: finished stages are skipped,
the interrupted one resumes from its last epoch. A stage is warm-started by writing the previous
stage's weights as an epoch-0 checkpoint of the new stage (fresh optimizer and schedule; RNG
seeded from ``seed`` and the stage index, so the restart point does not depend on when the
process was killed). ``out_dir/recipe.json`` lists each stage's test accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .config import TrainConfig
from .experiment import TrainReport, make_loaders, run_training
from .learning import LOSSES, evaluate, fit, load_checkpoint, save_checkpoint, seed_everything
from .learning.ann_twin import ANNTwin
from .models import build_model

__all__ = ["pretrain_ann_twin", "run_recipe", "stage_configs"]


def stage_configs(cfg: TrainConfig) -> list[TrainConfig]:
    """The spiking stages of ``cfg``: one per ``iir_steps`` entry (in ``out_dir/T<steps>``), or ``cfg`` itself."""
    base = cfg.replace(iir_steps=(), pretrain_epochs=0)
    if not cfg.iir_steps:
        return [base]
    return [base.replace(steps=t, out_dir=str(Path(cfg.out_dir) / f"T{t}")) for t in cfg.iir_steps]


def _finished(ckpt: Path, epochs: int) -> bool:
    return ckpt.is_file() and int(load_checkpoint(ckpt)["epoch"]) >= epochs


def _warm_start(stage: TrainConfig, weights: dict[str, torch.Tensor], index: int) -> None:
    """Write ``weights`` as the epoch-0 checkpoint of ``stage`` (unless it already has a checkpoint)."""
    ckpt = Path(stage.out_dir) / "checkpoint.pt"
    if ckpt.is_file():
        return
    seed_everything(stage.seed * 1009 + index)  # the RNG the stage starts from (saved in the checkpoint)
    model = build_model(stage)
    model.load_state_dict(weights)
    save_checkpoint(ckpt, model=model, epoch=0, config=stage.to_dict(), history=[])


def pretrain_ann_twin(cfg: TrainConfig, out_dir: str | Path, *, resume: bool = True) -> tuple[dict[str, Any], dict]:
    """Train the ANN twin of ``build_model(cfg)`` for ``cfg.pretrain_epochs`` epochs (checkpointed in
    ``out_dir``); returns the SNN's weights and ``{"ann_test_accuracy", "snn_test_accuracy"}`` (the
    SNN evaluated with those weights before any spiking training)."""
    seed_everything(cfg.seed)
    train, test, sampler = make_loaders(cfg)
    snn = build_model(cfg)
    twin = ANNTwin(snn)
    epochs = cfg.pretrain_epochs
    opt = torch.optim.Adam(twin.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    def set_epoch(e: int) -> None:
        twin.set_progress(e / max(epochs - 1, 1))
        sampler.generator.manual_seed(cfg.seed * 100_003 + e)

    fit(twin, train, loss_fn=LOSSES.get(cfg.loss), optimizer=opt, epochs=epochs,
        checkpoint=Path(out_dir) / "checkpoint.pt", resume=resume, config={"pretrain_of": cfg.to_dict()},
        progress=cfg.progress, set_epoch=set_epoch)
    twin.set_progress(1.0, sharp=True)
    scores = {"ann_test_accuracy": evaluate(twin, test)["accuracy"],
              "snn_test_accuracy": evaluate(snn, test)["accuracy"]}
    return snn.state_dict(), scores


def run_recipe(cfg: TrainConfig, *, resume: bool = True, plots: bool = True) -> TrainReport:
    """Run every stage of ``cfg`` (ANN pretraining, then the IIR stages or one SNN stage) and
    return the last stage's report; without either key this is :func:`run_training`."""
    if not cfg.iir_steps and not cfg.pretrain_epochs:
        return run_training(cfg, resume=resume, plots=plots)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary: list[dict[str, Any]] = []
    stages = stage_configs(cfg)
    weights = None
    if cfg.pretrain_epochs:
        weights, scores = pretrain_ann_twin(cfg.replace(steps=stages[0].steps), out / "ann", resume=resume)
        summary.append({"stage": "ann", "epochs": cfg.pretrain_epochs, **scores})
    report = None
    for i, stage in enumerate(stages):
        ckpt = Path(stage.out_dir) / "checkpoint.pt"
        if not resume and ckpt.is_file():
            ckpt.unlink()
        if weights is not None:
            _warm_start(stage, weights, i)
        last = i == len(stages) - 1
        if not last and _finished(ckpt, stage.epochs):  # done before a kill: only its weights are needed
            weights = load_checkpoint(ckpt)["model"]
            rep = Path(stage.out_dir) / "report.json"
            done = json.loads(rep.read_text()) if rep.is_file() else {}
            summary.append({"stage": f"T={stage.steps}", "steps": stage.steps,
                            "test_accuracy": done.get("test_accuracy"), "train_accuracy": done.get("train_accuracy")})
            continue
        report = run_training(stage, resume=True, plots=plots and last)
        weights = load_checkpoint(ckpt)["model"]
        summary.append({"stage": f"T={stage.steps}", "steps": stage.steps, "test_accuracy": report.test_accuracy,
                        "train_accuracy": report.train_accuracy})
    assert report is not None
    (out / "recipe.json").write_text(json.dumps({"config": cfg.to_dict(), "stages": summary}, indent=2))
    return report
