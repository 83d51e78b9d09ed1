"""Dynamic Confidence over training seeds: accuracy vs mean exit step and SynOps saved, mean ± std.

    .venv/bin/python tools/dynamic_confidence_seeds.py --seeds 0 1 2 [--epochs 15] [--out runs/inference_digits]
    .venv/bin/python tools/dynamic_confidence_seeds.py --model spikformer_tiny --set T=8 --seeds 0 1 2

For each seed, trains a classifier on digits and sweeps ``C_th`` with temperature 30 on the test split:

* ``--model mlp`` (default): the registered ``mlp`` classifier exactly as ``tools/inference_digits.py``
  trains it (direct encoding, T = 16, hidden 128, atan surrogate; same run directory, so seed 0 is
  the model of docs/inference.md);
* ``--model <zoo name>`` (e.g. ``spikformer_tiny``, ``sdt_tiny``; ``--set KEY=VALUE`` overrides its
  config): that spiking transformer trained as ``tools/transformer_digits.py`` trains it (16×16
  digits, AdamW, cosine schedule, batch 64), fed the static image at every step (``[T, B, 1, 16, 16]``).

SynOps are measured per sample with exited samples stopped (every synapse call the profiler sees:
convs, linears and the attention's spike products). On each seed's own outputs :func:`sweep` checks
the reference's latency properties (check 23):

* no sample exits at a step whose confidence is ``<= C_th``, and none passes a step whose
  confidence is ``> C_th`` (recomputed here from the softmax of the accumulated outputs / 30);
* ``C_th >= 1`` -> every sample runs all T steps; ``C_th < 1/K`` -> every sample exits at step 1;
* the mean exit step is non-decreasing in ``C_th``.

Prints one Markdown table per seed, then mean ± std (sample std) over the seeds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import cast

import torch
from torch import nn

from spikeforge.data import load_dataset
from spikeforge.inference import ThresholdResult, dynamic_confidence, evaluate_dynamic_confidence

TEMPERATURE = 30.0  # the reference code's fixed divisor (reference §4.8)


def check_latency_properties(outputs: torch.Tensor, thresholds: list[float], mean_steps: list[float]) -> None:
    """Raise ``AssertionError`` naming the property that fails (check 23) for ``outputs [T, B, K]``."""
    T, _, K = outputs.shape
    conf = torch.softmax(outputs.double().cumsum(0) / TEMPERATURE, -1).amax(-1)  # [T, B]
    for th in thresholds:
        steps = dynamic_confidence(outputs, th, temperature=TEMPERATURE).steps  # [B], 1-based
        t = torch.arange(1, T + 1).unsqueeze(1)  # [T, 1]
        before = t < steps  # [T, B] steps strictly before each sample's exit
        assert not (conf > th)[before].any(), f"C_th={th}: a sample ran past a step with confidence > C_th"
        exited_early = steps < T
        c_exit = conf.gather(0, (steps - 1).unsqueeze(0))[0]  # [B]
        assert (c_exit[exited_early] > th).all(), f"C_th={th}: a sample exited before its confidence passed C_th"
        if th >= 1:
            assert (steps == T).all(), f"C_th={th} >= 1 must run all {T} steps"
        if th < 1 / K:
            assert (steps == 1).all(), f"C_th={th} < 1/K = {1 / K:.3f} must exit at step 1"
    order = sorted(range(len(thresholds)), key=lambda i: thresholds[i])
    ms = [mean_steps[i] for i in order]
    assert all(a <= b for a, b in zip(ms, ms[1:], strict=False)), f"mean exit step not monotone in C_th: {ms}"


def mean_std(v: list[float], scale: float = 1.0, digits: int = 2) -> str:
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{statistics.fmean(v) * scale:.{digits}f} ± {sd * scale:.{digits}f}"


def sweep(model: nn.Module, xs: torch.Tensor, labels: torch.Tensor, thresholds: list[float]) -> list[ThresholdResult]:
    """Dynamic Confidence of one trained ``model`` over ``thresholds`` (temperature 30, measured SynOps),
    after checking the latency properties (check 23) on its own outputs ``model(xs) [T, B, K]``."""
    rows = evaluate_dynamic_confidence(model, xs, labels, thresholds, temperature=TEMPERATURE)
    with torch.no_grad():
        outputs = model.eval()(xs)  # [T, B, K]
    check_latency_properties(outputs, thresholds, [r.mean_steps for r in rows])
    return rows


def trained(model: str, seed: int, epochs: int, out: Path,
            overrides: dict[str, object]) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """``(classifier on time-major inputs, test inputs xs [T, N, ...], labels [N])`` for one seed."""
    if model == "mlp":
        from inference_digits import train  # tools/ is sys.path[0] when this file runs as a script

        if overrides:
            raise ValueError(f"--set is for zoo models; the mlp is trained as tools/inference_digits.py does, "
                             f"got {sorted(overrides)}")
        test = load_dataset("digits", "test")
        x = torch.stack([test[i][0] for i in range(len(test))]).flatten(1)  # [N, 64]
        y = torch.stack([test[i][1] for i in range(len(test))])
        net, _ = train(seed, epochs, out, "direct")
        encoder, body = cast(nn.Module, net.encoder), cast(nn.Module, net.body)
        return body, encoder(x).flatten(2), y  # xs [T, N, 64]
    from transformer_digits import images
    from transformer_digits import train as train_zoo

    zoo, _, _ = train_zoo(model, epochs, seed, overrides=dict(overrides))
    x, y = images("test")  # [N, 1, 16, 16]
    T = int(cast(int, zoo.T))
    return zoo, x.unsqueeze(0).expand(T, *x.shape).contiguous(), y  # the image at every step: [T, N, 1, 16, 16]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mlp", help="'mlp' or a zoo transformer name (e.g. spikformer_tiny)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="zoo-model config override, e.g. --set T=8")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--thresholds", type=float, nargs="+",
                    default=[0.05, 0.12, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9, 1.0])
    ap.add_argument("--out", default="runs/inference_digits")
    args = ap.parse_args()
    from transformer_digits import parse_overrides  # tools/ is sys.path[0] when this file runs as a script

    try:
        overrides = parse_overrides(args.set)
    except ValueError as e:
        ap.error(str(e))
    torch.set_num_threads(1)
    per: dict[float, dict[str, list[float]]] = {th: {"acc": [], "steps": [], "saved": []} for th in args.thresholds}
    full_acc: list[float] = []
    for seed in args.seeds:
        t0 = time.perf_counter()
        body, xs, y = trained(args.model, seed, args.epochs, Path(args.out), overrides)
        t1 = time.perf_counter()
        rows = sweep(body, xs, y, args.thresholds)
        full_acc.append(rows[0].full_accuracy)
        print(f"\n### {args.model} seed {seed} (all {xs.shape[0]} steps: {rows[0].full_accuracy * 100:.2f} %, "
              f"{rows[0].synops_full:.4g} SynOps / sample; latency properties hold; training {t1 - t0:.0f} s, "
              f"sweep {time.perf_counter() - t1:.0f} s)\n")
        print("| C_th | accuracy | mean exit step | SynOps / sample | saved |\n|---|---|---|---|---|")
        for r in rows:
            saved = r.synops_saved or 0.0
            print(f"| {r.threshold:g} | {r.accuracy * 100:.2f} % | {r.mean_steps:.2f} | {r.synops:.4g} | "
                  f"{saved * 100:.1f} % |", flush=True)
            per[r.threshold]["acc"].append(r.accuracy)
            per[r.threshold]["steps"].append(r.mean_steps)
            per[r.threshold]["saved"].append(saved)
    print(f"\n### {args.model}: mean ± std over seeds {args.seeds} (all steps: {mean_std(full_acc, 100)} %)\n")
    print("| C_th | accuracy (%) | mean exit step | SynOps saved (%) |\n|---|---|---|---|")
    for th, v in per.items():
        print(f"| {th:g} | {mean_std(v['acc'], 100)} | {mean_std(v['steps'])} | {mean_std(v['saved'], 100, 1)} |")


if __name__ == "__main__":
    main()
