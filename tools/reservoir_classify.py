"""Reservoir classification on offline data: input-only, a fixed LIF liquid, NALSM with and without the astrocyte.

For each model: ridge readout on spike counts (``--bins`` time windows); for the NALSM variants also the
branching factors of the organised liquid (one-step descendants per spike, and NALSM's relay measure).

Usage:
    python tools/reservoir_classify.py --task digits [--shape 10,10,10] [--epochs 2] [--seed 0]
    python tools/reservoir_classify.py --task audio --shape 6,6,6 [--bins 4] [--classes 20 --shift 60 --noise 20]
Prints one line per model: accuracy, branching factors, seconds.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

from spikeforge.reservoir import Liquid
from spikeforge.reservoir.classify import audio_spikes, digits_spikes, ridge_accuracy, spike_counts
from spikeforge.reservoir.metrics import branching_factor, relay_branching_factor
from spikeforge.reservoir.nalsm import NALSM, NALSMConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", choices=("digits", "audio"), default="digits")
    ap.add_argument("--shape", default="10,10,10", help="liquid grid, e.g. 10,10,10 (N = 1000)")
    ap.add_argument("--epochs", type=int, default=2, help="phase-1 passes over the training inputs (20-step windows)")
    ap.add_argument("--steps", type=int, default=100, help="digits: presentation steps (1 ms)")
    ap.add_argument("--bins", type=int, default=1, help="spike-count time bins per neuron")
    ap.add_argument("--ridge", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", type=int, default=20, help="audio: number of classes")
    ap.add_argument("--shift", type=float, default=60.0, help="audio: max channel shift per sample")
    ap.add_argument("--noise", type=float, default=20.0, help="audio: background spikes per channel per second")
    ap.add_argument("--models", default="input,liquid,nalsm_frozen,nalsm_stdp,nalsm")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    shape = tuple(int(s) for s in args.shape.split(","))
    assert len(shape) == 3
    if args.task == "digits":
        xtr, ytr, xte, yte = digits_spikes(args.steps, seed=args.seed)
    else:
        xtr, ytr, xte, yte = audio_spikes(400, 200, num_classes=args.classes, seed=args.seed,
                                          channel_shift=args.shift, noise_rate=args.noise)
    n_in = xtr.shape[-1]
    print(f"task {args.task}: train {tuple(xtr.shape)} test {tuple(xte.shape)}, input rate {float(xtr.mean()):.4f}")
    base = NALSM(n_in, NALSMConfig(shape=shape, seed=args.seed))  # the same initial liquid for all NALSM rows
    probe = xte[:, :64]
    for name in args.models.split(","):
        t0 = time.time()
        extra = ""
        if name == "input":
            ftr, fte = spike_counts(lambda x: x, xtr, bins=args.bins), spike_counts(lambda x: x, xte, bins=args.bins)
        elif name == "liquid":
            liq = Liquid(n_in, shape=shape, input_scale=3.0, seed=args.seed)
            ftr, fte = spike_counts(liq, xtr, bins=args.bins), spike_counts(liq, xte, bins=args.bins)
        else:
            model = copy.deepcopy(base)
            if name != "nalsm_frozen":
                for ep in range(args.epochs):  # phase 1: 20-step windows of the training inputs, 16 per batch
                    order = torch.randperm(xtr.shape[1], generator=torch.Generator().manual_seed(ep))
                    for k in range(0, xtr.shape[1], 16):
                        start = (ep * 20) % max(1, xtr.shape[0] - 20)
                        model.organize(xtr[start: start + 20, order[k: k + 16]], astrocyte=(name == "nalsm"))
            z = model(probe)
            extra = (f" rate {float(z.mean()):.4f} sigma_1step {branching_factor(z, model.w):.3f} "
                     f"sigma_relay4 {relay_branching_factor(z, model.w, 4):.3f}")
            ftr, fte = spike_counts(model, xtr, bins=args.bins), spike_counts(model, xte, bins=args.bins)
        acc = ridge_accuracy(ftr, ytr, fte, yte, ridge=args.ridge)
        print(f"{name:14s} acc {acc:.4f}{extra} ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
