"""Checkpoints that resume training exactly and are safe to load.

A checkpoint is a ``torch.save`` file holding only tensors and plain Python containers/numbers/
strings, so it loads with ``torch.load(weights_only=True)`` (no unpickling of arbitrary
objects). It carries the model and optimizer/scheduler state, the RNG states, the epoch, the
run's configuration and its history.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["save_checkpoint", "load_checkpoint", "load_model", "get_rng_state", "set_rng_state",
           "CheckpointError"]

FORMAT = "spikeforge-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt or not a spikeforge checkpoint."""


def get_rng_state() -> dict[str, Any]:
    """Torch, NumPy and Python RNG states as safe-to-load values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": _to_lists(random.getstate()),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore RNG states saved by :func:`get_rng_state`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    random.setstate(_to_tuples(state["python"]))


def _to_lists(x: Any) -> Any:
    return [_to_lists(v) for v in x] if isinstance(x, tuple) else x


def _to_tuples(x: Any) -> Any:
    return tuple(_to_tuples(v) for v in x) if isinstance(x, list) else x


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    epoch: int,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    config: dict[str, Any] | None = None,
    history: list[dict[str, float]] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file + rename) so a crash never leaves a torn file.

    Args:
        path: Destination file.
        model: Model whose ``state_dict`` is saved.
        epoch: Number of completed epochs.
        optimizer, scheduler: Saved when given, to resume exactly.
        config: Plain-data configuration needed to rebuild the model (see :func:`load_model`).
        history: Per-epoch metrics so far.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": get_rng_state(),
        "config": dict(config or {}),
        "history": list(history or []),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``; raises :class:`CheckpointError` if unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for torn/foreign files
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or not loadable safely: {e}") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a spikeforge checkpoint (missing format tag)")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"checkpoint version {payload.get('version')!r} is not supported (expected {VERSION})")
    return payload


def load_model(path: str | os.PathLike[str]) -> nn.Module:
    """Rebuild the model saved by ``spikeforge train`` from its checkpoint (in eval mode)."""
    from ..config import TrainConfig  # local: config sits above learning
    from ..models import build_model

    payload = load_checkpoint(path)
    cfg = TrainConfig.from_dict(payload["config"])
    model = build_model(cfg)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {str(path)!r} does not match its own model config: {e}") from e
    return model.eval()
