"""A sweep file: fixed settings, axes whose cross product (or a listed subset) are the cells.

.. code-block:: yaml

    name: neuron_ablation              # optional; default: the file's stem
    out_dir: runs/sweeps/neuron        # cells go to <out_dir>/cells/<cell id>/
    fixed:                             # TrainConfig keys shared by every cell
      data: digits
      epochs: 3
    axes:                              # TrainConfig keys -> values; cells are the cross product
      neuron: [lif, plif, alif]
      seed: [0, 1, 2]
    cells:                             # optional: only these combinations (each names every axis)
      - {neuron: lif, seed: 0}
    report:
      metric: test_accuracy            # the value in the pivot tables (default test_accuracy)
      pivots: [[neuron, seed]]         # extra two-axis pivots (default: every pair of non-seed axes)

Every cell is an ordinary :class:`~spikeforge.config.TrainConfig`, validated when the file is
loaded (an error names the cell), so a typo fails before any cell trains.

A neuron without a surrogate (``surrogate_free``: I-LIF, NI-LIF, UltraLIF, ...) is not run once per
value of a ``surrogate`` / ``surrogate_alpha`` axis with the surrogate ignored: its cells collapse to
one per combination of the other axes (the first surrogate value's cell, reported with surrogate
``none``), and the others are reported "not applicable" (``Cell.runs_as`` names the cell that stands
for them).
"""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, TrainConfig
from .report import METRICS

__all__ = ["SweepSpec", "Cell", "load_sweep", "SweepError"]

_TOP_KEYS = {"name", "out_dir", "fixed", "axes", "cells", "report", "nproc"}
SURROGATE_KEYS = ("surrogate", "surrogate_alpha")  # axes that mean nothing to a surrogate-free neuron
NO_SURROGATE = "none"  # the value a collapsed cell reports on those axes


class SweepError(ConfigError):
    """Invalid sweep file: unknown keys, empty axes, a cell that is not a valid TrainConfig."""


@dataclass(frozen=True)
class Cell:
    """One run of the sweep: its axis values, its id (a folder name) and its full config."""

    values: dict[str, Any]
    id: str
    config: TrainConfig
    runs_as: str | None = None  # not applicable: the id of the cell that runs for it (a surrogate-free neuron)


@dataclass(frozen=True)
class SweepSpec:
    name: str
    out_dir: Path
    fixed: dict[str, Any]
    axes: dict[str, list[Any]]
    subset: list[dict[str, Any]] | None = None
    metric: str = "test_accuracy"
    pivots: list[tuple[str, str]] = field(default_factory=list)
    nproc: int = 1  # data-parallel processes per cell (docs/scaling.md); batch_size stays the global batch

    def __post_init__(self) -> None:
        if not isinstance(self.nproc, int) or isinstance(self.nproc, bool) or self.nproc < 1:
            raise SweepError(f"sweep {self.name!r}: nproc must be an integer >= 1, got {self.nproc!r}")
        keys = set(TrainConfig.keys())
        for where, names in (("fixed", self.fixed), ("axes", self.axes)):
            unknown = sorted(set(names) - keys)
            if unknown:
                raise SweepError(f"sweep {self.name!r}: unknown {where} key(s) {unknown}; valid keys: "
                                 f"{', '.join(sorted(keys))}")
        both = sorted(set(self.fixed) & set(self.axes))
        if both:
            raise SweepError(f"sweep {self.name!r}: {both} are both fixed and an axis; keep one")
        if "out_dir" in self.axes or "out_dir" in self.fixed:
            raise SweepError(f"sweep {self.name!r}: out_dir is set per cell by the sweep; set the sweep's out_dir")
        for k, vals in self.axes.items():
            if not isinstance(vals, list) or not vals:
                raise SweepError(f"sweep {self.name!r}: axis {k!r} must be a non-empty list, got {vals!r}")
            ids = [_slug(v) for v in vals]
            if len(set(ids)) != len(ids):
                raise SweepError(f"sweep {self.name!r}: axis {k!r} repeats a value: {vals!r}")
        if self.metric not in METRICS and not self.metric.startswith(("energy_", "rate:")):
            raise SweepError(f"sweep {self.name!r}: report metric {self.metric!r} is not a result column; use "
                             f"{', '.join(METRICS)}, an energy_* column or rate:<layer> (see results.csv)")
        for a, b in self.pivots:
            for k in (a, b):
                if k not in self.axes:
                    raise SweepError(f"sweep {self.name!r}: pivot names {k!r}, which is not an axis "
                                     f"({', '.join(self.axes)})")

    def cells(self) -> list[Cell]:
        """Every cell, in a fixed order (the axes' order, last axis fastest), validated."""
        names = list(self.axes)
        if self.subset is None:
            combos = [dict(zip(names, vals, strict=True)) for vals in itertools.product(*self.axes.values())]
        else:
            combos = []
            for i, c in enumerate(self.subset):
                if not isinstance(c, dict) or set(c) != set(names):
                    raise SweepError(f"sweep {self.name!r}: cells[{i}] must name exactly the axes {names}, got {c!r}")
                bad = [k for k in names if c[k] not in self.axes[k]]
                if bad:
                    raise SweepError(f"sweep {self.name!r}: cells[{i}] value of {bad} is not on its axis")
                combos.append({k: c[k] for k in names})
        out, seen = [], set()
        stands_for: dict[tuple[tuple[str, str], ...], str] = {}  # other axes' values -> collapsed cell id
        for values in combos:
            cid = "__".join(f"{k}={_slug(v)}" for k, v in values.items()) or "single"
            if cid in seen:
                raise SweepError(f"sweep {self.name!r}: cell {cid} is listed twice")
            seen.add(cid)
            merged = {**self.fixed, **values, "out_dir": str(self.out_dir / "cells" / cid), "progress": False}
            try:
                cfg = TrainConfig.from_dict(merged)
            except ConfigError as e:
                raise SweepError(f"sweep {self.name!r}, cell {cid}: {e}") from None
            swept = [k for k in SURROGATE_KEYS if k in values]
            runs_as = None
            if swept and _surrogate_free(cfg.neuron):
                rest = tuple((k, _slug(v)) for k, v in values.items() if k not in swept)
                runs_as = stands_for.get(rest)
                if runs_as is None:
                    stands_for[rest] = cid
                    values = {**values, **dict.fromkeys(swept, NO_SURROGATE)}
            out.append(Cell(values, cid, cfg, runs_as))
        return out


