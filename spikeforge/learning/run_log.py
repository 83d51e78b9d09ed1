"""Per-epoch training logs: a CSV file, and TensorBoard event files when asked for.

:class:`RunLog` is the ``on_epoch_end`` callback of :func:`~spikeforge.learning.fit`: after each
epoch it rewrites ``history.csv`` from the whole history (so a resumed run's file holds every
epoch once) and, with ``tensorboard=True``, adds the epoch's scalars under ``train/<key>`` at step
``epoch`` to event files in ``<folder>/tensorboard`` (``tensorboard --logdir <folder>``).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

__all__ = ["RunLog", "write_history_csv"]


def write_history_csv(history: list[dict[str, float]], path: str | os.PathLike[str]) -> Path:
    """One row per epoch, one column per key (in order of first appearance; blank where absent)."""
    path = Path(path)
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        for row in history:
            writer.writerow({k: repr(float(v)) for k, v in row.items()})
    os.replace(tmp, path)
    return path


class RunLog:
    """Training log of one run in ``folder``.

    Args:
        folder: Where ``history.csv`` (and ``tensorboard/``) go.
        tensorboard: Also write TensorBoard event files; needs the ``tensorboard`` package
            (``ImportError`` with the install command otherwise, raised here, before training).
    """

    def __init__(self, folder: str | os.PathLike[str], *, tensorboard: bool = False) -> None:
        self.folder = Path(folder)
        self.csv_path = self.folder / "history.csv"
        self.tensorboard_dir: Path | None = None
        self._writer: Any = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise ImportError("log=tensorboard needs the tensorboard package: pip install tensorboard "
                                  f"({e})") from None
            self.tensorboard_dir = self.folder / "tensorboard"
            self._writer = SummaryWriter(log_dir=str(self.tensorboard_dir))

    def __call__(self, row: dict[str, float], history: list[dict[str, float]]) -> None:
        """Record one finished epoch (``row``, the last entry of ``history``)."""
        write_history_csv(history, self.csv_path)
        if self._writer is not None:
            step = int(row["epoch"])
            for key, value in row.items():
                if key != "epoch":
                    self._writer.add_scalar(f"train/{key}", float(value), global_step=step)
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the TensorBoard writer (the CSV is complete after every epoch)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
