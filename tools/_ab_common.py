"""Shared loop and report of the interleaved kernel A/B tools (``lif_kernel_ab.py``, ``lif_pool_kernel_ab.py``).

Every round runs each job once in a fresh random order (a fixed order biased whichever job followed the copy);
a build's ratio to the first build is the median of its per-round ratios, which stays meaningful on a loaded
machine.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence


def run_interleaved(jobs: list[tuple[str, Callable[[], None]]], reps: int,
                    clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """``reps`` rounds of every job in a shuffled order; the per-round times of each job by name."""
    times: dict[str, list[float]] = {name: [] for name, _ in jobs}
    order = list(jobs)
    rng = random.Random(0)
    for _ in range(reps):
        rng.shuffle(order)
        for name, job in order:
            t0 = clock()
            job()
            times[name].append(clock() - t0)
    return times


def print_builds(paths: Sequence[str], times: dict[str, list[float]]) -> None:
    """One line per build: median forward/backward (jobs ``fwd{i}``, ``bwd{i}``), in copies of ``copy``,
    and against the first build the median per-round ratio with its range."""
    for i, path in enumerate(paths):
        line = f"  {path}:"
        for k in ("fwd", "bwd"):
            t = times[f"{k}{i}"]
            per_copy = statistics.median([a / c for a, c in zip(t, times["copy"])])
            line += f"  {k} {statistics.median(t) * 1e3:.2f} ms ({per_copy:.2f} copies"
            if i:
                r = [a / b for a, b in zip(t, times[f"{k}0"])]
                line += f", {statistics.median(r):.3f}x the first, {min(r):.2f}-{max(r):.2f}"
            line += ")"
        print(line)
