"""Where the conv SNN training step's time goes, next to its ReLU twin (issue 17).

    python tools/conv_twin_profile.py [--steps 6]

The bench's conv net (``spikeforge.bench.scenarios.conv_net("spikeforge")``: a ``SpikingSequential``
whose LIF + AvgPool2d pairs run fused), the same modules in a plain ``nn.Sequential`` (layer by layer)
and the ReLU twin (``twin_bench.relu_twin``), one training step each (forward, backward, Adam) on the
bench's input, torch on one thread. The steps alternate; each is profiled on its own
(``torch.profiler``, CPU) and the self CPU time per op is averaged over ``--steps`` steps. Prints one
row per op (ms per step) and the load average.
"""

from __future__ import annotations

import argparse
import collections
import os

import torch
import torch.nn.functional as F
from torch import nn
from torch.profiler import ProfilerActivity, profile

from spikeforge.bench.scenarios import conv_net
from spikeforge.bench.twin_bench import _train_step, relu_twin


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6, help="profiled steps per network (after 2 warm-up steps)")
    ap.add_argument("--rows", type=int, default=20, help="ops shown")
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    xs = (torch.rand(10, 32, 2, 34, 34, generator=g) < 0.15).float() * 2.0  # [T, B, 2, 34, 34] event frames
    ys = torch.randint(0, 10, (32,), generator=g)

    def loss(v: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(v.mean(0) * 5, ys)

    steps = {"fused": _train_step(conv_net("spikeforge"), xs, loss),
             "layer by layer": _train_step(nn.Sequential(*conv_net("spikeforge")), xs, loss),
             "ReLU twin": _train_step(relu_twin(conv_net("spikeforge")), xs, loss)}
    for step in steps.values():
        step()
        step()
    load0 = os.getloadavg()[0]
    acc: dict[str, collections.Counter[str]] = {k: collections.Counter() for k in steps}
    for _ in range(args.steps):
        for name, step in steps.items():
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                step()
            for e in prof.key_averages():
                acc[name][e.key] += e.self_cpu_time_total / 1e3 / args.steps  # ms per step
    ops = sorted(set().union(*acc.values()), key=lambda k: -max(a[k] for a in acc.values()))
    print(f"self CPU ms per step, {args.steps} steps each, 1 thread, load {load0:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"{'op':48s}" + "".join(f"{n:>16s}" for n in steps))
    for op in ops[:args.rows]:
        print(f"{op[:48]:48s}" + "".join(f"{acc[n][op]:16.2f}" for n in steps))
    print(f"{'total':48s}" + "".join(f"{sum(acc[n].values()):16.2f}" for n in steps))


if __name__ == "__main__":
    main()
