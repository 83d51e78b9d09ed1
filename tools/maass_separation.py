"""Separation property of the Maass liquid (after Maass et al. 2002, Fig. 2; our own pair protocol).

Pairs of one-channel 20 Hz Poisson inputs (u, v): v is u with every spike moved to a fresh random
time with probability ``p``. Input distance as in Brian2's reproduction of Fig. 2: both trains
filtered with a Gaussian kernel exp(-(t/5 ms)^2), squared L2 distance integrated over time (ms) and
divided by the duration (ms). State distance: mean over neurons of the squared difference of the
two liquids' states (spikes filtered with exp(-t/30 ms)), averaged over pairs, at several times.
Every run starts from its own random membrane U(13.5, 15) mV (so p = 0 is not 0).

    .venv/bin/python tools/maass_separation.py --pairs 20 --ms 300
"""

from __future__ import annotations

import argparse
import math

import torch

from spikeforge.reservoir.liquid import exp_filter
from spikeforge.reservoir.maass import LSM
from spikeforge.reservoir.separation import separation, spike_distance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--ms", type=float, default=300.0, help="duration [ms]")
    ap.add_argument("--p", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    lsm = LSM(1, seed=args.seed)
    dt = lsm.cfg.dt
    T = round(args.ms * 1e-3 / dt)
    g = torch.Generator().manual_seed(args.seed + 1)
    P, n = len(args.p), args.pairs
    u = (torch.rand(T, P * n, generator=g, dtype=torch.float64) < 20 * dt).double()  # [T, P*n]
    v = u.clone()
    for a, p in enumerate(args.p):
        for b in range(a * n, (a + 1) * n):
            times = u[:, b].nonzero()[:, 0]
            move = torch.rand(times.numel(), generator=g) < p
            v[times[move], b] = 0
            v[torch.randint(0, T, (int(move.sum()),), generator=g), b] = 1
    x = torch.cat([u, v], 1)[..., None]  # [T, 2*P*n, 1]
    ms = dt * 1e3
    d_in = torch.tensor([spike_distance(u[:, b].nonzero()[:, 0].double() * ms, v[:, b].nonzero()[:, 0].double() * ms)
                         for b in range(P * n)]) / args.ms  # [P*n], the paper's normalisation (no square root)
    v0 = 13.5 + 1.5 * torch.rand(x.shape[1], lsm.n, generator=g, dtype=torch.float64)
    z, _ = lsm(x, lsm.init_state(x.shape[1], v0=v0))  # [T, 2Pn, N]
    s = exp_filter(z.double(), 30e-3, dt)  # [T, 2Pn, N]
    dist = separation(s[:, : P * n], s[:, P * n :], mean=False)  # [T, P*n]
    marks = [t for t in (25, 50, 100, 200, 300, 400, 500) if t <= args.ms]
    print(f"# {n} pairs per p, {args.ms:g} ms, one 20 Hz channel, liquid seed {args.seed}, "
          f"mean rate {float(z.double().mean()) / dt:.1f} Hz")
    print("| p (moved spikes) | input distance | " + " | ".join(f"state dist. {t} ms" for t in marks) + " |")
    print("|---|---|" + "---|" * len(marks))
    for a, p in enumerate(args.p):
        sel = slice(a * n, (a + 1) * n)
        row = [float(dist[round(t * 1e-3 / dt) - 1, sel].mean()) for t in marks]
        print(f"| {p:g} | {float(d_in[sel].mean()):.3f} | " + " | ".join(f"{r:.3f}" for r in row) + " |")
    assert math.isfinite(float(dist.sum()))


if __name__ == "__main__":
    main()
