"""Data commands: ``spikeforge data list | inspect FILE | convert IN OUT``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register", "list_command", "inspect_command", "convert_command"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="list datasets; inspect or convert event files",
                       description="Datasets and event files: where data comes from, what a file holds, "
                                   "and conversion between the event formats and spikeforge's HDF5 layout.")
    data = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    q = data.add_parser("list", help="registered datasets with their source, licence and expected files")
    q.set_defaults(func=list_command)

    from ..data.formats import FILE_FORMATS

    q = data.add_parser("inspect", help="summarise an event file: samples, events, duration, classes")
    q.add_argument("file", help=".bin (N-MNIST), .aedat (DVS128 Gesture), .h5 (SHD/SSC, NeuroMorse, events)")
    q.add_argument("--format", choices=FILE_FORMATS, help="override detection from the extension")
    q.add_argument("--sensor", metavar="W,H,P", help="sensor size for .bin / .aedat (default 34,34,2 / 128,128,2)")
    q.set_defaults(func=inspect_command)

    q = data.add_parser("convert", help="convert one event stream between formats (.bin, .aedat, .h5)")
    q.add_argument("input", help="event file to read")
    q.add_argument("output", help="file to write; .h5 means spikeforge's events layout unless --to shd_h5")
    q.add_argument("--from", dest="src_format", choices=FILE_FORMATS, help="input format (default: detected)")
    q.add_argument("--to", dest="dst_format", choices=("atis", "aedat", "events_h5", "shd_h5"),
                   help="output format (default: from the output extension)")
    q.add_argument("--sample", type=int, default=None, help="sample index of a multi-sample input (SHD, NeuroMorse)")
    q.add_argument("--sensor", metavar="W,H,P", help="input sensor size for .bin / .aedat")
    q.add_argument("--tick", type=float, default=None,
                   help="seconds per time step, to write step-time events (NeuroMorse) in a µs format")
    q.set_defaults(func=convert_command)


def _sensor(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--sensor must be W,H,P integers, got {text!r}") from None
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"--sensor must be three positive integers W,H,P, got {text!r}")
    return size


def list_command(args: argparse.Namespace) -> int:
    """Print every registered dataset with its metadata."""
    from ..data import DATASETS

    for name in DATASETS.names():
        m = DATASETS.meta(name)
        files = ", ".join(m.get("files", ())) or "none (built offline)"
        if m.get("offline") and m.get("files"):
            files = f"optional (generated offline without them): {files}"
        offline = "yes" if m.get("offline") else "no (needs files)"
        print(f"{name}: {m.get('kind')}, {m.get('num_classes')} classes, input {tuple(m.get('input_shape', ()))}")
        print(f"  source:  {m.get('source', 'unknown')}")
        print(f"  license: {m.get('license', 'unknown')}")
        print(f"  files:   {files}")
        print(f"  offline: {offline}")
    return 0


def inspect_command(args: argparse.Namespace) -> int:
    """Print what an event file holds."""
    from ..data.formats import summarize_file

    summary = summarize_file(args.file, args.format, sensor_size=_sensor(args.sensor))
    print("\n".join(summary.lines()))
    return 0


def convert_command(args: argparse.Namespace) -> int:
    """Read one event stream and write it in another format."""
    from ..data.formats import read_sample, write_sample
    from ._paths import input_file, output_file

    source = input_file(args.input, "input")
    output_file(args.output, "output", inputs=(source,))
    events, label = read_sample(source, args.src_format, index=args.sample, sensor_size=_sensor(args.sensor))
    fmt = write_sample(args.output, events, label, args.dst_format, tick=args.tick)
    kept = label is not None and fmt in ("events_h5", "shd_h5")  # atis / aedat files hold no label
    print(f"wrote {len(events)} events{f' (label {label})' if kept else ''} to {args.output} ({fmt})")
    if label is not None and not kept:
        print(f"note: label {label} is not stored: {fmt} files hold events only", file=sys.stderr)
    return 0
