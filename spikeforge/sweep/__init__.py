"""Sweeps: many ordinary training runs over axes of config keys, merged into one report.

``spikeforge sweep sweep.yaml`` runs the cross product (or a listed subset) of the axes; each
cell is a ``spikeforge train`` run with its own directory, checkpoint and report; the sweep writes
``report.md`` (pivots with mean ± std over seeds), ``results.csv`` and plots. See ``docs/sweep.md``.
"""

from .executors import EXECUTORS as EXECUTORS
from .executors import finished_report as finished_report
from .executors import run_cell as run_cell
from .runner import SweepResult as SweepResult
from .runner import run_sweep as run_sweep
from .spec import Cell as Cell
from .spec import SweepError as SweepError
from .spec import SweepSpec as SweepSpec
from .spec import load_sweep as load_sweep

__all__ = ["EXECUTORS", "Cell", "SweepError", "SweepResult", "SweepSpec", "finished_report", "load_sweep",
           "run_cell", "run_sweep"]
