"""Bench (issue 17): steal time per case from /proc/stat, the contention mark, and the LIF
memory-traffic floor case (``spikeforge/bench/floor.py``)."""

from __future__ import annotations

import builtins
import json
import statistics
from typing import Any

import pytest

from spikeforge.bench import floor
from spikeforge.bench.harness import STEAL_CONTENDED, contention, cpu_times, measure_contention
from spikeforge.bench.report import _load

pytestmark = pytest.mark.usefixtures("one_thread")

# Two readings of /proc/stat's aggregate line, 1 s apart on a 2-core guest (hand-made): 200
# jiffies pass in all; of them 7 (columns: user nice system idle iowait irq softirq steal guest
# guest_nice) were stolen. Guest time (5 jiffies) is already inside user and must not be counted twice.
STAT0 = """cpu  1000 10 300 8000 50 0 20 100 40 0
cpu0 500 5 150 4000 25 0 10 50 20 0
cpu1 500 5 150 4000 25 0 10 50 20 0
intr 123456
"""
STAT1 = """cpu  1080 10 330 8080 50 0 23 107 45 0
cpu0 540 5 165 4040 25 0 12 53 22 0
cpu1 540 5 165 4040 25 0 11 54 23 0
intr 123999
"""


def test_steal_share_from_a_pair_of_proc_stat_readings() -> None:
    t0, t1 = cpu_times(STAT0), cpu_times(STAT1)
    assert t0 == (1000 + 10 + 300 + 8000 + 50 + 0 + 20 + 100, 100)  # hand sum of the first 8 columns
    assert t1 == (1080 + 10 + 330 + 8080 + 50 + 0 + 23 + 107, 107)
    rec = contention(0.4, 0.6, t0, t1, cores=2)
    assert rec["steal"] == pytest.approx(7 / 200)  # 7 stolen of 200 elapsed jiffies
    assert rec["contended"]  # 3.5 % > 1 % although the load average is below the core count
    assert rec["load"] == [0.4, 0.6]


def test_mark_triggers_on_steal_alone_at_the_threshold() -> None:
    base = (10_000, 0)
    just_below = contention(0.1, 0.1, base, (20_000, int(10_000 * STEAL_CONTENDED)), cores=2)
    above = contention(0.1, 0.1, base, (20_000, int(10_000 * STEAL_CONTENDED) + 1), cores=2)
    assert not just_below["contended"] and above["contended"]
    assert "**contended**" in _load(above) and "**contended**" not in _load(just_below)
    assert "steal 1.0%" in _load(above)


def test_old_kernel_without_steal_column_reads_zero() -> None:
    assert cpu_times("cpu  10 0 5 85\n") == (100, 0)


def test_missing_proc_stat_degrades_to_unknown_steal(monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = builtins.open

    def no_proc_stat(path: Any, *a: Any, **k: Any) -> Any:
        if str(path) == "/proc/stat":
            raise FileNotFoundError(path)
        return real_open(path, *a, **k)

    monkeypatch.setattr(builtins, "open", no_proc_stat)
    assert cpu_times() is None
    assert cpu_times("intr 1 2 3\n") is None  # a file without the aggregate line
    out, rec = measure_contention(lambda: 42)
    assert out == 42 and rec["steal"] is None
    json.dumps(rec)  # the per-case record goes into the JSON report as is (null)
    assert "steal n/a" in _load(rec)
    rec = contention(100.0, 100.0, None, None, cores=2)  # the load average still marks contention
    assert rec["contended"] and rec["steal"] is None


def test_floor_is_two_and_a_half_copy_times() -> None:
    # 20 B per element moved by the step, 8 B by a copy: floor = 2.5 x the copy time (hand count)
    r = floor.floor_ratios([0.030, 0.010, 0.020], [0.004, 0.002, 0.003])
    assert r["floor"] == pytest.approx(2.5 * 0.003)
    assert r["ratio"] == pytest.approx(0.020 / 0.0075)
    assert r["ratio_min"] == pytest.approx(0.010 / (2.5 * 0.002))
    with pytest.raises(ValueError, match="at least one"):
        floor.floor_ratios([], [0.1])


def test_floor_case_runs_and_counts_bytes() -> None:
    out = floor.floor_case((3, 2, 50), reps=2, warmup=1)
    assert out["bytes"] == 20 * 3 * 2 * 50
    assert len(out["step"]) == len(out["copy"]) == 2
    assert out["bandwidth"] == pytest.approx(8 * 300 / statistics.median(out["copy"]))
    assert out["ratio"] == pytest.approx(floor.floor_ratios(out["step"], out["copy"])["ratio"])
    assert out["ratio"] > 0 and out["ratio_cpu"] > 0


def test_floor_table_marks_target_and_contention() -> None:
    row = {"shape": [8, 64, 16384], "bytes": 20 * 8 * 64 * 16384, "bandwidth": 3.2e10, "floor": 0.005,
           "ratio": 1.7, "ratio_min": 1.5, "ratio_cpu": 1.6, "step": [0.0085], "copy": [0.002],
           "load": [3.0, 2.5], "steal": 0.002, "contended": True}
    ok = dict(row, ratio=1.25, contended=False, load=[0.5, 0.5])
    lines = floor.floor_table([row, ok, {"shape": [1, 2, 3], "error": "timed out after 9 s"}])
    assert "| [8, 64, 16384] | 168 MB | 32.0 GB/s | 5.00 ms | 8.50 ms | **1.70×** |" in lines[2]
    assert "| no |" in lines[2] and "**contended**" in lines[2] and "steal 0.2%" in lines[2]
    assert "| yes |" in lines[3] and "**contended**" not in lines[3]
    assert "not measured: timed out after 9 s" in lines[4]


def test_attainable_note_bounds_the_speedup_by_the_floor() -> None:
    from spikeforge.bench.__main__ import _attainable_note
    # hand-made case: fastest peer 181.9 ms (spyx), floor 39.4 ms -> at most 4.62x; ours is not a peer
    case = {"rows": [{"lib": "spikeforge", "median": 0.0476}, {"lib": "spyx", "median": 0.1819},
                     {"lib": "snntorch", "median": 0.4007}, {"lib": "norse", "error": "not installed"}]}
    note = _attainable_note(case, 0.0394)
    assert "4.62× faster than the fastest peer (spyx)" in note and "out of reach" in note
    assert "reachable at this size" in _attainable_note(case, 0.030)  # 6.06x
    assert _attainable_note({"rows": [{"lib": "spikeforge", "median": 1.0}]}, 0.01) == ""
