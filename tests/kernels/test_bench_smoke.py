"""The benchmark harness runs end to end on a tiny case (no timing assertions)."""

from __future__ import annotations

import pytest

from spikeforge.bench.harness import check_spikes, run_case, summarize
from spikeforge.bench.peers import installed
from spikeforge.bench.scenarios import SCENARIOS


def test_summarize():
    s = summarize([3.0, 1.0, 2.0, 4.0, 5.0])
    assert s["median"] == 3.0 and s["min"] == 1.0 and s["max"] == 5.0 and s["n"] == 5


def test_scenarios_registered():
    assert {"lif_layer", "shd_step", "conv_step", "memory_lean"} <= set(SCENARIOS.names())


@pytest.mark.skipif(not installed("snntorch"), reason="snntorch not installed")
def test_peer_spikes_checked_and_case_runs_in_subprocess():
    cfg = {"shape": (6, 4, 32)}
    checks = check_spikes("lif_layer", cfg, ("spikeforge-torch", "snntorch"))
    assert all(c["equal"] for c in checks.values())
    r = run_case("lif_layer", "spikeforge", cfg, reps=2, warmup=1, timeout=120)
    assert "error" not in r and r["n"] == 2 and r["rss_peak_kb"] >= r["rss_base_kb"] > 0
