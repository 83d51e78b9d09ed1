"""``spikeforge`` command: ``train``, ``list`` and every ``cmd_*.py`` plug-in in this package."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from . import cmd_core

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikeforge",
        description="Train, measure, benchmark and exchange spiking neural networks.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    cmd_core.register(sub)
    import spikeforge.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("cmd_") and info.name != "cmd_core":
            importlib.import_module(f"spikeforge.cli.{info.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, OSError, KeyError) as e:  # OSError: e.g. permissions, a full disk
        print(f"spikeforge {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
