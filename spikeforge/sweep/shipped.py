"""Sweep files shipped in ``spikeforge/configs/sweeps``, usable by name."""

from __future__ import annotations

from pathlib import Path

__all__ = ["SWEEP_DIR", "shipped_sweeps", "resolve_sweep"]

SWEEP_DIR = Path(__file__).resolve().parent.parent / "configs" / "sweeps"


def shipped_sweeps() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SWEEP_DIR.glob("*.yaml"))}


def resolve_sweep(name_or_path: str) -> Path:
    """A path as given if it exists, else the shipped sweep of that name."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = shipped_sweeps()
    if name_or_path in shipped:
        return shipped[name_or_path]
    raise FileNotFoundError(f"no sweep file {name_or_path!r}; shipped sweeps: {', '.join(shipped) or 'none'}")
