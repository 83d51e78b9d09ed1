"""Memory retention of our AM-SU stand-in (``astro_lif``, *not* the paper's equations) on the delayed cue.

AM-SU (Shen et al., arXiv 2312.07625) claims memory retention / long-term dependencies from an astrocyte
inside the unit. Its equations were not available here (reference ``training_conversion_neurons.md`` §4.10:
[—]), so this measures the reference's labelled placeholder form: a slow astrocyte state (τ_astro) that
raises the threshold after activity. Same network as ``tools/research_neurons.py cue`` (Linear → 48 neurons
→ Linear, read-out at the go step), one neuron swapped:

- ``LIF``: no slow state (τ_mem 20 ms): cannot bridge the delay;
- ``ALIF``: threshold adaptation (τ_adapt 200 ms, the LSNN mechanism), the classic slow-threshold memory;
- ``AstroLIF k``: astrocyte threshold θ = v_th (1 + k a), τ_astro 200 ms, one astrocyte per neuron
  (``--domain d``: one per d neurons, a population rate). With one per neuron it *is* ALIF with a rescaled
  ``adapt`` (``tests/kernels/test_unfused_neurons.py``), so that setting measures threshold adaptation.

Usage::

    .venv/bin/python tools/astro_memory.py --delay 50 --epochs 10 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from research_common import LIFNet, n_params, train  # noqa: E402  (sibling script)

from spikeforge.data.generators import delayed_cue  # noqa: E402
from spikeforge.neurons import ALIF, LIF, AstroLIF  # noqa: E402


def models(c: int, h: int, o: int, ks: list[float], adapts: list[float], gain: float,
           domain: int | None) -> dict[str, nn.Module]:
    """ALIF's ``a`` counts spikes (+1 each), AstroLIF's is a rate (+dt/τ_astro = 0.005 each): AstroLIF ``k``
    raises the threshold like ALIF ``adapt = k · 0.005 · v_th``."""
    out: dict[str, nn.Module] = {"LIF": LIFNet(c, h, o, LIF(tau_mem=20e-3, size=h, learn=("tau_mem",)), gain)}
    for a in adapts:
        out[f"ALIF adapt={a:g}"] = LIFNet(c, h, o, ALIF(tau_mem=20e-3, tau_adapt=200e-3, adapt=a, size=h,
                                                        learn=("tau_mem",)), gain)
    for k in ks:
        out[f"AstroLIF k={k:g}"] = LIFNet(c, h, o, AstroLIF(tau_mem=20e-3, tau_astro=200e-3, k_astro=k, size=h,
                                                             learn=("tau_mem",), domain=domain), gain)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--delay", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--hidden", type=int, default=48)
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--k", type=float, nargs="+", default=[1.0, 10.0, 30.0], help="AstroLIF threshold gains")
    ap.add_argument("--adapt", type=float, nargs="+", default=[0.05, 1.0], help="ALIF adaptation strengths")
    ap.add_argument("--gain", type=float, default=1.0, help="scale of the hidden input current (all models)")
    ap.add_argument("--domain", type=int, default=None, help="AstroLIF neurons per astrocyte (default: one each)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"gain {args.gain}, astrocyte domain {args.domain}")
    print("| model | params | delay | seed | test acc | wall s |\n|---|---|---|---|---|---|")
    for seed in args.seeds:
        g = torch.Generator().manual_seed(seed)
        x, y = delayed_cue(args.n_train, 4, delay=args.delay, generator=g)
        xt, yt = delayed_cue(500, 4, delay=args.delay, generator=g)
        x, xt = x.transpose(0, 1), xt.transpose(0, 1)  # [N, T, C] -> [T, N, C]
        for name, m in models(x.shape[-1], args.hidden, 4, args.k, args.adapt, args.gain, args.domain).items():
            torch.manual_seed(seed)
            t0 = time.time()
            acc = train(m, x, y, xt, yt, epochs=args.epochs, lr=args.lr)
            print(f"| {name} | {n_params(m)} | {args.delay} | {seed} | {acc:.3f} | {time.time() - t0:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
