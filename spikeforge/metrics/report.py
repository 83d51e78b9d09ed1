"""Text table and bar plot of a :class:`~spikeforge.metrics.profile.Profile`.

The dependency is one-way: ``profile`` imports this module; this module knows a profile only
through the :class:`ProfileView` protocol (what it reads), so it never imports ``profile``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from .cost import LayerCost
from .counts import Footprint
from .energy import DEFAULT_ENERGY_MODELS, EnergyModel, EnergyResult

__all__ = ["ProfileView", "format_report", "format_table", "plot_energy"]


class ProfileView(Protocol):
    """What a report reads from a profile (:class:`~spikeforge.metrics.profile.Profile` has it all)."""

    samples: int
    steps: int | None
    unsupported: list[str]

    def layers(self) -> dict[str, LayerCost]: ...
    def energy(self, model: EnergyModel) -> EnergyResult: ...
    def synops(self) -> dict[str, float]: ...
    def neuron_ops(self) -> dict[str, float]: ...
    def membrane_updates(self) -> float: ...
    def footprint(self) -> Footprint: ...
    def parameter_count(self) -> int: ...
    def connection_sparsity(self) -> float: ...
    def activation_sparsity(self) -> float: ...
    def unpriced_neurons(self) -> list[str]: ...


def _num(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not v.is_integer() or isinstance(v, float) and abs(v) >= 1e7:
        return f"{v:.4g}"
    return f"{int(v):d}" if isinstance(v, (int, float)) else str(v)


def _frac(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-align the first two columns and right-align the rest, padded to the widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (str(c).ljust(w) if i < 2 else str(c).rjust(w)
                  for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded)

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def format_report(prof: ProfileView, models: Sequence[EnergyModel]) -> str:
    """Per-layer table (per sample) followed by the totals.

    Columns: firing/activation ``rate`` (non-zero outputs per element and step), activation
    sparsity, connection sparsity, effective MACs and ACs, dense synaptic ops, membrane updates
    and the energy under each model (its unit in the header).
    """
    layers = prof.layers()
    energies = [prof.energy(m) for m in models]
    header = ["layer", "kind", "rate", "act.sparsity", "conn.sparsity", "eff.MACs", "eff.ACs", "dense ops",
              "mem.updates", *(f"{e.model} [{e.unit}]" for e in energies)]
    rows = []
    for name, c in layers.items():
        rows.append([name, c.kind, _frac(c.rate if c.is_activation else None),
                     _frac(c.activation_sparsity if c.is_activation else None), _frac(c.connection_sparsity),
                     _num(c.eff_macs), _num(c.eff_acs), _num(c.dense_ops), _num(c.membrane_updates),
                     *(_num(e.per_layer[name]) for e in energies)])
    syn, nops, fp = prof.synops(), prof.neuron_ops(), prof.footprint()
    try:
        act = f"{prof.activation_sparsity():.4f}"
    except ValueError:
        act = "-"
    lines = [
        f"cost per sample ({prof.samples} samples, T={prof.steps})",
        format_table(header, rows),
        "",
        f"footprint            {fp.total} B (parameters {fp.parameter_bytes} B, buffers {fp.buffer_bytes} B)",
        f"parameters           {prof.parameter_count()}",
        f"connection sparsity  {prof.connection_sparsity():.4f}",
        f"activation sparsity  {act}",
        f"synaptic ops         Effective_MACs {_num(syn['Effective_MACs'])}, Effective_ACs "
        f"{_num(syn['Effective_ACs'])}, Dense {_num(syn['Dense'])}",
        f"membrane updates     {_num(prof.membrane_updates())}",
        f"neuron ops           effective {_num(nops['Effective'])}, dense {_num(nops['Dense'])}",
    ]
    lines += [f"energy {e.model:<13} {_num(e.total)} {e.unit}" for e in energies]
    if prof.unsupported:
        lines.append(f"not counted (synaptic ops unsupported): {', '.join(prof.unsupported)}")
    if prof.unpriced_neurons():
        lines.append(f"neuron ops unknown for: {', '.join(prof.unpriced_neurons())} "
                     "(pass profile(neuron_ops={cls: n}))")
    return "\n".join(lines)


def plot_energy(prof: ProfileView, path: str | os.PathLike[str], models: Sequence[EnergyModel] | None = None) -> Path:
    """Save a grouped bar plot of energy per sample per layer (one bar per model) as PNG.

    All ``models`` must share one unit; by default the picojoule models of
    :data:`~spikeforge.metrics.energy.DEFAULT_ENERGY_MODELS`. Draws on an Agg canvas directly
    (no display, no change to pyplot's global backend).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    models = tuple(models) if models is not None else tuple(m for m in DEFAULT_ENERGY_MODELS if m.unit == "pJ")
    if not models:
        raise ValueError("plot_energy needs at least one energy model")
    units = {m.unit for m in models}
    if len(units) != 1:
        raise ValueError(f"plot_energy: models must share one unit, got {sorted(units)}; plot them separately")
    results = [prof.energy(m) for m in models]
    names = [n for n in results[0].per_layer if any(r.per_layer[n] for r in results)]
    if not names:
        raise ValueError("plot_energy: every layer has zero energy under these models")
    width = 0.8 / len(results)
    fig = Figure(figsize=(max(6.0, 0.9 * len(names) + 2), 4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for k, r in enumerate(results):
        xs = [i + (k - (len(results) - 1) / 2) * width for i in range(len(names))]
        ax.bar(xs, [r.per_layer[n] for n in names], width, label=f"{r.model} (total {r.total:.4g} {r.unit})")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel(f"energy per sample [{units.pop()}]")
    ax.set_title("energy per layer")
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
