"""Forward + backward time of neurons with a fused model kernel, ``backend="cpp"`` vs ``"torch"``.

Each timed call is ``Neuron(backend=...)(x).sum().backward()`` on ``x = rand(size) * 2`` with
``x.requires_grad`` (default parameters); the two backends alternate within each repetition, after
one untimed warm-up call each, and the median of ``--reps`` calls is printed with the load average.
``--cpu`` adds the process CPU time of the same calls (``time.process_time``): on a loaded machine the
wall time of a multi-threaded call mostly measures waiting for the scheduler (every parallel region
waits for all its threads), CPU time much less so.

    .venv/bin/python tools/model_kernel_speed.py clif tc_lif --sizes 100,32,512 100,128,2048

Neurons default to every registered neuron with a model kernel (``kernels/model_kernels.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from spikeforge.kernels.model_kernels import model_kernel_for
from spikeforge.neurons import NEURONS


def _time(cls: type, backend: str, x: torch.Tensor) -> tuple[float, float]:
    """(wall, process CPU) seconds of one forward + backward call."""
    m = cls(backend=backend)
    x = x.detach().requires_grad_()
    t0, c0 = time.perf_counter(), time.process_time()
    m(x).sum().backward()
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("neurons", nargs="*", help="registry names (default: every neuron with a model kernel)")
    ap.add_argument("--sizes", nargs="+", default=["100,32,512", "100,128,2048"], help="T,B,N ...")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cpu", action="store_true", help="also print the median process CPU time")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.neurons or [n for n in NEURONS.names() if model_kernel_for(NEURONS.get(n).step_fn) is not None]
    for size in args.sizes:
        shape = tuple(int(s) for s in size.split(","))
        x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2  # [T, B, N]
        for name in names:
            cls = NEURONS.get(name)
            times: dict[str, list[tuple[float, float]]] = {"torch": [], "cpp": []}
            for backend in times:  # warm-up: kernel library loaded, allocator and caches primed
                _time(cls, backend, x)
            for _ in range(args.reps):
                for backend in times:
                    times[backend].append(_time(cls, backend, x))
            ref, fused = (statistics.median(w for w, _ in times[b]) * 1e3 for b in ("torch", "cpp"))
            load = os.getloadavg()[0]
            cpu = ""
            if args.cpu:
                cref, cfused = (statistics.median(c for _, c in times[b]) * 1e3 for b in ("torch", "cpp"))
                cpu = f"  cpu: torch {cref:8.1f} ms  cpp {cfused:7.1f} ms  x{cref / cfused:5.1f}"
            print(f"{name:10s} {list(shape)}  torch {ref:8.1f} ms  cpp {fused:7.1f} ms  x{ref / fused:5.1f}{cpu}  "
                  f"(median of {args.reps}, {args.threads} threads, load {load:.1f})", flush=True)


if __name__ == "__main__":
    main()
