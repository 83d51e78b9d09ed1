"""Inference-time agents on the embedded digits task: Dynamic Confidence and attacks.

    python tools/inference_digits.py [--seeds 3] [--epochs 15] [--out runs/inference_digits]

1. Dynamic Confidence: accuracy, mean exit step and measured SynOps saved over a sweep of C_th.
2. PDSG's claim (Lun et al., CVPR 2025): against a victim whose surrogate the attacker does not
   know, an attack whose gradient uses PDSG (σ from the victim's own membranes) succeeds more often
   than one through a mismatched standard surrogate. FGSM on the real-valued inputs; victims
   trained with the atan surrogate; attacker surrogates: atan (white box), a narrow rectangle
   (mismatched), PDSG.
3. Sparse dynamic attack on binary (Bernoulli-encoded) inputs: success rate and flipped bits.
Prints Markdown tables (the numbers in docs/inference.md come from this script).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from spikeforge.config import TrainConfig
from spikeforge.data import load_dataset
from spikeforge.experiment import run_training
from spikeforge.inference import (attack_success_rate, attack_surrogate, evaluate_dynamic_confidence, fgsm, logits_of,
                                  pdsg_for, sparse_dynamic_attack)
from spikeforge.learning import load_checkpoint
from spikeforge.models import build_model
from spikeforge.models.mlp import SNNClassifier
from spikeforge.surrogate import SURROGATES, get_surrogate


def train(seed: int, epochs: int, out: Path, encoder: str) -> tuple[SNNClassifier, TrainConfig]:
    cfg = TrainConfig.from_dict({"data": "digits", "encoder": encoder, "steps": 16, "hidden": [128],
                                 "epochs": epochs, "seed": seed, "surrogate": "atan", "progress": False,
                                 "out_dir": str(out / f"{encoder}_seed{seed}")})
    run_training(cfg, plots=False)
    model = build_model(cfg)
    if not isinstance(model, SNNClassifier) or model.encoder is None:
        raise TypeError(f"expected the mlp classifier with an encoder, got {type(model).__name__}")
    model.load_state_dict(load_checkpoint(Path(cfg.out_dir) / "checkpoint.pt")["model"])
    return model.eval(), cfg


def encode(model: SNNClassifier, x: torch.Tensor) -> torch.Tensor:
    """The classifier's own spike encoding of ``x [N, 64]``: ``[T, N, 64]``."""
    assert model.encoder is not None  # train() refuses a classifier without one
    return model.encoder(x).flatten(2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--eps", type=float, default=0.05)
    ap.add_argument("--sda-samples", type=int, default=30)
    ap.add_argument("--out", default="runs/inference_digits")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    test = load_dataset("digits", "test")
    x = torch.stack([test[i][0] for i in range(len(test))]).flatten(1)  # [N, 64]
    y = torch.stack([test[i][1] for i in range(len(test))])
    t0 = time.perf_counter()

    print("## Dynamic Confidence (digits, direct encoding, T = 16, temperature 30, seed 0)\n")
    model, _ = train(0, args.epochs, out, "direct")
    xs = encode(model, x)  # [T, N, 64]
    rows = evaluate_dynamic_confidence(model.body, xs, y, [0.2, 0.3, 0.4, 0.5, 0.7, 0.9, 1.0])
    print("| C_th | accuracy | mean exit step | SynOps / sample | saved |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.threshold:g} | {r.accuracy * 100:.2f} % | {r.mean_steps:.2f} | {r.synops:.4g} | "
              f"{(r.synops_saved or 0) * 100:.1f} % |")

    print(f"\n## FGSM success rate, eps = {args.eps} (victims: atan surrogate; {args.seeds} seeds)\n")
    asr: dict[str, list[float]] = {"atan (white box)": [], "rectangle, width 0.1 (mismatched)": [], "PDSG": []}
    for seed in range(args.seeds):
        victim, _ = train(seed, args.epochs, out, "direct")
        attackers = {"atan (white box)": get_surrogate("atan"),
                     "rectangle, width 0.1 (mismatched)": SURROGATES.create("rectangle", width=0.1),
                     "PDSG": pdsg_for(victim, x[:256])}
        for name, sg in attackers.items():
            with attack_surrogate(victim, sg):
                asr[name].append(attack_success_rate(victim, x, y, lambda m, a, b: fgsm(m, a, b, args.eps)))
    print("| attacker's surrogate | attack success rate (mean ± std) | per seed |\n|---|---|---|")
    for name, v in asr.items():
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        print(f"| {name} | {statistics.fmean(v) * 100:.1f} ± {sd * 100:.1f} % | "
              f"{', '.join(f'{a * 100:.1f}' for a in v)} |")

    print(f"\n## Sparse dynamic attack on Bernoulli spike inputs (seed 0, {args.sda_samples} test samples)\n")
    victim, _ = train(0, args.epochs, out, "bernoulli")
    torch.manual_seed(0)
    spikes = encode(victim, x[: args.sda_samples])  # [T, n, 64] binary
    body = victim.body
    ok = flips = total = 0
    for b in range(args.sda_samples):
        s = spikes[:, b : b + 1]
        if int(logits_of(body, s).argmax(1)) != int(y[b]):
            continue
        total += 1
        res = sparse_dynamic_attack(body, s, int(y[b]), k_init=10, max_iter=50)
        if res.success:
            ok += 1
            flips += res.flips
    print("| correctly classified | fooled | mean flipped bits (of 1024) |\n|---|---|---|")
    print(f"| {total} | {ok} ({ok / max(total, 1) * 100:.1f} %) | {flips / max(ok, 1):.1f} |")
    print(f"\nwall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
