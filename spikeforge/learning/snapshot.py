"""Checkpoints that resume training exactly and are safe to load.

A checkpoint is a ``torch.save`` file holding only tensors and plain Python containers/numbers/
strings, so it loads with ``torch.load(weights_only=True)`` (no unpickling of arbitrary
objects). It carries the model and optimizer/scheduler state, the RNG states, the epoch, the
run's configuration and its history; a checkpoint written inside an epoch (``fit``'s
``checkpoint_every_steps``) also holds ``step``, the steps taken in that epoch, and ``partial``,
the epoch's running loss/accuracy sums.

Integrity: the file stores a SHA-256 digest of its own content (every tensor's dtype, shape and
bytes, and every key and plain value, in order; see :func:`payload_digest`), and
:func:`load_checkpoint` recomputes it, so a file damaged after saving (a flipped byte in a weight
or in the optimizer state) raises :class:`CheckpointError` instead of resuming with silently
changed values. Saving writes ``<name>.tmp``, syncs it to disk (``fsync``) and renames it over
the destination, so a kill during saving leaves the previous checkpoint intact (and a stale
``.tmp``, which :func:`remove_stale_tmp` deletes). Version-1 files (written before the digest
existed) still load, unverified.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["save_checkpoint", "load_checkpoint", "load_model", "get_rng_state", "set_rng_state",
           "CheckpointError", "payload_digest", "remove_stale_tmp"]

FORMAT = "spikeforge-checkpoint"
VERSION = 2  # 2: with a "sha256" content digest; 1: without (still loads)
_SUPPORTED = (1, 2)


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


def payload_digest(payload: dict[str, Any]) -> str:
    """SHA-256 over a checkpoint's content, independent of how ``torch.save`` lays out the file.

    Covers every key (in order) and value except ``"sha256"`` itself: tensors by dtype, shape and
    raw bytes; ``int``/``float``/``str``/``bool``/``None`` by ``repr`` (exact for floats); lists
    and tuples alike, element by element.
    """
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != "sha256"})
    return h.hexdigest()


def _feed(h: Any, x: Any) -> None:
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu().contiguous().reshape(-1)  # [*S] -> [N] (0-dim tensors too)
        h.update(f"T{x.dtype}{tuple(x.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    elif isinstance(x, dict):
        h.update(f"D{len(x)}".encode())
        for k, v in x.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(x, (list, tuple)):
        h.update(f"L{len(x)}".encode())
        for v in x:
            _feed(h, v)
    elif x is None or isinstance(x, (bool, int, float, str)):
        h.update(f"S{type(x).__name__}:{x!r};".encode())
    elif isinstance(x, bytes):
        h.update(f"B{len(x)}:".encode() + x)
    else:
        raise TypeError(f"checkpoint values must be tensors or plain data, got {type(x).__name__}")


def _tmp_path(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def remove_stale_tmp(path: str | os.PathLike[str]) -> Path | None:
    """Delete ``<path>.tmp`` left by a process killed while saving ``path``; returns it if removed.

    Call it only when no other process is saving to ``path`` (e.g. when a run starts).
    """
    tmp = _tmp_path(Path(path))
    if tmp.is_file():
        tmp.unlink()
        return tmp
    return None


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    model: nn.Module,
    epoch: int,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    config: dict[str, Any] | None = None,
    history: list[dict[str, float]] | None = None,
    sampler: dict[str, int] | None = None,
    step: int = 0,
    partial: dict[str, float] | None = None,
    rng_ranks: list[dict[str, Any]] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file, ``fsync``, rename) so a crash never leaves a torn
    file, with a content digest that :func:`load_checkpoint` verifies.

    Args:
        path: Destination file.
        model: Model whose ``state_dict`` is saved.
        epoch: Number of completed epochs.
        optimizer, scheduler: Saved when given, to resume exactly.
        config: Plain-data configuration needed to rebuild the model (see :func:`load_model`).
        history: Per-epoch metrics so far.
        sampler: The training sampler's resumable state (stored as ``"sampler"`` when given, e.g.
            :meth:`~spikeforge.learning.distributed.ShardedBatchSampler.state_dict`).
        step: Optimizer steps already taken in epoch ``epoch + 1`` (0: the checkpoint is at an
            epoch boundary); stored as ``"step"`` when > 0, with ``partial``.
        partial: The unfinished epoch's running sums (``loss_sum``, ``correct``, ``n``,
            ``seconds``), so its history row comes out as in an uninterrupted run.
        rng_ranks: With several processes, every rank's RNG states (:func:`get_rng_state`, in
            rank order; ``"rng"`` is this process's), so each rank resumes its own stream.
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
    if sampler is not None:
        payload["sampler"] = dict(sampler)
    if rng_ranks is not None:
        payload["rng_ranks"] = list(rng_ranks)
    if step < 0:
        raise ValueError(f"step must be >= 0 (optimizer steps taken in the current epoch), got {step}")
    if step > 0:
        payload["step"] = int(step)
        payload["partial"] = {k: float(v) for k, v in (partial or {}).items()}
    payload["sha256"] = payload_digest(payload)
    tmp = _tmp_path(path)
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())  # the data is on disk before the rename makes it the checkpoint
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    """Persist a rename in ``folder`` (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's archive (the only layout save_checkpoint writes)
_PICKLE_PROTO = 0x80  # a pickle's first byte: torch's legacy (pre-1.6) layout, or a plain pickle
# the legacy layout starts with torch's magic number pickled at protocol 2 (torch.serialization.MAGIC_NUMBER)
_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_HEAD = 64


def _not_a_torch_file(head: bytes) -> str | None:
    """What a file is instead of a ``torch.save`` file, judged from its first bytes; ``None`` if it
    may be one (a zip archive, or a pickle, which torch's legacy layout is)."""
    if not head:
        return "the file is empty"
    if head.startswith(_ZIP_MAGIC) or head[0] == _PICKLE_PROTO:
        return None
    if head.startswith(_HDF5_MAGIC):
        return "it is an HDF5 file (a NIR graph or an event file?), not a torch archive"
    text = head.decode("utf-8", errors="ignore")  # ignore: the head may cut a character in two
    if len(text.encode()) < len(head) - 3 or not all(c.isprintable() or c in "\t\r\n" for c in text):
        return f"it is not a torch archive (it starts with the bytes {head[:8]!r})"
    first = text.splitlines()[0] if text.strip() else text
    return f"it is a text file (it starts {first[:40]!r}), not a torch archive"


def _refusal(path: Path, head: bytes, e: Exception) -> CheckpointError:
    """The one-line error for a file ``torch.load(weights_only=True)`` failed on: why, without
    torch's advice to load it unsafely (``weights_only=False``) or to allowlist its classes."""
    name = str(path)
    text = str(e)
    if isinstance(e, pickle.UnpicklingError) and "Weights only load failed" in text:
        found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\s+was not an allowed global|\.\s|\n|$)", text)
        why = f" ({found.group(1).strip()})" if found and found.group(1).strip() else ""
        if head.startswith(_ZIP_MAGIC) or head.startswith(_LEGACY_MAGIC):
            return CheckpointError(
                f"checkpoint {name!r} is not loadable safely: a safe load (weights_only) refuses its content{why}: "
                "it holds objects other than tensors and plain data, which no spikeforge checkpoint does, or it is "
                "damaged; it was not loaded")
        return CheckpointError(f"{name!r} is not a spikeforge checkpoint: it is a Python pickle, not a torch archive")
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except Exception:  # BadZipFile, OSError, UnicodeDecodeError for a damaged name, ...
            names = None  # unreadable as a zip: truncated or damaged
        if names is not None and not any(n.endswith("data.pkl") for n in names):
            return CheckpointError(f"{name!r} is not a spikeforge checkpoint: it is a zip archive without torch's "
                                   f"data.pkl (e.g. a NumPy .npz), not a torch archive")
    elif not head.startswith(_LEGACY_MAGIC):
        return CheckpointError(f"{name!r} is not a spikeforge checkpoint: it is a Python pickle, not a torch archive")
    first = text.split(". ")[0].splitlines()[0] if text.strip() else type(e).__name__
    return CheckpointError(f"checkpoint {name!r} is corrupt or not loadable: the torch archive is truncated or "
                           f"damaged ({first})")


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` and verify its digest; raises
    :class:`CheckpointError` (one line naming the file) if it is missing, not a torch archive
    (text, HDF5, a plain pickle: refused from its first bytes, before any unpickling), torn,
    foreign, unsafe (objects ``weights_only`` refuses) or damaged."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    with open(path, "rb") as f:
        head = f.read(_HEAD)
    instead = _not_a_torch_file(head)
    if instead is not None:
        raise CheckpointError(f"{str(path)!r} is not a spikeforge checkpoint: {instead}")
    try:
        with warnings.catch_warnings():  # torch warns about a pickle protocol it may not read: the error says it
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for torn/foreign files
        raise _refusal(path, head, e) from None  # torch's message advises an unsafe load: not chained
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a spikeforge checkpoint (missing format tag)")
    if payload.get("version") not in _SUPPORTED:
        raise CheckpointError(f"checkpoint version {payload.get('version')!r} is not supported "
                              f"(expected one of {_SUPPORTED})")
    if payload["version"] >= 2:
        stored = payload.get("sha256")
        try:
            actual = payload_digest(payload)
        except TypeError as e:
            raise CheckpointError(f"checkpoint {str(path)!r} holds unexpected content: {e}") from e
        if stored != actual:
            raise CheckpointError(
                f"checkpoint {str(path)!r} failed its integrity check (stored sha256 {str(stored)[:16]}..., "
                f"content {actual[:16]}...): the file was changed or damaged after it was saved"
            )
    return payload


def load_model(path: str | os.PathLike[str]) -> nn.Module:
    """Rebuild the model saved by ``spikeforge train`` from its checkpoint (in eval mode)."""
    from ..config import TrainConfig  # local: config sits above learning
    from ..models import build_model

    payload = load_checkpoint(path)
    cfg = TrainConfig.from_saved(payload["config"])
    model = build_model(cfg)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint {str(path)!r} does not match its own model config: {e}") from e
    return model.eval()
