"""Run sweep cells: in this process, in local worker processes, or as Ray tasks.

A cell is an ordinary training run (:func:`spikeforge.experiment.run_training`) in its own
directory (with ``nproc > 1``, a ``spikeforge train --nproc`` run through the data-parallel
launcher :func:`spikeforge.learning.distributed.launch`); it resumes from its checkpoint, so an
executor needs no state of its own. A cell whose
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

Executor = Callable[..., Iterator[dict[str, Any]]]  # (configs, workers, nproc=1) -> reports


def finished_report(cfg: TrainConfig) -> dict[str, Any] | None:
    """The cell's ``report.json`` if it exists and was written by this experiment, else ``None``."""
    path = Path(cfg.out_dir) / "report.json"
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text())
        saved = TrainConfig.from_saved(report["config"]).to_dict()  # raises on a foreign report
    except (ValueError, KeyError, TypeError):
        return None
    return None if cfg.differing_keys(saved, TrainConfig.LOCATION_KEYS) else dict(report)


def run_cell(config: dict[str, Any], threads: int = 1, nproc: int = 1) -> dict[str, Any]:
    """Train one cell (resuming its checkpoint) and return its report with ``params``, or
    ``{"error": ...}`` if it failed. Runs in a worker process; takes and returns plain data.
    ``nproc > 1`` trains the cell in that many data-parallel processes (one torch thread each)."""
    import torch

    torch.set_num_threads(max(1, threads))
    cfg = TrainConfig.from_dict(config)
    try:
        done = finished_report(cfg)
        if done is not None:
            return {**done, "skipped": True}
        from ..experiment import run_training
        from ..models import build_model

        report = (_run_distributed(cfg, nproc) if nproc > 1
                  else run_training(cfg, resume=True, plots=False).to_dict())
        report["params"] = sum(p.numel() for p in build_model(cfg).parameters())
        Path(cfg.out_dir, "report.json").write_text(json.dumps(report, indent=2))
        return {**report, "skipped": False}
    except Exception as e:  # a failed cell is reported; the sweep goes on
        return {"config": config, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def _run_distributed(cfg: TrainConfig, nproc: int) -> dict[str, Any]:
    """``spikeforge train --nproc`` on the cell's config (written to ``out_dir/cell.yaml``); rank 0's report."""
    from ..learning.distributed import launch

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cell.yaml").write_text(json.dumps(cfg.to_dict(), indent=2))  # JSON is YAML
    code = launch(["train", "--config", str(out / "cell.yaml"), "--no-plots"], nproc, env={"OMP_NUM_THREADS": "1"})
    if code != 0:
        raise RuntimeError(f"spikeforge train --nproc {nproc} exited with code {code} (its errors are above)")
    return dict(json.loads((out / "report.json").read_text()))


def serial_executor(configs: list[dict[str, Any]], workers: int, nproc: int = 1) -> Iterator[dict[str, Any]]:
    """Cells one after another in this process, with its current torch thread count (``workers``
    is ignored)."""
    import torch

    for c in configs:
        yield run_cell(c, threads=torch.get_num_threads(), nproc=nproc)


def local_executor(configs: list[dict[str, Any]], workers: int, nproc: int = 1) -> Iterator[dict[str, Any]]:
    """Cells in ``workers`` spawned processes, yielded as they finish (each worker gets
    ``cpu_count // workers`` torch threads)."""
    import multiprocessing as mp

    threads = max(1, (os.cpu_count() or 1) // max(1, workers))
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        pending: set[Future[dict[str, Any]]] = {pool.submit(run_cell, c, threads, nproc) for c in configs}
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                yield f.result()


def ray_executor(configs: list[dict[str, Any]], workers: int, nproc: int = 1) -> Iterator[dict[str, Any]]:
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
        task = ray.remote(num_cpus=nproc)(run_cell)
        pending = [task.remote(c, 1, nproc) for c in configs]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                yield ray.get(r)
    finally:
        if started:
            ray.shutdown()


EXECUTORS: dict[str, Executor] = {"serial": serial_executor, "local": local_executor, "ray": ray_executor}

