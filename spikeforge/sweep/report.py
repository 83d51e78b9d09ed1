"""Merge the cells' reports: ``results.csv``, ``report.md`` (pivots with mean ± std over seeds) and plots."""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["not_applicable_row", "result_row", "write_results_csv", "write_report", "pivot", "mean_std"]

#: Columns of results.csv after the axes, in order (energy columns follow, one per energy model).
METRICS = ("test_accuracy", "val_accuracy", "train_accuracy", "mean_rate", "synops", "params", "wall_seconds")


def result_row(values: dict[str, Any], cell_id: str, report: dict[str, Any]) -> dict[str, Any]:
    """One flat row: the cell's axis values, its metrics, per-layer rates and energies."""
    row: dict[str, Any] = {"cell": cell_id, **values}
    if "error" in report:
        return {**row, "status": "failed", "error": report["error"]}
    rates = report.get("layer_rates") or {}
    cost = report.get("cost") or {}
    row.update({
        "status": "ok",
        "test_accuracy": report.get("test_accuracy"),
        "val_accuracy": report.get("val_accuracy"),
        "train_accuracy": report.get("train_accuracy"),
        "mean_rate": statistics.fmean(rates.values()) if rates else float("nan"),
        "synops": cost.get("synops"),
        "params": report.get("params"),
        "wall_seconds": report.get("wall_seconds"),
        "resumed_from_epoch": report.get("resumed_from_epoch", 0),
    })
    row.update({k: v for k, v in cost.items() if k.startswith("energy_")})
    row.update({f"rate:{k}": v for k, v in rates.items()})
    return row


def not_applicable_row(values: dict[str, Any], cell_id: str, neuron: str, runs_as: str) -> dict[str, Any]:
    """The row of a cell not run: its neuron has no surrogate, so the surrogate axis does not apply."""
    return {"cell": cell_id, **values, "status": "n/a",
            "error": f"not applicable: neuron {neuron!r} has no surrogate; it runs once, as cell {runs_as}"}


def write_results_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    return path