def _surrogate_free(neuron: str) -> bool:
    from ..neurons import neuron_class

    return bool(getattr(neuron_class(neuron), "surrogate_free", False))


def _slug(v: Any) -> str:
    """A folder-safe rendering of an axis value (lists as ``a-b``)."""
    if isinstance(v, (list, tuple)):
        return "-".join(_slug(x) for x in v)
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", str(v))


def load_sweep(source: str | os.PathLike[str] | dict[str, Any], *, out_dir: str | os.PathLike[str] | None = None
               ) -> SweepSpec:
    """Read a sweep file (or an already-parsed mapping); ``out_dir`` overrides the file's."""
    if isinstance(source, dict):
        raw, stem = source, "sweep"
    else:
        import yaml

        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"sweep file {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise SweepError(f"{path}: not valid YAML: {e}") from None
        if raw is None:  # an empty file would run one default cell (a full default training)
            raise SweepError(f"{path}: the sweep file is empty; it needs 'axes' and/or 'fixed' (docs/sweep.md)")
        stem = path.stem
        if not isinstance(raw, dict):
            raise SweepError(f"{path}: a sweep file must be a mapping with 'fixed' and 'axes'")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise SweepError(f"unknown sweep key(s) {unknown}; valid: {', '.join(sorted(_TOP_KEYS))}")
    name = str(raw.get("name", stem))
    report = raw.get("report") or {}
    if not isinstance(report, dict) or set(report) - {"metric", "pivots"}:
        raise SweepError(f"sweep {name!r}: 'report' takes 'metric' and 'pivots', got {report!r}")
    pivots = [tuple(p) for p in report.get("pivots", [])]
    if any(len(p) != 2 for p in pivots):
        raise SweepError(f"sweep {name!r}: each pivot is a pair of axes, got {report.get('pivots')!r}")
    fixed, axes = raw.get("fixed") or {}, raw.get("axes") or {}
    if not isinstance(fixed, dict) or not isinstance(axes, dict):
        raise SweepError(f"sweep {name!r}: 'fixed' and 'axes' must be mappings")
    subset = raw.get("cells")
    if subset is not None and not isinstance(subset, list):
        raise SweepError(f"sweep {name!r}: 'cells' must be a list of mappings")
    where = out_dir if out_dir is not None else raw.get("out_dir", f"runs/sweeps/{name}")
    return SweepSpec(name=name, out_dir=Path(where), fixed=dict(fixed), axes=dict(axes), subset=subset,
                     metric=str(report.get("metric", "test_accuracy")),
                     pivots=[(str(a), str(b)) for a, b in pivots], nproc=raw.get("nproc", 1))
