"""Run sweep cells: in this process, in local worker processes, or as Ray tasks.

A cell is an ordinary training run (:func:`spikeforge.experiment.run_training`) in its own
directory; it resumes from its checkpoint, so an executor needs no state of its own. A cell whose
``report.json`` holds the same experiment is finished and is not run again.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from ..config import TrainConfig

__all__ = ["run_cell", "finished_report", "EXECUTORS", "serial_executor", "local_executor", "ray_executor"]

Executor = Callable[[list[dict[str, Any]], int], Iterator[dict[str, Any]]]


def finished_report(cfg: TrainConfig) -> dict[str, Any] | None:
    """The cell's ``report.json`` if it exists and was written by this experiment, else ``None``."""
    path = Path(cfg.out_dir) / "report.json"
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text())
        saved = TrainConfig.from_dict(report["config"]).to_dict()  # raises on a foreign report
    except (ValueError, KeyError, TypeError):
        return None
    return None if cfg.differing_keys(saved, TrainConfig.LOCATION_KEYS) else dict(report)


def run_cell(config: dict[str, Any], threads: int = 1) -> dict[str, Any]:
    """Train one cell (resuming its checkpoint) and return its report with ``params``, or
    ``{"error": ...}`` if it failed. Runs in a worker process; takes and returns plain data."""
    import torch

    torch.set_num_threads(max(1, threads))
    cfg = TrainConfig.from_dict(config)
    try:
        done = finished_report(cfg)
        if done is not None:
            return {**done, "skipped": True}
        from ..experiment import run_training
        from ..models import build_model

        report = run_training(cfg, resume=True, plots=False).to_dict()
        report["params"] = sum(p.numel() for p in build_model(cfg).parameters())
        Path(cfg.out_dir, "report.json").write_text(json.dumps(report, indent=2))
        return {**report, "skipped": False}
    except Exception as e:  # a failed cell is reported; the sweep goes on
        return {"config": config, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def serial_executor(configs: list[dict[str, Any]], workers: int) -> Iterator[dict[str, Any]]:
    """Cells one after another in this process, with its current torch thread count (``workers``
    is ignored)."""
    import torch

    for c in configs:
        yield run_cell(c, threads=torch.get_num_threads())


def local_executor(configs: list[dict[str, Any]], workers: int) -> Iterator[dict[str, Any]]:
    """Cells in ``workers`` spawned processes, yielded as they finish (each worker gets
    ``cpu_count // workers`` torch threads)."""
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        pending: set[Future[dict[str, Any]]] = {pool.submit(run_cell, c, threads) for c in configs}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                yield f.result()


def ray_executor(configs: list[dict[str, Any]], workers: int) -> Iterator[dict[str, Any]]:
    """Cells as Ray tasks. Connects to the cluster in ``RAY_ADDRESS`` if set, else starts a local
    Ray instance with ``workers`` CPUs. Every node needs spikeforge installed and the cells'
    ``out_dir`` (and the data) on a shared file system."""
    try:
        import ray
    except ImportError:
        raise ImportError("--executor ray needs Ray: pip install 'ray>=2.40'") from None
    started = not ray.is_initialized()
    if started:
        if os.environ.get("RAY_ADDRESS"):
            ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(run_cell)
        pending = [task.remote(c, 1) for c in configs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                yield ray.get(r)
    finally:
        if started:
            ray.shutdown()


EXECUTORS: dict[str, Executor] = {"serial": serial_executor, "local": local_executor, "ray": ray_executor}

