r"""UPPER-BOUND ANALYSIS, not a model: the ideal per-keyword likelihood-ratio detector on the NeuroMorse stream.

Run: ``python -m spikeforge.tasks.neuromorse_oracle --variants nlh,nhl,nhh`` (``--help``).

The oracle knows everything a detector is not allowed to know: every keyword's clean spike train, the
variant's true dropout probability ``p``, jitter σ and Poisson rate λ, the clean spike rate of the
evaluation text, and — in its first column — the evaluation stream's labels (one threshold per keyword,
the best F1 on the evaluation stream itself; optimistic where a keyword occurs once or twice). Its second
column fits the thresholds on a generated validation stream instead (everything else still true). It is
scored exactly like the models (:func:`~spikeforge.tasks.neuromorse_eval.match_detections`, tolerance ±5
steps, refractory 10 steps). Its numbers bound what a *per-keyword template detector* can reach on a
variant; they are not results.

**Statistic.** :func:`~spikeforge.tasks.neuromorse_lr.lr_statistic` (its docstring has the formula): the
exact log-likelihood ratio of the spike counts in the keyword's window (its spikes, each kept with
probability ``q = 1 − p`` and moved by ``⌊N(0, σ²)⌋`` steps, over Poisson background λ, with the 15-step word
gaps before and after) against stationary Poisson spikes at the stream's mean rate — fed the generator's
true ``p``, σ, λ here. A detection is a rising edge of ``Λ_k > θ_k``, reported at the label time.

What it is *not*: the Bayes-optimal decoder of the whole stream. H0 is a stationary alternative, not
the other 49 keywords and the English lexicon; a decoder that segments the stream into words and knows
the dictionary could do better, so the bound is that of per-keyword detection against a generic
alternative.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

from ..data.generators.neuromorse import NEUROMORSE_SEED, KeywordStream, NoiseLevels, keyword_stream
from .neuromorse_eval import KeywordScores, match_detections
from .neuromorse_lr import fit_thresholds, lr_statistic
from .neuromorse_kws import detect
from .neuromorse_streams import select_variants, stream_tensors, validation_stream

__all__ = ["oracle_llr", "oracle_scores", "main"]

def oracle_llr(x: np.ndarray, noise: NoiseLevels, rho: np.ndarray) -> np.ndarray:
    r"""The log-likelihood ratio :math:`\Lambda_k(e)` of the module docstring for every keyword and label time,
    with the variant's *true* ``p``, σ and λ (this is the oracle):
    :func:`~spikeforge.tasks.neuromorse_lr.lr_statistic` fed the generator's parameters.

    Args:
        x: spike counts ``[T, 2]`` (raw steps).
        noise: the variant.
        rho: clean spikes per step on each channel ``[2]``.

    Returns:
        ``[T, 50]`` float64; row ``e`` only reads ``x[: e + 1]`` (causal).
    """
    return lr_statistic(x, noise.poisson_rate, noise.jitter_std, 1.0 - noise.drop_probability, rho)


def oracle_scores(noise: NoiseLevels, text: str | None = None, seed: int = NEUROMORSE_SEED, tolerance: int = 5,
                  refractory: int = 10, val_words: int = 0) -> KeywordScores:
    """The oracle on the evaluation stream of ``text`` (default text, noise seed 100), scored with
    :func:`~spikeforge.tasks.neuromorse_eval.match_detections`.

    Thresholds: ``val_words = 0`` fits them on the evaluation stream itself (the pure bound: they have seen
    the test labels; optimistic for keywords that occur once or twice); ``val_words > 0`` on a generated
    :func:`~spikeforge.tasks.neuromorse_streams.validation_stream` of that many tokens (the same data the models
    calibrate on), everything else still true.
    """
    stream = keyword_stream(text, noise, seed=seed)
    clean = keyword_stream(text)
    tc = np.asarray(clean.events.t)
    rho = np.bincount(np.asarray(clean.events.x, np.int64), minlength=2) / (tc.max() + 1)  # [2]

    def llr_of(s: KeywordStream) -> np.ndarray:
        x, _ = stream_tensors(s, 1, 0)  # [T, 2]
        return oracle_llr(x.numpy().astype(np.float64), noise, rho)

    llr = llr_of(stream)
    if val_words > 0:
        val = validation_stream(noise, val_words)
        th = fit_thresholds(llr_of(val), val, tolerance, refractory, 256)[0]
    else:
        th = fit_thresholds(llr, stream, tolerance, refractory, 256)[0]
    v = torch.as_tensor(llr - th[None, :], dtype=torch.float32)  # [T, 50] crossing 0 = crossing θ_k
    return match_detections(detect(v, 1, refractory), stream.ends, tolerance)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m spikeforge.tasks.neuromorse_oracle",
                                description="UPPER-BOUND ANALYSIS (not a model): ideal per-keyword "
                                            "likelihood-ratio detector with the true templates, noise and labels")
    p.add_argument("--variants", default="all", help="as in spikeforge.tasks.neuromorse_kws (e.g. 'nlh,hhh')")
    p.add_argument("--tolerance", type=int, default=5)
    p.add_argument("--refractory", type=int, default=10)
    p.add_argument("--val-words", type=int, default=2000,
                   help="tokens of the validation stream for the second column (thresholds not fitted on the test)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    print(f"{'variant (ORACLE upper bound)':<44} {'macroF1':>8} {'microF1':>8} {'P':>6} {'R':>6} "
          f"{'macroF1 (val thresholds)':>24}")
    for v in select_variants(args.variants):
        t0 = time.perf_counter()
        s = oracle_scores(v, tolerance=args.tolerance, refractory=args.refractory).summary()
        sv = oracle_scores(v, tolerance=args.tolerance, refractory=args.refractory, val_words=args.val_words)
        rows.append({"variant": v.file_stem, **s, "macro_f1_val_thresholds": sv.macro_f1,
                     "micro_f1_val_thresholds": sv.micro_f1, "seconds": time.perf_counter() - t0})
        print(f"{v.file_stem:<44} {s['macro_f1']:8.3f} {s['micro_f1']:8.3f} {s['micro_precision']:6.3f} "
              f"{s['micro_recall']:6.3f} {sv.macro_f1:24.3f}  {rows[-1]['seconds']:.1f} s", flush=True)
    result = {"analysis": "oracle upper bound", "results": rows,
              "mean_macro_f1": float(np.mean([r["macro_f1"] for r in rows])),
              "mean_macro_f1_val_thresholds": float(np.mean([r["macro_f1_val_thresholds"] for r in rows]))}
    print(f"oracle mean macro F1 over {len(rows)} variants: {result['mean_macro_f1']:.3f} (test thresholds), "
          f"{result['mean_macro_f1_val_thresholds']:.3f} (validation thresholds)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
