"""Benchmarks: scenario registry, timing + peak-RSS harness (one subprocess per case), report.

Run ``python -m spikeforge.bench`` (or ``spikeforge bench``) to write ``BENCHMARKS.md``.
"""

from .harness import check_spikes as check_spikes
from .harness import run_case as run_case
from .scenarios import SCENARIOS as SCENARIOS

__all__ = ["SCENARIOS", "check_spikes", "run_case"]
