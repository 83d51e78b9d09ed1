"""A/B timing of builds of the fused LIF + average pooling kernels (``kernels/csrc/lif_pool.cpp``), issue 17.

Times ``sf_lifpool_fwd_f32`` and ``sf_lifpool_bwd_f32`` called directly through ctypes on
preallocated, already-touched outputs (no Python, autograd or page faults in the numbers), on the
bench conv net's two LIF + ``AvgPool2d(2)`` layers by default (``spikeforge.bench.scenarios.conv_net``,
channels-last: ``[T, NO, H, W, CI]`` = ``[10, 32, 34, 34, 16]`` and ``[10, 32, 17, 17, 32]``), with
its dynamics (decay 0.9, threshold 1, reset to zero, detached reset, fast-sigmoid surrogate of
slope 1, zero initial state passed as one value, no final-state gradient). A same-size
``dst.copy_(x)`` is timed in the same rounds. Builds are compared interleaved in one process (the
jobs in a fresh shuffled order each round) and the ratio of each build to the first is the median of
the per-round ratios. Before timing, pooled spikes, final state, input gradient and initial-state
gradient of every build must equal the first build's bit for bit, on every shape and for every reset
(with a final-state gradient and a strided pooled gradient too).

Build a variant with the flags of ``kernels/_build.py`` (only ``lif_pool.cpp`` is needed)::

    g++ -O3 -march=native -ffp-contract=off -fno-math-errno -fno-trapping-math -fopenmp -fPIC \
        -std=c++17 -shared -I spikeforge/kernels/csrc lif_pool.cpp -o /tmp/variant.so

and compare: ``python tools/lif_pool_kernel_ab.py /tmp/old.so /tmp/variant.so`` (``--threads 1 --cpu``:
one kernel thread and the CPU time of that thread instead of wall time).

``--conv-step``: instead, the bench's whole conv training step (``twin_bench._train_step`` on
``conv_net("spikeforge")``, forward, backward, Adam, torch on one thread) once per build, with
``kernels.lif_pool`` pointed at that build, and the ReLU twin, interleaved in one process (order
rotated per round); prints each step's median CPU time and the median (min-max) of the per-round
ratios twin / step and step / first build's step. Process CPU time, so other processes' load moves
every column alike within a round.
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

_L, _D, _P = ctypes.c_int64, ctypes.c_double, ctypes.c_void_p
_CONV = ((10, 32, 34, 34, 16, 2), (10, 32, 17, 17, 32, 2))  # the bench conv net's LIF + pooling layers
_RESETS = {"sub": 0, "value": 1, "zero": 2, "none": 3}


class Case:
    """Inputs and preallocated outputs of one layer: ``x [T, NO, H, W, CI]``, pooled gradient ``gy``."""

    def __init__(self, geom: tuple[int, ...], seed: int, strided_gy: bool = False, gvT: bool = False) -> None:
        T, NO, H, W, CI, k = geom
        self.geom = geom
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(T, NO, H, W, CI, generator=g) * 0.6 + 0.2  # ~10-15 % firing at decay 0.9
        gy = torch.randn(T, NO, H // k, W // k, CI, generator=g) * 1e-3
        self.gy = gy.transpose(0, 1).contiguous().transpose(0, 1) if strided_gy else gy  # same values, other strides
        self.gys = (_L * 5)(*self.gy.stride())
        self.v0 = torch.zeros(1)
        self.gvT = torch.randn(NO, H, W, CI, generator=g) if gvT else None
        self.y = torch.zeros(T, NO, H // k, W // k, CI)
        self.vT, self.gx, self.gv0 = torch.zeros(NO, H, W, CI), torch.zeros_like(self.x), torch.zeros(NO, H, W, CI)
        self.dst = torch.zeros_like(self.x)
        self.cf = (_D * 5)(0.9, 1.0, 0.0, 1.0, 0.0)  # c1 c2 c3 vth vr
        self.bad = (_L * 1)()

    def fwd(self, lib: ctypes.CDLL, nt: int, reset: int = 2) -> None:
        T, NO, H, W, CI, k = self.geom
        rc = lib.sf_lifpool_fwd_f32(_L(T), _L(NO), _L(H), _L(W), _L(CI), _L(k), reset, _P(self.x.data_ptr()),
                                    _P(self.y.data_ptr()), _P(self.v0.data_ptr()), 1, _P(self.vT.data_ptr()),
                                    self.cf, nt, 0, self.bad)
        assert rc == 0, rc

    def bwd(self, lib: ctypes.CDLL, nt: int, reset: int = 2, detach: int = 1, gv0: bool = False) -> None:
        T, NO, H, W, CI, k = self.geom
        rc = lib.sf_lifpool_bwd_f32(_L(T), _L(NO), _L(H), _L(W), _L(CI), _L(k), reset, detach, 3, _D(1.0),
                                    _P(self.x.data_ptr()), _P(self.gy.data_ptr()), self.gys, _P(self.v0.data_ptr()),
                                    1, None if self.gvT is None else _P(self.gvT.data_ptr()), _P(self.gx.data_ptr()),
                                    _P(self.gv0.data_ptr()) if gv0 else None, self.cf, nt)
        assert rc == 0, rc

    def outputs(self) -> list[torch.Tensor]:
        return [t.clone() for t in (self.y, self.vT, self.gx, self.gv0)]


def check_equal(libs: list[ctypes.CDLL], paths: list[str], nt: int) -> None:
    """Every build's outputs equal the first's bit for bit, over shapes, resets, detach, strides."""
    geoms = list(_CONV) + [(3, 2, 7, 9, 3, 3), (4, 3, 5, 4, 1, 2)]  # + odd sizes: unpooled rows and columns
    for gi, geom in enumerate(geoms):
        for strided, gvT in ((False, False), (True, True)):
            case = Case(geom, gi, strided, gvT)
            for reset in _RESETS.values():
                for detach in (0, 1):
                    ref = None
                    for path, lib in zip(paths, libs):
                        for t in (case.y, case.vT, case.gx, case.gv0):
                            t.fill_(float("nan"))
                        case.fwd(lib, nt, reset)
                        case.bwd(lib, nt, reset, detach, gv0=True)
                        out = case.outputs()
                        if ref is None:
                            ref = out
                        elif not all(torch.equal(a, b) for a, b in zip(ref, out)):
                            raise SystemExit(f"{path}: outputs differ from {paths[0]} on {geom}, reset {reset}, "
                                             f"detach {detach}, strided gy {strided}")


def conv_step_ab(paths: list[str], reps: int) -> None:
    """The conv bench step with each build of the fused kernel, and the ReLU twin, interleaved."""
    import os

    import torch.nn.functional as F

    from spikeforge.bench.scenarios import conv_net
    from spikeforge.bench.twin_bench import _train_step, relu_twin
    from spikeforge.kernels import lif_pool

    sigs = {"fwd": "LLLLLLIPPPIPPIIP", "bwd": "LLLLLLIIIDPPPPIPPPPI"}  # lif_pool._lib's declarations
    types = {"L": ctypes.c_int64, "I": ctypes.c_int, "D": ctypes.c_double, "P": ctypes.c_void_p}
    libs = []
    for path in paths:
        lib = ctypes.CDLL(path)
        for kind, sig in sigs.items():
            for suf in ("f32", "f64"):
                fn = getattr(lib, f"sf_lifpool_{kind}_{suf}")
                fn.argtypes, fn.restype = [types[c] for c in sig], ctypes.c_int
        libs.append(lib)
    current: list[ctypes.CDLL] = [libs[0]]
    lif_pool._lib = lambda: current[0]  # the build the next step runs
    g = torch.Generator().manual_seed(0)
    xs = (torch.rand(10, 32, 2, 34, 34, generator=g) < 0.15).float() * 2.0  # the bench's event frames
    ys = torch.randint(0, 10, (32,), generator=g)

    def loss(v: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(v.mean(0) * 5, ys)

    def with_lib(lib: ctypes.CDLL, step: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            current[0] = lib
            step()
        return run

    jobs = [(f"SNN step, build {i}", with_lib(lib, _train_step(conv_net("spikeforge"), xs, loss)))
            for i, lib in enumerate(libs)]
    jobs.append(("ReLU twin", _train_step(relu_twin(conv_net("spikeforge")), xs, loss)))
    for _ in range(2):
        for _, job in jobs:
            job()
    times: dict[str, list[float]] = {name: [] for name, _ in jobs}
    load0 = os.getloadavg()[0]
    for r in range(reps):
        for name, job in jobs[r % len(jobs):] + jobs[:r % len(jobs)]:
            t0 = time.process_time()
            job()
            times[name].append(time.process_time() - t0)
    twin, first = times["ReLU twin"], times["SNN step, build 0"]
    print(f"conv bench step, torch on 1 thread, process CPU time, {reps} rounds, load {load0:.1f} -> "
          f"{os.getloadavg()[0]:.1f}")
    for (name, _), path in zip(jobs, paths + ["(dense nn.Conv2d + ReLU)"]):
        t = times[name]
        tw = [b / a for a, b in zip(t, twin)]
        line = f"  {name} {path}: {statistics.median(t) * 1e3:.1f} ms, twin / this {statistics.median(tw):.3f} " \
               f"({min(tw):.2f}-{max(tw):.2f})"
        if name.startswith("SNN") and t is not first:
            rel = [a / b for a, b in zip(t, first)]
            line += f", this / build 0 {statistics.median(rel):.3f} ({min(rel):.2f}-{max(rel):.2f})"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("libs", nargs="+", help="shared libraries built from lif_pool.cpp; the first is the baseline")
    ap.add_argument("--reps", type=int, default=21)
    ap.add_argument("--threads", type=int, default=1, help="kernel threads (the conv bench runs torch on 1)")
    ap.add_argument("--cpu", action="store_true", help="CPU time (of the thread with --threads 1) instead of wall")
    ap.add_argument("--conv-step", action="store_true", help="time the bench conv training step per build instead")
    args = ap.parse_args()
    if args.conv_step:
        torch.set_num_threads(1)
        conv_step_ab(args.libs, args.reps)
        return
    torch.set_num_threads(args.threads)
    clock = (time.thread_time if args.threads == 1 else time.process_time) if args.cpu else time.perf_counter
    libs = [ctypes.CDLL(p) for p in args.libs]
    nt = args.threads
    check_equal(libs, args.libs, nt)
    cases = [Case(geom, 100 + i) for i, geom in enumerate(_CONV)]

    def both(case_job: str, lib: ctypes.CDLL) -> None:  # both layers, as one conv step runs them
        for c in cases:
            getattr(c, case_job)(lib, nt)

    def copy() -> None:
        for c in cases:
            c.dst.copy_(c.x)

    jobs: list[tuple[str, Callable[[], None]]] = [("copy", copy)]
    for i, lib in enumerate(libs):
        jobs += [(f"fwd{i}", functools.partial(both, "fwd", lib)), (f"bwd{i}", functools.partial(both, "bwd", lib))]
    for _, job in jobs:  # warm-up: touch everything once
        job()
    times = run_interleaved(jobs, args.reps, clock)
    copy_s = statistics.median(times["copy"])
    shapes = " + ".join(str(list(c.geom[:5])) for c in cases)
    print(f"{shapes} threads {nt} ({'CPU' if args.cpu else 'wall'} time), {args.reps} rounds: "
          f"copy of the inputs {copy_s * 1e3:.2f} ms")
    print_builds(args.libs, times)

if __name__ == "__main__":
    main()
