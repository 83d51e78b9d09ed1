"""Benchmark: the Maass 2002 liquid (spikeforge.reservoir.maass) vs Brian2 on the same network.

The default liquid (135 neurons, Tsodyks–Markram synapses, delays, dt = 0.1 ms) driven by
``--n-in`` Poisson input channels at ``--rate`` Hz for ``--steps`` steps. spikeforge runs one
liquid (B = 1, the same work as Brian2) and ``--batch`` independent liquids at once (different
inputs); Brian2 runs B = 1 with each code generation target, after a warm-up run (so its one-off
sympy/compilation time is reported as build, not run). Rates are neuron-steps per CPU second of the
run (one thread). The spike trains of B = 1 are compared with Brian2's.

    .venv/bin/python tools/bench_maass_lsm.py --steps 5000 --batch 64 --brian2 numpy cython
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from spikeforge.reservoir.maass import LSM


def _poisson(T: int, B: int, n_in: int, rate: float, dt: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, n_in, generator=g, dtype=torch.float64) < rate * dt).to(torch.float64)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--n-in", type=int, default=4)
    ap.add_argument("--rate", type=float, default=20.0, help="input Poisson rate per channel [Hz]")
    ap.add_argument("--batch", type=int, default=64, help="liquids simulated at once (spikeforge)")
    ap.add_argument("--brian2", nargs="*", default=["numpy"], help="Brian2 targets (numpy, cython); none to skip")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    lsm = LSM(args.n_in, seed=args.seed)
    dt, n = lsm.net.cfg.dt, lsm.n
    print(f"# Maass LSM: N={n}, {lsm.net.graph.n_synapses} synapses, {args.n_in} inputs at {args.rate} Hz, "
          f"{args.steps} steps of {dt * 1e3} ms, float64, torch {torch.__version__} (1 thread), "
          f"{platform.processor() or platform.machine()}")
    rows = []
    x1 = None
    ours1 = None
    for B in sorted({1, args.batch}):
        x = _poisson(args.steps, B, args.n_in, args.rate, dt, args.seed + 1)
        lsm(x[:50])  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        z, _ = lsm(x)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        rows.append(("spikeforge", B, cpu, wall, int(z.sum())))
        if B == 1:
            x1, ours1 = x, z
    for target in args.brian2:
        if target == "none":
            continue
        from spikeforge.reservoir.maass_brian2 import maass_brian2_run
        assert x1 is not None and ours1 is not None
        r = maass_brian2_run(lsm.net, x1[:, 0], target=target, warmup=True)
        rows.append((f"brian2 ({target})", 1, r.run_cpu_s, r.run_s, len(r.t)))
        ours = sorted(zip(*(a.tolist() for a in ours1[:, 0].nonzero(as_tuple=True))))
        same = ours == sorted(zip(r.t.tolist(), r.i.tolist()))
        print(f"# brian2 {target}: spike trains identical to spikeforge's: {same} ({len(ours)} vs {len(r.t)} spikes); "
              f"build {r.build_s:.1f} s, warm-up run (code generation) {r.warmup_s:.1f} s")
    print("\n| simulator | B | run CPU (wall) [s] | spikes | neuron-steps/s | steps/s per liquid |")
    print("|---|---|---|---|---|---|")
    for name, B, cpu, wall, spikes in rows:
        print(f"| {name} | {B} | {cpu:.2f} ({wall:.2f}) | {spikes} | {B * n * args.steps / cpu:.3g} | "
              f"{args.steps / cpu:.3g} |")


if __name__ == "__main__":
    main()