def mean_std(values: list[Any]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value); ``None`` and NaN are dropped."""
    xs = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    if not xs:
        return float("nan"), float("nan")
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def pivot(rows: list[dict[str, Any]], rows_axis: str, cols_axis: str | None, metric: str
          ) -> dict[tuple[Any, Any], tuple[float, float, int]]:
    """``(row value, column value) -> (mean, std, n)`` of ``metric`` over every other axis
    (seeds included); ``cols_axis=None`` gives a one-axis table with column ``None``."""
    groups: dict[tuple[Any, Any], list[Any]] = defaultdict(list)
    for r in rows:
        if r.get("status") == "ok":
            groups[(r[rows_axis], None if cols_axis is None else r[cols_axis])].append(r.get(metric))
    return {k: (*mean_std(v), len(v)) for k, v in groups.items()}


def _fmt(mean: float, std: float, metric: str) -> str:
    if math.isnan(mean):
        return "–"
    if metric.endswith("accuracy"):
        return f"{mean * 100:.2f} ± {std * 100:.2f}"
    return f"{mean:.4g} ± {std:.2g}"


def _label(value: Any) -> str:
    """An axis value as a table label; ``None`` (a setting left unset, YAML ``null``) reads "unset"."""
    return "unset" if value is None else str(value)


def _axis_values(rows: list[dict[str, Any]], axis: str) -> list[Any]:
    out: list[Any] = []
    for r in rows:
        if r[axis] not in out:
            out.append(r[axis])
    return out


def write_report(name: str, axes: dict[str, list[Any]], rows: list[dict[str, Any]], out: Path, *,
                 metric: str = "test_accuracy", pivots: list[tuple[str, str]] | None = None,
                 wall_seconds: float | None = None, plots: bool = True) -> list[Path]:
    """``report.md`` (+ one PNG per axis) in ``out``; returns the written paths."""
    ok = [r for r in rows if r.get("status") == "ok"]
    failed = [r for r in rows if r.get("status") not in ("ok", "n/a")]
    n_na = sum(r.get("status") == "n/a" for r in rows)
    axis_names = list(axes)
    pairs = list(pivots or [])
    if not pairs:
        plain = [a for a in axis_names if a != "seed"]
        pairs = [(a, b) for i, a in enumerate(plain) for b in plain[i + 1:]]
    lines = [f"# Sweep report: {name}", "",
             f"{len(ok)} of {len(rows)} cells finished"
             + (f", {len(failed)} failed" if failed else "")
             + (f", {n_na} not applicable (a surrogate-free neuron runs once, under surrogate `none`)"
                if n_na else "")
             + (f"; sweep wall time {wall_seconds:.1f} s" if wall_seconds is not None else "") + ".",
             f"Values are mean ± std over the cells that share the row's value (seeds and any other axes); "
             f"accuracies in %. Metric of the two-axis pivots: `{metric}`.", ""]
    cost_keys = ["mean_rate", "synops"] + sorted({k for r in ok for k in r if k.startswith("energy_")})
    for axis in axis_names:
        if axis == "seed":
            continue
        cols = ["test_accuracy", "val_accuracy", *cost_keys, "params", "wall_seconds"]
        lines += [f"## By {axis}", "", "| " + " | ".join([axis, "n", *cols]) + " |",
                  "|" + "---|" * (len(cols) + 2)]
        for v in _axis_values(rows, axis):
            cells = []
            n = 0
            for c in cols:
                m, s, n_c = pivot([r for r in ok if r[axis] == v], axis, None, c).get((v, None),
                                                                                     (math.nan, math.nan, 0))
                n = max(n, n_c)
                cells.append(_fmt(m, s, c))
            lines.append("| " + " | ".join([_label(v), str(n), *cells]) + " |")
        lines.append("")
    for a, b in pairs:
        table = pivot(ok, a, b, metric)
        bs = _axis_values(rows, b)
        lines += [f"## {metric}: {a} × {b}", "", "| " + " | ".join([f"{a} \\ {b}", *map(_label, bs)]) + " |",
                  "|" + "---|" * (len(bs) + 1)]
        for va in _axis_values(rows, a):
            lines.append("| " + " | ".join([_label(va)] + [_fmt(*table.get((va, vb), (math.nan, math.nan, 0))[:2],
                                                             metric) for vb in bs]) + " |")
        lines.append("")
    lines += ["## Cells", "", "| cell | " + " | ".join(["status", "test_accuracy", "mean_rate", "synops",
                                                          "wall_seconds"]) + " |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("status") == "ok":
            lines.append(f"| {r['cell']} | ok{' (resumed)' if r.get('resumed_from_epoch') else ''} | "
                         f"{r['test_accuracy'] * 100:.2f} | {r['mean_rate']:.4f} | {r['synops']:.4g} | "
                         f"{r['wall_seconds']:.1f} |")
        elif r.get("status") == "n/a":
            lines.append(f"| {r['cell']} | {r['error']} | – | – | – | – |")
        else:
            lines.append(f"| {r['cell']} | failed: {r.get('error', '?')} | – | – | – | – |")
    written = [out / "report.md"]
    written[0].write_text("\n".join(lines) + "\n")
    if plots and ok:
        written += _plots(ok, axis_names, metric, out)
    return written


def _plots(rows: list[dict[str, Any]], axes: list[str], metric: str, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for axis in axes:
        if axis == "seed":
            continue
        vals = _axis_values(rows, axis)
        table = pivot(rows, axis, None, metric)
        means = [table[(v, None)][0] for v in vals]
        stds = [table[(v, None)][1] for v in vals]
        fig, ax = plt.subplots(figsize=(max(3.0, 0.9 * len(vals) + 1.5), 3.0))
        ax.bar([_label(v) for v in vals], means, yerr=stds, capsize=3, color="tab:blue")
        ax.set_xlabel(axis)
        ax.set_ylabel(metric)
        fig.tight_layout()
        p = out / f"{metric}_by_{axis}.png"
        fig.savefig(p, dpi=100)
        plt.close(fig)
        paths.append(p)
    return paths
