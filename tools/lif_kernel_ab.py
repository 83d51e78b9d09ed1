"""A/B timing of builds of the fused LIF kernels (``kernels/csrc/lif.cpp``), kernels only (issue 17).

Times the forward and the backward kernel of the bench LIF layer (decay 0.9, threshold 1, reset to
zero, detached reset, fast-sigmoid surrogate of slope 1, ``loss = spikes.sum()``) called directly
through ctypes on preallocated, already-touched outputs, so neither Python, autograd nor page faults
are in the numbers; a same-size ``dst.copy_(x)`` is timed in the same rounds. Several builds are
compared interleaved in one process (round after round, the jobs A B ... copy in a shuffled order
each round, since a fixed order biased whichever job followed the copy), and the ratio of each build
to the first is the median of the per-round ratios, which is what stays meaningful on a loaded
machine. Spikes and input gradients of every build must equal the first build's bit for bit.

Build a variant with the flags of ``kernels/_build.py`` (only ``lif.cpp`` is needed)::

    g++ -O3 -march=native -ffp-contract=off -fno-math-errno -fno-trapping-math -fopenmp -fPIC \
        -std=c++17 -shared lif.cpp -o /tmp/variant.so

and compare: ``python tools/lif_kernel_ab.py 8,64,16384 /tmp/old.so /tmp/variant.so``
(``--threads 1 --cpu``: one kernel thread, and torch's copy on one thread too, CPU time of that
thread instead of wall time; with more threads ``--cpu`` is the process CPU time).
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import statistics
import time
from collections.abc import Callable

import torch
from _ab_common import print_builds, run_interleaved  # sibling module

_P3 = ctypes.c_void_p * 3
_P9 = ctypes.c_void_p * 9
_L = ctypes.c_int64


def _ptrs(cls: type, tensors: list[torch.Tensor | None]) -> ctypes.Array:
    return cls(*[None if t is None else t.data_ptr() for t in tensors])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shape", help="T,B,N")
    ap.add_argument("libs", nargs="+", help="shared libraries built from lif.cpp; the first is the baseline")
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(), help="kernel threads")
    ap.add_argument("--cpu", action="store_true", help="process CPU time instead of wall time")
    args = ap.parse_args()
    T, B, N = (int(s) for s in args.shape.split(","))
    M = B * N
    # torch's copy runs on the same number of threads as the kernels: with more, its idle OpenMP workers
    # spin into the next job's process CPU time; one thread's CPU time is that thread's own
    torch.set_num_threads(args.threads)
    clock = (time.thread_time if args.threads == 1 else time.process_time) if args.cpu else time.perf_counter
    x = torch.randn(T, M, generator=torch.Generator().manual_seed(0)) * 0.3 + 0.1  # [T, M], ~7 % firing
    z, gx, dst = torch.zeros(T, M), torch.zeros(T, M), torch.zeros(T, M)  # touched before timing
    v0, vT = torch.zeros(M), torch.zeros(M)
    gz = torch.ones(1).expand(T, M)  # the gradient of spikes.sum(): strides (0, 0)
    coefs = [torch.tensor([c]) for c in (0.9, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0)]  # c1 c2 c3 vth vr ...
    table = _ptrs(_P9, coefs)  # type: ignore[arg-type]
    bad = (ctypes.c_int64 * 3)()
    libs = [ctypes.CDLL(p) for p in args.libs]
    nt = args.threads

    def fwd(lib: ctypes.CDLL) -> None:  # kind LIF 0, reset zero 2, unchecked, every coefficient broadcast
        lib.sf_forward_f32(0, 2, _L(T), _L(M), ctypes.c_void_p(x.data_ptr()), ctypes.c_void_p(z.data_ptr()),
                           _ptrs(_P3, [None, v0, None]), _ptrs(_P3, [None, vT, None]), table, nt, 0, bad,
                           _L(0x1FF))

    def bwd(lib: ctypes.CDLL) -> None:  # detached reset, fast sigmoid (code 3) of slope 1, no parameter grads
        lib.sf_backward_f32(0, 2, 1, 3, ctypes.c_double(1.0), _L(T), _L(M), ctypes.c_void_p(x.data_ptr()),
                            ctypes.c_void_p(gz.data_ptr()), _L(0), _L(0), ctypes.c_void_p(gx.data_ptr()),
                            _ptrs(_P3, [None, v0, None]), _P3(), _P3(), table, _P9(), 0, nt, _L(0x1FF))

    ref: tuple[torch.Tensor, torch.Tensor] | None = None
    for path, lib in zip(args.libs, libs):
        fwd(lib)
        bwd(lib)
        if ref is None:
            ref = (z.clone(), gx.clone())
        elif not (torch.equal(z, ref[0]) and torch.equal(gx, ref[1])):
            raise SystemExit(f"{path}: spikes or input gradient differ from {args.libs[0]}")
    jobs: list[tuple[str, Callable[[], None]]] = []
    for i, lib in enumerate(libs):
        jobs += [(f"fwd{i}", functools.partial(fwd, lib)), (f"bwd{i}", functools.partial(bwd, lib))]

    def copy() -> None:
        dst.copy_(x)

    jobs.append(("copy", copy))
    times = run_interleaved(jobs, args.reps, clock)
    copy_s = statistics.median(times["copy"])
    print(f"[{T}, {B}, {N}] threads {nt} ({'CPU' if args.cpu else 'wall'} time): copy {copy_s * 1e3:.2f} ms")
    print_builds(args.libs, times)

if __name__ == "__main__":
    main()
