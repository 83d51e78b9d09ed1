"""Where the bench LIF step's time goes, phase by phase, against a same-size copy (issue 17).

The step is the bench's (``spikeforge.bench.scenarios._build_lif``): ``x = xs.detach().requires_grad_();
layer(x).sum().backward()`` with spikeforge's LIF (decay 0.9, reset to zero, detached, fast sigmoid).
Per step it times ``layer(x)`` (forward: Python, autograd, allocations and the forward kernel),
``.sum()`` and ``.backward()`` separately, the two kernel calls inside them (the ctypes functions of the
loaded library wrapped with a timer), the minor page faults of the step (``ru_minflt``) and a
``dst.copy_(xs)`` of the same size right after it; medians over the repetitions (the first three
are warm-up). ``glue`` is a phase minus its kernel. Columns in ms, ``(…c)`` in copy times; the floor
is 2.5 copies (``spikeforge.bench.floor``).

    python tools/lif_step_breakdown.py --threads 2 --reps 15 100,128,2048 100,32,512 8,64,16384
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from typing import Any

import torch

from spikeforge.bench.peers import lif_layer
from spikeforge.bench.scenarios import lif_input
from spikeforge.kernels._build import load_library

_KERNEL_TIME = {"fwdk": 0.0, "bwdk": 0.0}


def _wrap_kernels() -> None:
    lib = load_library()
    for name, key in (("sf_forward_f32", "fwdk"), ("sf_backward_f32", "bwdk")):
        fn = getattr(lib, name)

        def timed(*args: Any, fn: Any = fn, key: str = key) -> Any:
            t0 = time.perf_counter()
            rc = fn(*args)
            _KERNEL_TIME[key] += time.perf_counter() - t0
            return rc

        setattr(lib, name, timed)


def breakdown(shape: tuple[int, int, int], reps: int) -> dict[str, float]:
    layer = lif_layer("spikeforge")
    xs = lif_input(*shape)  # [T, B, N]
    dst = torch.empty_like(xs)
    rows: dict[str, list[float]] = {k: [] for k in ("step", "fwd", "fwdk", "sum", "bwd", "bwdk", "copy", "faults")}
    for r in range(reps + 3):
        _KERNEL_TIME["fwdk"] = _KERNEL_TIME["bwdk"] = 0.0
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        x = xs.detach().requires_grad_()
        z = layer(x)
        t1 = time.perf_counter()
        s = z.sum()
        t2 = time.perf_counter()
        s.backward()
        t3 = time.perf_counter()
        f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        del x, z, s
        t4 = time.perf_counter()
        dst.copy_(xs)
        t5 = time.perf_counter()
        if r < 3:
            continue
        for k, v in (("step", t3 - t0), ("fwd", t1 - t0), ("fwdk", _KERNEL_TIME["fwdk"]), ("sum", t2 - t1),
                     ("bwd", t3 - t2), ("bwdk", _KERNEL_TIME["bwdk"]), ("copy", t5 - t4), ("faults", f1 - f0)):
            rows[k].append(v)
    return {k: statistics.median(v) for k, v in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shapes", nargs="+", help="T,B,N")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    _wrap_kernels()
    for text in args.shapes:
        T, B, N = (int(v) for v in text.split(","))
        m = breakdown((T, B, N), args.reps)
        c = m["copy"]
        phases = ("step", "fwd", "fwdk", "sum", "bwd", "bwdk")
        cells = " ".join(f"{k} {m[k] * 1e3:.2f}({m[k] / c:.2f}c)" for k in phases)
        load = open("/proc/loadavg").read().split()[0]
        print(f"[{T}, {B}, {N}] threads {args.threads} load {load}: {cells} copy {c * 1e3:.2f} | glue fwd "
              f"{(m['fwd'] - m['fwdk']) * 1e3:.2f} bwd {(m['bwd'] - m['bwdk']) * 1e3:.2f} | faults/step "
              f"{m['faults']:.0f} | step/floor {m['step'] / (2.5 * c):.2f}", flush=True)


if __name__ == "__main__":
    main()
