"""``spikeforge sweep``: run a sweep file's cells and write one report."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run many training cells from a sweep YAML and write one report",
                       description="Run the cross product of a sweep file's axes (each cell an ordinary "
                                   "`spikeforge train` run with its own directory and checkpoint) and merge "
                                   "report.md, results.csv and plots. Rerunning resumes: finished cells are "
                                   "kept, interrupted ones continue from their checkpoint.")
    p.add_argument("sweep", help="sweep YAML file (see docs/sweep.md), or the name of a shipped sweep "
                                 "(spikeforge sweep --list)", nargs="?")
    p.add_argument("--out", help="output folder (default: the file's out_dir)")
    p.add_argument("--executor", choices=("local", "serial", "ray"), default="local",
                   help="local worker processes (default), this process, or Ray (RAY_ADDRESS or a local instance)")
    p.add_argument("--workers", type=int, default=1, help="cells run at once (default 1)")
    p.add_argument("--nproc-per-cell", type=int, default=None, metavar="N",
                   help="train each cell in N data-parallel processes (default: the file's nproc, else 1; "
                        "see docs/scaling.md)")
    p.add_argument("--dry-run", action="store_true", help="list the cells and exit")
    p.add_argument("--list", action="store_true", help="list the sweep files shipped with spikeforge")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.set_defaults(func=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from ..sweep import finished_report, load_sweep, run_sweep
    from ..sweep.shipped import resolve_sweep, shipped_sweeps
    from ._paths import output_dir

    if args.list:
        for name, path in shipped_sweeps().items():
            print(f"{name:<24} {path}")
        return 0
    if not args.sweep:
        raise ValueError("name a sweep file (or --list the shipped ones)")
    if args.workers < 1:  # checked before the file is read, so --dry-run refuses them too
        raise ValueError(f"--workers must be >= 1 (cells run at once), got {args.workers}")
    if args.nproc_per_cell is not None and args.nproc_per_cell < 1:
        raise ValueError(f"--nproc-per-cell must be >= 1 (data-parallel processes per cell), got {args.nproc_per_cell}")
    spec = load_sweep(resolve_sweep(args.sweep), out_dir=args.out)
    output_dir(spec.out_dir, "sweep out_dir (--out)", create=not args.dry_run)  # before any cell trains
    if args.dry_run:
        cells = spec.cells()
        for c in cells:
            print(f"{c.id}  {'finished' if finished_report(c.config) else 'to run'}  {c.config.out_dir}")
        print(f"{len(cells)} cells")
        return 0
    result = run_sweep(spec, executor=args.executor, workers=args.workers, plots=not args.no_plots,
                       nproc=args.nproc_per_cell)
    print(f"report   {result.report}\nresults  {result.results_csv}")
    for p in result.plots:
        print(f"plot     {p}")
    print(f"wall     {result.wall_seconds:.1f} s ({result.skipped} cells were already finished)")
    return 1 if result.failed else 0
