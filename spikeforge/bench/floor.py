"""How close the fused LIF layer runs to the memory-traffic floor (issue 17).

The timed unit is the LIF scenario's step (``spikeforge.bench.scenarios``): forward + backward of
one LIF layer with ``loss = spikes.sum()``. Per element of the ``[T, B, N]`` input it must move at
least

    forward:   read x (4 B), write the spikes z (4 B)
    loss:      read z (4 B)                        (its gradient is a broadcast scalar: no traffic)
    backward:  read x again (4 B), write grad x (4 B)

so ``bytes = 20 * T * B * N`` in float32 (:data:`FLOOR_BYTES`; the ``[B, N]`` state, read and
written once, is left out). The floor is those bytes divided by the copy bandwidth of this
machine, *measured in the same process at the same size*: ``dst.copy_(x)`` into a preallocated
``dst`` moves ``8 * T * B * N`` bytes (read + write), so

    floor = 20 n / (8 n / t_copy) = 2.5 t_copy,      ratio = t_step / floor.

Measuring the copy at the step's own size puts cache effects on both sides (``[100, 32, 512]``,
6.5 MB per tensor, stays in a 32 MB L3; ``[100, 128, 2048]`` does not), and interleaving step and
copy repetitions in one process exposes both to the same load. Each size runs in a fresh process
(``python -m spikeforge.bench.floor '<json>'``) with the load record of
:func:`~spikeforge.bench.harness.contention` around it. Ratios are given from medians of wall time
(the number the target refers to), from the fastest repetition of each (less sensitive to being
descheduled on a shared machine), and from process CPU time.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

__all__ = ["FLOOR_BYTES", "FLOOR_TARGET", "floor_case", "run_floor_case", "floor_ratios", "floor_table"]

FLOOR_BYTES = 20  # bytes per element the step must move in float32 (see the module docstring)
COPY_BYTES = 8  # bytes per element a copy moves (read + write)
FLOOR_TARGET = 1.3  # issue 17: at most 1.3x the floor at every size


def floor_ratios(step: list[float], copy: list[float]) -> dict[str, float]:
    """Floor and ratios from interleaved step and copy timings (seconds) of one size.

    ``floor = FLOOR_BYTES / COPY_BYTES * t_copy``; ``ratio`` from medians, ``ratio_min`` from the
    fastest repetition of each."""
    if not step or not copy:
        raise ValueError("floor_ratios needs at least one step and one copy timing")
    k = FLOOR_BYTES / COPY_BYTES
    floor = k * statistics.median(copy)
    return {"floor": floor, "ratio": statistics.median(step) / floor, "ratio_min": min(step) / (k * min(copy))}


def floor_case(shape: tuple[int, int, int], reps: int = 9, warmup: int = 2) -> dict[str, Any]:
    """Time the LIF step and a same-size copy, interleaved, in this process (see the module docstring)."""
    from .peers import lif_layer
    from .scenarios import lif_input

    T, B, N = shape
    layer = lif_layer("spikeforge")
    xs = lif_input(T, B, N)  # [T, B, N]
    dst = torch.empty_like(xs)

    def step() -> None:
        x = xs.detach().requires_grad_()
        layer(x).sum().backward()

    def copy() -> None:
        dst.copy_(xs)

    for _ in range(warmup):
        step()
        copy()
    wall: dict[str, list[float]] = {"step": [], "copy": []}
    cpu: dict[str, list[float]] = {"step": [], "copy": []}
    for _ in range(reps):
        for name, fn in (("step", step), ("copy", copy)):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    n = xs.numel()
    out: dict[str, Any] = {"shape": list(shape), "bytes": FLOOR_BYTES * n, "threads": torch.get_num_threads(),
                           "step": wall["step"], "copy": wall["copy"],
                           "bandwidth": COPY_BYTES * n / statistics.median(wall["copy"])}
    out.update(floor_ratios(wall["step"], wall["copy"]))
    out["ratio_cpu"] = floor_ratios(cpu["step"], cpu["copy"])["ratio"]
    return out


def run_floor_case(shape: tuple[int, int, int], reps: int = 9, warmup: int = 2,
                   timeout: float = 900.0) -> dict[str, Any]:
    """:func:`floor_case` in a fresh subprocess, with the contention record around it."""
    from .harness import measure_contention

    spec = json.dumps({"shape": list(shape), "reps": reps, "warmup": warmup})
    cmd = [sys.executable, "-m", "spikeforge.bench.floor", spec]
    try:
        proc, load = measure_contention(lambda: subprocess.run(cmd, capture_output=True, text=True,
                                                               timeout=timeout))
    except subprocess.TimeoutExpired:
        return {"shape": list(shape), "error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"shape": list(shape), "error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    out: dict[str, Any] = json.loads(lines[-1])
    out.update(load)
    return out


def floor_table(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table of :func:`run_floor_case` results."""
    from .report import _load

    out = ["| shape [T, B, N] | bytes moved | copy bandwidth (same process) | floor | step median "
           f"| **× floor** (medians) | × floor (fastest of each) | × floor (CPU time) | ≤ {FLOOR_TARGET}× | load |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        shp = "[" + ", ".join(str(s) for s in r["shape"]) + "]"
        if "ratio" not in r:
            out.append(f"| {shp} | not measured: {r.get('error', '?')} | | | | | | | | |")
            continue
        ok = "yes" if r["ratio"] <= FLOOR_TARGET else "no"
        out.append(f"| {shp} | {r['bytes'] / 1e6:.0f} MB | {r['bandwidth'] / 1e9:.1f} GB/s | {r['floor'] * 1e3:.2f} ms "
                   f"| {statistics.median(r['step']) * 1e3:.2f} ms | **{r['ratio']:.2f}×** | {r['ratio_min']:.2f}× "
                   f"| {r['ratio_cpu']:.2f}× | {ok} | {_load(r)} |")
    return out


if __name__ == "__main__":
    _spec = json.loads(sys.argv[1])
    print(json.dumps(floor_case(tuple(_spec["shape"]), reps=int(_spec.get("reps", 9)),
                                warmup=int(_spec.get("warmup", 2)))))
