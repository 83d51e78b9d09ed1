"""Benchmark: events/s and synaptic updates/s of the event-driven simulator, next to Brian2.

``python -m spikeforge.sim.bench`` builds a recurrent LIF network with fixed in-degree (default
10⁵ neurons × 100 = 10⁷ synapses, delays 1–3 steps, refractory 2 ms, Euler, dt = 0.1 ms, constant
suprathreshold drive for about half the neurons, random initial membranes), simulates it for
``--steps`` steps with fixed weights and then with on-line pair STDP, and reports:

- spikes/s: spikes emitted per second of wall time;
- deliveries/s: synaptic events (spike × out-going synapse) per second;
- weight updates/s (STDP): synapses updated (depression on pre spikes + potentiation on post
  spikes) per second;

then the same network (same synapses, weights, delays, currents, initial state) in Brian2 (numpy
target by default: no compiler, one thread) and whether the spike trains are identical (fixed
weights, float64). Build times are reported separately and not counted.
"""

from __future__ import annotations

import argparse
import platform
import time
from typing import Any

import torch

from ..plasticity.stdp import STDP
from .engine import SpikeEvents
from .generators import fixed_indegree
from .graph import SparseGraph
from .network import EventNetwork

__all__ = ["build", "network", "main"]


def build(n: int, k: int, *, seed: int = 0,
          dtype: torch.dtype = torch.float64) -> tuple[SparseGraph, torch.Tensor, torch.Tensor]:
    """The benchmark graph, its constant current ``[N]`` and initial membrane ``[N]``."""
    gen = torch.Generator().manual_seed(seed)
    g = fixed_indegree(n, k, generator=gen, dtype=dtype)
    w = torch.randn(g.n_synapses, generator=gen, dtype=dtype) * (30.0 / k ** 0.5)  # jump 0.01 w per event
    g = g.with_weights(w.clamp(-10, 10)).with_delays(torch.randint(1, 4, (g.n_synapses,), generator=gen))
    cur = 0.8 + 0.4 * torch.rand(n, generator=gen, dtype=dtype)  # rheobase 1: about half driven
    v0 = torch.rand(n, generator=gen, dtype=dtype)
    return g, cur, v0


def network(g: SparseGraph, stdp: bool, dt: float = 1e-4) -> EventNetwork:
    """LIF, tau 10 ms, refractory 2 ms, reset to 0; with ``stdp``: pair STDP (20 ms, 1e-3), weights in [-10, 10]."""
    rule = STDP(dt=dt, tau_pre=20e-3, tau_post=20e-3, eta_plus=1e-3, eta_minus=1.05e-3) if stdp else None
    return EventNetwork(g, tau_mem=10e-3, dt=dt, t_ref=2e-3, v_reset=0.0, stdp=rule,
                        w_bounds=(-10.0, 10.0) if stdp else None)


def _rates(events_i: Any, net: EventNetwork, seconds: float, wall: float) -> dict[str, float]:
    """Rates per second of CPU time of the (single-threaded) run."""
    i = torch.as_tensor(events_i)
    spikes = i.numel()
    deliveries = int(net.graph.out_degree()[i].sum()) if spikes else 0
    updates = deliveries + (int(net.graph.in_degree()[i].sum()) if spikes else 0)
    out = {"spikes": spikes, "seconds": seconds, "wall": wall, "spikes/s": spikes / seconds,
           "deliveries/s": deliveries / seconds}
    if net.stdp is not None:
        out["weight updates/s"] = updates / seconds
    return out


def run_ours(net: EventNetwork, cur: torch.Tensor, v0: torch.Tensor,
             steps: int) -> tuple[SpikeEvents, float, float]:
    """Spikes, CPU seconds and wall seconds of ``steps`` steps from ``v0``."""
    state = net.init_state(1, v0=v0, dtype=cur.dtype)
    net.run(cur, state, steps=min(steps, 20))  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    events, _ = net.run(cur, state, steps=steps)
    return events, time.process_time() - c0, time.perf_counter() - t0


def _fmt(x: float) -> str:
    return f"{x:.3g}" if x < 1e3 else f"{x:.3e}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m spikeforge.sim.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="neurons")
    ap.add_argument("--k", type=int, default=100, help="in-degree (synapses = n k)")
    ap.add_argument("--steps", type=int, default=1000, help="steps of dt = 0.1 ms")
    ap.add_argument("--dtype", default="float64", choices=("float32", "float64"))
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (Brian2's numpy target uses one)")
    ap.add_argument("--brian2", choices=("numpy", "cython", "none"), default="numpy",
                    help="Brian2 code generation target, or none")
    ap.add_argument("--brian2-n", type=int, default=None, help="Brian2 network size if smaller (same k)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    print(f"# event-driven simulation: N={args.n}, k={args.k} ({args.n * args.k:.2e} synapses), "
          f"{args.steps} steps of 0.1 ms, {args.dtype}, torch {torch.__version__} ({args.threads} thread), "
          f"{platform.processor() or platform.machine()}")
    rows = []
    ours_fixed = None
    t0 = time.perf_counter()
    g, cur, v0 = build(args.n, args.k, dtype=dtype)
    build_s = time.perf_counter() - t0
    for stdp in (False, True):
        net = network(g, stdp)
        events, secs, wall = run_ours(net, cur, v0, args.steps)
        if not stdp:
            ours_fixed = events
        rows.append(("spikeforge.sim", "STDP" if stdp else "fixed", args.n, build_s, _rates(events.i, net, secs, wall)))
    if args.brian2 != "none":
        from .brian2_peer import brian2_run, import_brian2
        b2: Any = import_brian2()
        nb = args.brian2_n or args.n
        g, cur, v0 = build(nb, args.k, dtype=torch.float64)
        for stdp in (False, True):
            net = network(g, stdp)
            r = brian2_run(net, cur, v0, args.steps, target=args.brian2)
            rows.append((f"brian2 {b2.__version__} ({args.brian2})", "STDP" if stdp else "fixed", nb, r.build_s,
                         _rates(r.i, net, r.run_cpu_s, r.run_s)))
            if not stdp and nb == args.n and ours_fixed is not None:
                same = sorted(zip(ours_fixed.t.tolist(), ours_fixed.i.tolist())) == sorted(zip(r.t.tolist(),
                                                                                                r.i.tolist()))
                print(f"# spike trains identical to Brian2's (fixed weights): {same} "
                      f"({ours_fixed.t.numel()} vs {len(r.t)} spikes)")
    print("\nRates per CPU second of the run (one thread; wall time in brackets, it includes waiting for a core).")
    print("\n| simulator | weights | N | build [s] | run CPU (wall) [s] | spikes | spikes/s | deliveries/s | "
          "weight updates/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, mode, n, build_s, m in rows:
        print(f"| {name} | {mode} | {n} | {build_s:.1f} | {m['seconds']:.2f} ({m['wall']:.2f}) | {m['spikes']} "
              f"| {_fmt(m['spikes/s'])} "
              f"| {_fmt(m['deliveries/s'])} | {_fmt(m['weight updates/s']) if 'weight updates/s' in m else '-'} |")


if __name__ == "__main__":
    main()
