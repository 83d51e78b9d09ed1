"""``fit`` / ``evaluate``: a plain training loop with progress bars and exact resume."""

from __future__ import annotations

import math
import os
import random
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..numerics import NonFiniteError, check_finite
from .distributed import DistEnv, all_gather_object, all_sum, broadcast_object, broadcast_parameters, sync_gradients
from .modes import TrainingMode, get_training_mode
from .snapshot import get_rng_state, load_checkpoint, remove_stale_tmp, save_checkpoint, set_rng_state

__all__ = ["seed_everything", "fit", "evaluate", "FitResult"]

LossFn = Callable[[Tensor, Tensor], Tensor]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class FitResult:
    """What :func:`fit` did: per-epoch history and where the last checkpoint is."""

    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: Path | None = None
    resumed_from_epoch: int = 0
    resumed_from_step: int = 0  # > 0: resumed inside epoch resumed_from_epoch + 1, after this many steps


def _unpack(batch: Any) -> tuple[Tensor, Tensor]:
    """``(x, y)`` or ``(xs, y, lengths)`` (padded temporal batches) → ``(x, y)``."""
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise ValueError("a batch must be (inputs, targets) or (inputs, targets, lengths)")
    return batch[0], batch[1]


def _nan_guard(out: Any, loss: Tensor, epoch: int, seen: int) -> None:
    """Stop training on a non-finite model output (unless allowed, see :mod:`spikeforge.numerics`)
    or loss (always: a NaN loss would turn every weight into NaN at the next step)."""
    where = f"fit, epoch {epoch + 1}, batch after {seen} samples"
    if isinstance(out, Tensor):
        check_finite(out, where, "model output [T, B, ...]")
    if not bool(torch.isfinite(loss.detach()).all()):
        raise NonFiniteError(f"{where}: non-finite loss {loss.detach().flatten()[:4].tolist()}; check loss_fn, "
                             "regularizer and targets (and the model output), or lower the learning rate")


def _length(data: Iterable[Any]) -> int | None:
    """Batches per epoch, if the iterable knows it."""
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return None


def _check_every(every: int, checkpoint: object, sampler: Any) -> int:
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ValueError(f"checkpoint_every_steps must be an int >= 0 (0: only after each epoch), got {every!r}")
    if every and checkpoint is None:
        raise ValueError("checkpoint_every_steps needs a checkpoint path")
    if every and not callable(getattr(sampler, "state_dict", None)):
        raise ValueError("checkpoint_every_steps needs a resumable batch sampler (sampler=, e.g. a "
                         "ShardedBatchSampler) so that a resumed run can skip the batches already taken")
    return every


def _own_rng(payload: dict[str, Any], env: DistEnv | None) -> dict[str, Any]:
    """This rank's RNG states from a checkpoint: its own when the checkpoint holds every rank's
    (``rng_ranks``, written by the same number of processes), else the saving rank's."""
    ranks = payload.get("rng_ranks")
    if env is not None and isinstance(ranks, list) and len(ranks) == env.world_size:
        return dict(ranks[env.rank])
    return dict(payload["rng"])


def _mid_epoch_plan(payload: dict[str, Any], sampler: Any, path: Path | None) -> dict[str, Any]:
    """Where to continue a checkpoint written inside an epoch (see ``fit``'s ``checkpoint_every_steps``)."""
    if sampler is None or not callable(getattr(sampler, "load_state_dict", None)) or "sampler" not in payload:
        raise ValueError(f"{path} was written inside epoch {int(payload['epoch']) + 1} (after step "
                         f"{payload['step']}); resuming it needs the resumable batch sampler (fit(sampler=...))")
    return {"step": int(payload["step"]), "sampler": payload["sampler"], "rng": payload["rng"],
            "partial": payload["partial"]}


def evaluate(
    model: nn.Module,
    data: Iterable[Any],
    *,
    loss_fn: LossFn | None = None,
    predict: Callable[[Tensor], Tensor] | None = None,
    progress: bool = False,
) -> dict[str, float]:
    """Accuracy (and mean loss if ``loss_fn``) of ``model`` over ``data``.

    ``model(x)`` must return time-major outputs ``[T, B, C]``; the predicted class is the argmax
    of the time-mean unless ``predict(out) -> [B]`` is given.
    """
    was_training = model.training
    model.eval()
    correct, n, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for batch in tqdm(data, desc="eval", leave=False, disable=not progress):
            x, y = _unpack(batch)
            out = model(x)  # [T, B, C]
            pred = predict(out) if predict is not None else out.mean(0).argmax(-1)
            correct += int((pred == y).sum())
            n += int(y.shape[0])
            if loss_fn is not None:
                loss_sum += float(loss_fn(out, y)) * int(y.shape[0])
    model.train(was_training)
    if n == 0:
        raise ValueError("evaluate() got no samples")
    result = {"accuracy": correct / n, "samples": float(n)}
    if loss_fn is not None:
        result["loss"] = loss_sum / n
    return result


