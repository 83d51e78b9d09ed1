"""``spikeforge bench``: run the benchmark table (issue 3) and write BENCHMARKS.md."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from ..bench.__main__ import run
    from ._paths import output_file

    # checked before the benchmark runs (minutes): a bad value or path would only fail at its end
    if args.reps < 1:
        raise ValueError(f"--reps must be >= 1 timed repetitions (>= 5 recommended), got {args.reps}")
    if args.warmup < 0:
        raise ValueError(f"--warmup must be >= 0 untimed steps, got {args.warmup}")
    output_file(args.out, "--out")
    if args.json:
        output_file(args.json, "--json")
    return run(args)


def register(subparsers: Any) -> None:
    """Add the ``bench`` sub-command."""
    from ..bench.__main__ import add_arguments
    p = subparsers.add_parser("bench", help="benchmark against snnTorch, SpikingJelly and Norse; write BENCHMARKS.md",
                              description="Run the side-by-side benchmark table and write BENCHMARKS.md.")
    add_arguments(p)
    p.set_defaults(func=_run)
