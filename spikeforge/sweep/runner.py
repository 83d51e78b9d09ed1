"""``run_sweep``: enumerate the cells, hand the unfinished ones to an executor, merge the reports."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .executors import EXECUTORS, finished_report
from .report import not_applicable_row, result_row, write_report, write_results_csv
from .spec import SweepSpec

__all__ = ["run_sweep", "SweepResult"]


@dataclass
class SweepResult:
    rows: list[dict[str, Any]]  # one per cell, in the sweep's cell order
    report: Path
    results_csv: Path
    plots: list[Path]
    skipped: int  # cells already finished before this call
    wall_seconds: float

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("status") not in ("ok", "n/a")]


def run_sweep(spec: SweepSpec, *, executor: str = "local", workers: int = 1, plots: bool = True,
              log: Any = print, nproc: int | None = None) -> SweepResult:
    """Run every unfinished cell of ``spec`` and write ``report.md``, ``results.csv`` and plots to
    ``spec.out_dir``. Finished cells (a ``report.json`` of the same experiment) are kept; an
    interrupted cell resumes from its checkpoint. Failed cells are reported, not raised.
    ``nproc`` (default: the sweep file's ``nproc``) trains each cell in that many data-parallel
    processes (``spikeforge train --nproc``)."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    nproc = spec.nproc if nproc is None else nproc
    if nproc < 1:
        raise ValueError(f"nproc per cell must be >= 1, got {nproc}")
    t0 = time.perf_counter()
    cells = spec.cells()
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    reports: dict[str, dict[str, Any]] = {}
    todo = []
    for c in cells:
        if c.runs_as is not None:  # a surrogate-free neuron's other surrogate cells: not run
            continue
        done = finished_report(c.config)
        if done is not None:
            reports[c.id] = done
        else:
            todo.append(c)
    skipped = len(reports)
    if log:
        na = sum(c.runs_as is not None for c in cells)
        log(f"spikeforge sweep {spec.name}: {len(cells)} cells"
            + (f" ({na} not applicable: surrogate-free neurons run once)" if na else "")
            + f", {skipped} already finished, "
            f"{len(todo)} to run ({executor}, {workers} worker{'s' * (workers > 1)}"
            + (f", {nproc} processes per cell)" if nproc > 1 else ")"))
    by_dir = {str(Path(c.config.out_dir)): c for c in todo}
    for i, rep in enumerate(EXECUTORS[executor]([c.config.to_dict() for c in todo], workers, nproc), start=1):
        cell = by_dir[str(Path(rep["config"]["out_dir"]))]
        reports[cell.id] = rep
        if log:
            status = (f"failed: {rep['error']}" if "error" in rep
                      else f"test accuracy {rep['test_accuracy'] * 100:.2f} %")
            log(f"  [{i}/{len(todo)}] {cell.id}: {status}")
    rows = [result_row(c.values, c.id, reports[c.id]) if c.runs_as is None
            else not_applicable_row(c.values, c.id, c.config.neuron, c.runs_as) for c in cells]
    wall = time.perf_counter() - t0
    csv_path = write_results_csv(rows, spec.out_dir / "results.csv")
    written = write_report(spec.name, spec.axes, rows, spec.out_dir, metric=spec.metric, pivots=spec.pivots,
                           wall_seconds=wall, plots=plots)
    (spec.out_dir / "sweep.json").write_text(json.dumps(
        {"name": spec.name, "fixed": spec.fixed, "axes": spec.axes, "cells": [c.id for c in cells],
         "executor": executor, "workers": workers, "wall_seconds": wall}, indent=2, default=str))
    return SweepResult(rows, written[0], csv_path, written[1:], skipped, wall)
