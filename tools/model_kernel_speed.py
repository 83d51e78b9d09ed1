"""Forward + backward time of neurons with a fused model kernel, ``backend="cpp"`` vs ``"torch"``.

Each timed call is ``Neuron(backend=...)(x).sum().backward()`` on ``x = rand(size) * 2`` with
``x.requires_grad`` (default parameters); the two backends alternate within each repetition, after
one untimed warm-up call each, and the median of ``--reps`` calls is printed with the load average.

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


def _time(cls: type, backend: str, x: torch.Tensor) -> float:
    m = cls(backend=backend)
    x = x.detach().requires_grad_()
    t0 = time.perf_counter()
    m(x).sum().backward()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("neurons", nargs="*", help="registry names (default: every neuron with a model kernel)")
    ap.add_argument("--sizes", nargs="+", default=["100,32,512", "100,128,2048"], help="T,B,N ...")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.neurons or [n for n in NEURONS.names() if model_kernel_for(NEURONS.get(n).step_fn) is not None]
    for size in args.sizes:
        shape = tuple(int(s) for s in size.split(","))
        x = torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2  # [T, B, N]
        for name in names:
            cls = NEURONS.get(name)
            times: dict[str, list[float]] = {"torch": [], "cpp": []}
            for backend in times:  # warm-up: kernel library loaded, allocator and caches primed
                _time(cls, backend, x)
            for _ in range(args.reps):
                for backend in times:
                    times[backend].append(_time(cls, backend, x))
            ref, fused = (statistics.median(times[b]) * 1e3 for b in ("torch", "cpp"))
            load = os.getloadavg()[0]
            print(f"{name:10s} {list(shape)}  torch {ref:8.1f} ms  cpp {fused:7.1f} ms  x{ref / fused:5.1f}  "
                  f"(median of {args.reps}, {args.threads} threads, load {load:.1f})", flush=True)


if __name__ == "__main__":
    main()