def fit(
    model: nn.Module,
    train_data: Iterable[Any],
    *,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    scheduler: Any = None,
    val_data: Iterable[Any] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    config: dict[str, Any] | None = None,
    regularizer: Callable[[nn.Module, Tensor], Tensor] | None = None,
    grad_clip: float | None = None,
    progress: bool = True,
    set_epoch: Callable[[int], None] | None = None,
    on_epoch_end: Callable[[dict[str, float], list[dict[str, float]]], None] | None = None,
    mode: str | TrainingMode = "bptt",
    distributed: DistEnv | None = None,
    sampler: Any = None,
    checkpoint_every_steps: int = 0,
    scheduler_per_step: bool = False,
) -> FitResult:
    """Train for ``epochs`` epochs (BPTT or an online mode), checkpointing after every epoch
    (and every ``checkpoint_every_steps`` optimizer steps inside one).

    Args:
        model: Maps a batch's inputs to time-major outputs ``[T, B, C]``.
        train_data: Iterable of ``(x, y)`` batches (e.g. a ``DataLoader``).
        loss_fn: ``loss_fn(out [T, B, C], y [B]) -> scalar``.
        optimizer, scheduler: Standard torch objects; the scheduler steps once per epoch (after
            it), or after every optimizer step with ``scheduler_per_step`` (e.g. ``OneCycleLR``). Its
            state is in every checkpoint, the mid-epoch ones included.
        epochs: Total number of epochs (a resumed run continues up to this number).
        val_data: Evaluated after each epoch (accuracy in the history).
        checkpoint: File written after each epoch (atomically). A stale ``<checkpoint>.tmp`` left
            by a process killed while saving is deleted (with a warning) when ``fit`` starts.
        resume: Continue from ``checkpoint`` if it exists: model, optimizer, scheduler, RNG
            states and epoch are restored, so the result equals an uninterrupted run
            (``FitResult.resumed_from_epoch`` says from which epoch).
        config: Plain data stored in the checkpoint (lets :func:`load_model` rebuild the model).
        regularizer: ``regularizer(model, out) -> scalar`` added to the loss.
        grad_clip: Clip the global gradient norm to this value.
        set_epoch: Called with the epoch index before each epoch (e.g. to reseed a sampler so
            shuffling depends only on the epoch, which makes resume exact).
        on_epoch_end: Called after each epoch is checkpointed with that epoch's history row and
            the whole history so far (e.g. :class:`~spikeforge.learning.run_log.RunLog`).
        mode: How each batch's gradient is computed: a name in
            :data:`~spikeforge.learning.modes.TRAINING_MODES` (``"bptt"``, ``"sltt"``,
            ``"sltt-k"``, ``"ottt"``) or a mode object (``SLTT(k=2)``, ``OTTT(decay=0.8)``).
            Every mode uses the same loop, checkpoints and exact resume.
        distributed: This process's place in a data-parallel process group
            (:mod:`~spikeforge.learning.distributed`): parameters start from rank 0's, gradients
            are combined after every batch (weighted by each rank's sample count), the history
            holds global numbers, and only rank 0 shows progress, validates, checkpoints and calls
            ``on_epoch_end``. The checkpoint is read by rank 0 and sent to the others.
        sampler: The training sampler, if resumable (``state_dict``/``load_state_dict``); its
            state is stored in the checkpoint and restored on resume. For mid-epoch checkpoints it
            must be a batch sampler whose state's ``position`` counts the batches of the epoch
            already taken (:class:`~spikeforge.learning.distributed.ShardedBatchSampler`); fit
            stores its own step count there.
        checkpoint_every_steps: Also write ``checkpoint`` after every this many optimizer steps
            of an epoch (0: only at the end of each epoch). Such a checkpoint holds the step, the
            sampler position, the RNG states (taken after the step) and the epoch's running sums;
            resuming it skips the batches already taken and continues the epoch exactly as the
            uninterrupted run would (the same weights bit for bit in one process). Needs
            ``checkpoint`` and a resumable ``sampler``; the RNG states are restored right after
            ``iter(train_data)``, which must make its global-RNG draws when called (as a
            ``DataLoader`` does, not lazily at the first batch).
        scheduler_per_step: Step ``scheduler`` after every optimizer step instead of every epoch.

    Each history row holds ``epoch`` (1-based), ``loss``, ``train_accuracy``, ``lr`` (the first
    parameter group's learning rate during the epoch), ``seconds`` and, with ``val_data``,
    ``val_accuracy``.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    every = _check_every(checkpoint_every_steps, checkpoint, sampler)
    step_mode = get_training_mode(mode)
    result = FitResult()
    start = 0
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    main = distributed is None or distributed.is_main
    progress = progress and main
    if ckpt_path is not None and main:
        stale = remove_stale_tmp(ckpt_path)
        if stale is not None:
            warnings.warn(f"removed {stale}, a partial checkpoint left by a run killed while saving", stacklevel=2)
    mid: dict[str, Any] | None = None  # a checkpoint written inside epoch `start`: where to continue it
    if resume:
        if ckpt_path is None:
            raise ValueError("resume=True needs a checkpoint path")
        payload = load_checkpoint(ckpt_path) if main and ckpt_path.is_file() else None
        if distributed is not None:
            payload = broadcast_object(payload, distributed)
        if payload is not None:
            model.load_state_dict(payload["model"])
            if payload["optimizer"] is not None:
                optimizer.load_state_dict(payload["optimizer"])
            if scheduler is not None and payload["scheduler"] is not None:
                scheduler.load_state_dict(payload["scheduler"])
            payload["rng"] = _own_rng(payload, distributed)
            set_rng_state(payload["rng"])
            start = int(payload["epoch"])
            result.history = list(payload["history"])
            result.resumed_from_epoch = start
            if int(payload.get("step", 0)) > 0:
                mid = _mid_epoch_plan(payload, sampler, ckpt_path)
                if start >= epochs:
                    raise ValueError(f"{ckpt_path} was written inside epoch {start + 1}, past epochs={epochs}; "
                                     f"set epochs >= {start + 1}")
                result.resumed_from_step = mid["step"]
            elif sampler is not None and "sampler" in payload:
                sampler.load_state_dict(payload["sampler"])
    if distributed is not None:
        broadcast_parameters(model, distributed)
    for epoch in range(start, epochs):
        if set_epoch is not None:
            set_epoch(epoch)
        resumed = mid if epoch == start else None
        if resumed is not None:
            sampler.load_state_dict(resumed["sampler"])  # after set_epoch: skip the steps already taken
        model.train()
        lr = float(optimizer.param_groups[0]["lr"])
        t0 = time.perf_counter()
        loss_sum, correct, n, step = 0.0, 0, 0, 0
        batches = iter(train_data)  # a DataLoader draws a base seed from the global RNG here
        if resumed is not None:
            set_rng_state(resumed["rng"])  # the RNG as it was after `step` steps (that draw included)
            step, part = resumed["step"], resumed["partial"]
            if main:  # the partial sums are global: one rank carries them (all_sum adds the rest)
                loss_sum, correct, n = part["loss_sum"], int(part["correct"]), int(part["n"])
            t0 -= part["seconds"]
        total = _length(train_data)
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not progress,
                   total=total, initial=step)
        for batch in bar:
            x, y = _unpack(batch)
            optimizer.zero_grad(set_to_none=True)

            def guard(o: Any, ls: Tensor, e: int = epoch, seen: int = n) -> None:
                _nan_guard(o, ls, e, seen)

            out, loss_value = step_mode.backward(model, x, y, loss_fn, regularizer, guard)  # out: [T, B, C] detached
            if distributed is not None:
                sync_gradients(model, int(y.shape[0]), distributed)
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if scheduler is not None and scheduler_per_step:
                scheduler.step()  # before any mid-epoch checkpoint below: it stores the rate of the next step
            b = int(y.shape[0])
            loss_sum += loss_value * b
            correct += int((out.mean(0).argmax(-1) == y).sum())
            n += b
            step += 1
            bar.set_postfix(loss=f"{loss_sum / n:.4f}", acc=f"{correct / n:.3f}")
            if every and step % every == 0 and (total is None or step < total):
                sums = [loss_sum, correct, n]
                if distributed is not None:  # every rank reaches this step: the same collective on all
                    sums = all_sum(sums, distributed)
                rngs = all_gather_object(get_rng_state(), distributed) if distributed is not None else None
                if main:
                    assert ckpt_path is not None  # _check_every
                    save_checkpoint(
                        ckpt_path, model=model, epoch=epoch, optimizer=optimizer, scheduler=scheduler,
                        config=config, history=result.history, step=step, rng_ranks=rngs,
                        sampler={**sampler.state_dict(), "position": step},  # steps taken, not batches prefetched
                        partial={"loss_sum": sums[0], "correct": sums[1], "n": sums[2],
                                 "seconds": time.perf_counter() - t0})
        if scheduler is not None and not scheduler_per_step:
            scheduler.step()
        if distributed is not None:  # this rank's sums -> the global batch's
            loss_sum, correct_f, n_f = all_sum([loss_sum, correct, n], distributed)
            correct, n = int(correct_f), int(n_f)
        if n == 0:
            raise ValueError("fit() got an empty training set")
        row = {"epoch": float(epoch + 1), "loss": loss_sum / n, "train_accuracy": correct / n, "lr": lr,
               "seconds": time.perf_counter() - t0}
        if val_data is not None and main:
            row["val_accuracy"] = evaluate(model, val_data)["accuracy"]
        result.history.append(row)
        if progress:
            msg = " ".join(f"{k}={v:.4g}" for k, v in row.items() if not math.isnan(v))
            tqdm.write(msg)
        rngs = all_gather_object(get_rng_state(), distributed) if ckpt_path and distributed is not None else None
        if ckpt_path is not None and main:
            result.checkpoint = save_checkpoint(
                ckpt_path, model=model, epoch=epoch + 1, optimizer=optimizer, scheduler=scheduler, config=config,
                history=result.history, sampler=sampler.state_dict() if sampler is not None else None,
                rng_ranks=rngs)
        elif ckpt_path is not None:
            result.checkpoint = ckpt_path
        if on_epoch_end is not None and main:
            on_epoch_end(row, result.history)
    return result
