"""Timing and peak-memory harness.

Every (scenario, library, config) case runs in a fresh Python subprocess, so its peak RSS
(``VmHWM``) belongs to that case alone: import, model, data, and the timed steps. Timing uses
``time.perf_counter`` around each step after warm-up and reports the median and spread of the
repetitions. Before a library is timed, the parent process checks that it produces the same spikes
as spikeforge on the scenario's fixed input; a library that differs by more than rounding-level
flips (see :data:`ROUNDING_FLIPS`) is reported, not timed.

Every case also records the machine's load around it (issue 17): the 1-minute load average at its
start and end, and the share of CPU time stolen by the hypervisor while it ran (``steal`` in
``/proc/stat``). A case is marked *contended* when either load average exceeds the number of
logical cores (more runnable tasks than cores, so the case waited for a CPU) or steal exceeds
:data:`STEAL_CONTENDED` of the CPU time; such numbers are upper bounds, not the library's speed.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

__all__ = ["run_case", "check_spikes", "copy_bandwidth", "summarize", "worker_main", "cpu_times", "contention",
           "measure_contention",
           "STEAL_CONTENDED"]

STEAL_CONTENDED = 0.01  # stolen share of CPU time above which a case is marked contended


def _rss_now_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _rss_peak_kb() -> int:
    """High-water RSS of this process image. ``ru_maxrss`` is not used: Linux carries the parent's
    high-water mark across fork + exec, so a child of a large parent would report the parent's."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu_times(stat: str | None = None) -> tuple[int, int] | None:
    """``(total, steal)`` jiffies of all CPUs from ``/proc/stat``'s ``cpu`` line (or ``stat``'s text).

    Fields after ``cpu``: user nice system idle iowait irq softirq steal [guest guest_nice]; guest
    time is already counted in user/nice, so it is left out of the total. Kernels older than 2.6.11
    have no steal column (read as 0). ``None`` where ``/proc/stat`` or its ``cpu`` line is missing
    (not Linux): steal is then unknown, not zero."""
    if stat is None:
        try:
            with open("/proc/stat") as f:
                stat = f.read()
        except OSError:
            return None
    for line in stat.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            vals = [int(v) for v in parts[1:9]] + [0] * max(0, 8 - len(parts[1:9]))  # pad old kernels
            return sum(vals), vals[7]
    return None


def contention(load_start: float, load_end: float, t0: tuple[int, int] | None, t1: tuple[int, int] | None,
               cores: int | None = None) -> dict[str, Any]:
    """Load record of one case: load averages, stolen CPU share between two :func:`cpu_times`
    readings (``None`` when either reading is unavailable), and whether the case ran under
    contention (see the module docstring; with steal unknown, the load average alone decides)."""
    cores = cores or os.cpu_count() or 1
    steal_frac: float | None = None
    if t0 is not None and t1 is not None:
        total, steal = t1[0] - t0[0], t1[1] - t0[1]
        if total < 0 or steal < 0:
            raise ValueError(f"cpu_times readings go backwards: {t0} -> {t1}")
        steal_frac = steal / total if total else 0.0
    return {"load": [round(load_start, 2), round(load_end, 2)], "steal": steal_frac,
            "contended": max(load_start, load_end) > cores or (steal_frac or 0.0) > STEAL_CONTENDED}


def measure_contention(fn: Any) -> tuple[Any, dict[str, Any]]:
    """Run ``fn()`` and return its result with the :func:`contention` record around it."""
    la0, c0 = os.getloadavg()[0], cpu_times()
    out = fn()
    return out, contention(la0, os.getloadavg()[0], c0, cpu_times())


def summarize(times: list[float]) -> dict[str, float]:
    """Median, min, max and interquartile range of repeated timings (seconds)."""
    q = statistics.quantiles(times, n=4) if len(times) >= 2 else [times[0]] * 3
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "q1": q[0], "q3": q[2], "n": len(times)}


def worker_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Build one case, warm it up, time ``reps`` steps; report times and memory (runs in the child)."""
    from .scenarios import SCENARIOS
    scen = SCENARIOS.get(spec["scenario"])
    built = scen.build(spec["lib"], spec["config"])
    rss_base = _rss_now_kb()
    t0 = time.perf_counter()
    built.step()
    first = time.perf_counter() - t0
    for _ in range(spec.get("warmup", 1) - 1):
        built.step()
    times = []
    for _ in range(spec["reps"]):
        t0 = time.perf_counter()
        built.step()
        times.append(time.perf_counter() - t0)
    peak = _rss_peak_kb()  # KiB
    return {"times": times, "first_step": first, "rss_base_kb": rss_base, "rss_peak_kb": peak,
            "threads": torch.get_num_threads()}


def run_case(scenario: str, lib: str, config: dict[str, Any], *, reps: int = 7, warmup: int = 2,
             timeout: float = 900.0) -> dict[str, Any]:
    """Run one case in a fresh subprocess and return its measurements (or ``{"error": ...}``)."""
    spec = {"scenario": scenario, "lib": lib, "config": config, "reps": reps, "warmup": warmup}
    cmd = [sys.executable, "-m", "spikeforge.bench.harness", json.dumps(spec)]
    try:
        proc, load = measure_contention(lambda: subprocess.run(cmd, capture_output=True, text=True,
                                                               timeout=timeout))
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    out = json.loads(lines[-1])
    out.update(summarize(out["times"]))
    out.update(load)
    return out


# Peers whose charge equation rounds differently (SpikingJelly: v - v/tau + x; Norse:
# v + dt/tau (x' - v)) flip a spike when v lands within an ulp of the threshold; such
# rounding-level differences (at most 1 in 10^4 spikes) are reported and the peer is still timed.
ROUNDING_FLIPS = 1e-4


def check_spikes(scenario: str, config: dict[str, Any], libs: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Spikes of each library vs spikeforge's on the scenario's fixed input."""
    from .scenarios import SCENARIOS
    scen = SCENARIOS.get(scenario)
    ref = scen.build("spikeforge", config).spikes()
    out: dict[str, dict[str, Any]] = {}
    for lib in libs:
        try:
            z = scen.build(lib, config).spikes()
            n_diff = int((z != ref).sum())
            out[lib] = {"equal": n_diff <= ROUNDING_FLIPS * ref.numel(), "identical": n_diff == 0,
                        "n_diff": n_diff, "n": ref.numel(), "rate": float(ref.float().mean())}
        except Exception as e:  # a broken peer is reported, not fatal
            out[lib] = {"equal": False, "error": f"{type(e).__name__}: {e}"[:300]}
    return out


def copy_bandwidth(nbytes: int = 256 << 20, reps: int = 9) -> dict[str, float]:
    """Memory copy bandwidth in bytes/s (read + write counted): into a preallocated buffer, and
    into a freshly allocated one (``clone``, which also pays the OS page faults of new memory)."""
    n = nbytes // 4
    src = torch.rand(n)
    dst = torch.empty_like(src)
    dst.copy_(src)
    pre, fresh = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        dst.copy_(src)
        pre.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        c = src.clone()
        fresh.append(time.perf_counter() - t0)
        del c
    return {"prealloc": 2 * nbytes / statistics.median(pre), "fresh": 2 * nbytes / statistics.median(fresh)}


if __name__ == "__main__":
    print(json.dumps(worker_main(json.loads(sys.argv[1]))))
