"""Jittered spike-template classification with the Maass liquid vs the same readout on the input.

Accuracy of a ridge readout on the liquid state (spikes filtered with 30 ms) at the end of a
100 ms jittered template followed by ``tail`` ms of fresh Poisson input, for several tails and seeds
(:func:`spikeforge.reservoir.maass_tasks.template_classification`).

    .venv/bin/python tools/maass_templates.py --tails 0 25 50 100 --seeds 0 1 --n 200
"""

from __future__ import annotations

import argparse
import time

import torch

from spikeforge.reservoir.maass import MaassConfig
from spikeforge.reservoir.maass_tasks import template_classification


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tails", type=float, nargs="+", default=[0.0, 25.0, 50.0, 100.0], help="[ms]")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--n", type=int, default=200, help="training and test samples each")
    ap.add_argument("--templates", type=int, default=2)
    ap.add_argument("--static", action="store_true", help="static synapses instead of Tsodyks-Markram")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = MaassConfig(stp=not args.static)
    print(f"# {args.templates} templates, 4 channels at 20 Hz, 100 ms + tail, jitter 4 ms, "
          f"{args.n} train / {args.n} test, {'static' if args.static else 'dynamic'} synapses")
    print("| tail [ms] | seed | liquid acc | input-only acc | liquid rate [Hz] | wall [s] |")
    print("|---|---|---|---|---|---|")
    for tail in args.tails:
        for seed in args.seeds:
            t0 = time.perf_counter()
            r = template_classification(args.n, args.n, cfg=cfg, seed=seed, tail=tail / 1e3,
                                        n_templates=args.templates)
            print(f"| {tail:g} | {seed} | {r.acc_liquid:.3f} | {r.acc_input:.3f} | {r.rate_hz:.1f} | "
                  f"{time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
