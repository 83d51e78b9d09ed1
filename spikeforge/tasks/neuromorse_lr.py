r"""Likelihood-ratio keyword detector for the NeuroMorse stream, every noise parameter estimated on validation data.

Run: ``python -m spikeforge.tasks.neuromorse_lr --variants nlh,hhh`` (``--help``).

**Statistic** (:func:`lr_statistic`). Keyword ``k`` ending at label time ``e`` occupies the window
``W = [e − n_k − 30, e]`` (``n_k`` = its last clean spike; the 15 silent steps of the word gap before its
first spike and after its last). H1: inside ``W``, Poisson background at λ per step and channel plus the
keyword's clean spikes, each kept with probability ``q`` and moved by ``⌊N(0, σ²)⌋`` steps (jitter, then
truncation to whole steps, as the generator does). H0: stationary Poisson spikes at ``ν_c = λ + q ρ_c``
(``ρ_c``: clean spikes per step on channel ``c``) — "some other text". If the keyword's spikes on one
channel have disjoint jitter ranges, the log-likelihood ratio of the counts ``x_c(s)`` is exactly

.. math:: \Lambda_k(e) = \sum_{c} \sum_{s \in W} \Big[x_c(s) \log\frac{\lambda}{\nu_c} - (\lambda - \nu_c)\Big]
          + \sum_{i} \log\Big((1 - q) + \frac{q}{\lambda} \sum_j h(j)\, x_{c_i}(t_i + j)\Big),
          \qquad h(j) = \Phi\Big(\frac{j + 1}{\sigma}\Big) - \Phi\Big(\frac{j}{\sigma}\Big),

with ``t_i`` the clean time of spike ``i`` for label time ``e`` (``h = δ₀`` at σ = 0); λ is floored at
10⁻³ and ``1 − q`` at 10⁻⁹ (noiseless variants stay finite). The first sum is a linear filter (a box of
weight ``log(λ/ν_c) < 0`` over the window: every spike where the keyword has none counts against it);
the second is the log-evidence of a jittered spike at each template tap (a tap saturates). In network
terms: one detector per keyword reading the input through delays (the box and the taps) and through a
log-evidence transform, with fixed weights — no training.

**Fitting** (:func:`fit_lr`): λ̂ = :func:`~spikeforge.tasks.neuromorse_streams.estimate_background_rate` of a
generated validation stream (against its own clean text), ρ̂ the clean rate of that text, σ chosen from
``sigmas`` and then ``q`` from ``keeps`` on the validation stream (best macro F1 with thresholds fitted on
it), and one threshold per keyword fitted on it. Never the evaluation stream, never the generator's
parameters. :mod:`spikeforge.tasks.neuromorse_oracle` evaluates the same statistic with the true ones.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.generators.neuromorse import (
    NEUROMORSE_SEED, TOP50_WORDS, WORD_SPACE, KeywordStream, NoiseLevels, encode_word, keyword_stream,
)
from .neuromorse_eval import KeywordScores, match_detections
from .neuromorse_kws import _threshold_counts, detect
from .neuromorse_streams import estimate_background_rate, select_variants, stream_tensors, validation_text

__all__ = ["jitter_pmf", "lr_statistic", "fit_thresholds", "LRDetector", "fit_lr", "lr_scores", "main"]

_LAMBDA_MIN = 1e-3
_MISS_MIN = 1e-9
# The delay network (neuromorse_lr_net) reproduces the statistic to ~1e-13; fitted thresholds are values of the
# numpy statistic (order statistics, or values at label times minus 1e-9), so its detections compare against
# threshold + this margin: an exact tie (v = threshold, not a detection) stays one, a 1e-9 gap stays a detection.
_NETWORK_TIE_MARGIN = 1e-11


def jitter_pmf(sigma: float) -> tuple[np.ndarray, int]:
    r"""``(h, J)``: ``h[j + J] = P(⌊N(0, σ²)⌋ = j)`` for ``j = −J … J`` (``J = ⌈5σ⌉``), renormalised; δ₀ at σ = 0.

    Example:
        >>> h, J = jitter_pmf(1.0)
        >>> J, round(float(h[J]), 4), round(float(h[J - 1]), 4)  # P(0 <= N < 1), P(-1 <= N < 0)
        (5, 0.3413, 0.3413)
    """
    if sigma < 0:
        raise ValueError(f"jitter_pmf: sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return np.ones(1), 0
    J = int(math.ceil(5 * sigma))
    edges = np.arange(-J, J + 2) / sigma  # [2J+2]
    cdf = 0.5 * (1 + np.array([math.erf(z / math.sqrt(2)) for z in edges]))
    h = np.diff(cdf)  # [2J+1]
    return h / h.sum(), J


def lr_statistic(x: np.ndarray, rate: float, sigma: float, keep: float, rho: np.ndarray) -> np.ndarray:
    r""":math:`\Lambda_k(e)` (module docstring) for every keyword ``k`` and label time ``e``.

    Args:
        x: spike counts ``[T, 2]`` (raw steps).
        rate: background λ [spikes per step per channel] (floored at 10⁻³).
        sigma: jitter σ [steps] (≥ 0).
        keep: ``q``, the probability that a keyword spike is present, in (0, 1].
        rho: clean spikes per step on each channel ``[2]``.

    Returns:
        ``[T, 50]`` float64; row ``e`` only reads ``x[: e + 1]`` (causal: ``J ≤ 15`` steps of jitter fit in
        the word gap after the last spike).
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"lr_statistic: expected spike counts [T, 2], got {x.shape}")
    rho = np.asarray(rho, np.float64)
    if rho.shape != (2,) or (rho < 0).any():
        raise ValueError(f"lr_statistic: rho must be two non-negative rates, got {rho}")
    if not 0 < keep <= 1 or rate < 0:
        raise ValueError(f"lr_statistic: need 0 < keep <= 1 and rate >= 0, got keep={keep}, rate={rate}")
    T = x.shape[0]
    lam = max(rate, _LAMBDA_MIN)
    q = float(keep)
    miss = max(1.0 - q, _MISS_MIN)
    nu = lam + q * rho  # [2]
    h, J = jitter_pmf(sigma)
    if J > WORD_SPACE:
        raise ValueError(f"lr_statistic: sigma={sigma} reaches past the word gap ({WORD_SPACE} steps)")
    # S_c(t) = Σ_j h(j) x_c(t + j): jitter-weighted counts around a clean time t  [T, 2]
    pad = np.pad(x, ((J, J), (0, 0)))  # [T + 2J, 2]
    S = sum(h[j + J] * pad[J + j:J + j + T] for j in range(-J, J + 1))
    spike_term = np.log(miss + q * S / lam)  # [T, 2]: log LR of one template spike at clean time t
    cs = np.vstack([np.zeros((1, 2)), np.cumsum(x, 0)])  # [T + 1, 2] prefix sums
    out = np.zeros((T, len(TOP50_WORDS)))
    e = np.arange(T)
    for k, word in enumerate(TOP50_WORDS):
        ev = encode_word(word)
        last = int(ev.t[-1])
        width = last + 2 * WORD_SPACE + 1  # window [e - width + 1, e]
        box = cs[e + 1] - cs[np.clip(e - width + 1, 0, T)]  # [T, 2] counts in the window
        L = (box * np.log(lam / nu)).sum(1) - width * (2 * lam - nu.sum())
        for tau, c in zip(ev.t, ev.x):
            t = e - (last + WORD_SPACE) + int(tau)  # clean time of the spike for label time e
            ok = t >= 0
            L[ok] += spike_term[t[ok], int(c)]
            L[~ok] += math.log(miss)  # before the stream start: unseen
        out[:, k] = L
    return out


def fit_thresholds(llr: np.ndarray, stream: KeywordStream, tolerance: int = 5, refractory: int = 10,
                   n: int = 128) -> tuple[np.ndarray, float]:
    """Per keyword, the threshold with the best F1 on ``stream`` (candidates: ``n`` order statistics of the
    statistic's top 5 % and its values at the label times). Returns ``(thresholds [50], estimated macro F1)``;
    a keyword absent from ``stream`` gets a threshold above its maximum (and no F1)."""
    v = torch.as_tensor(llr, dtype=torch.float64)
    T = v.shape[0]
    th = np.zeros(len(TOP50_WORDS))
    f1s = []
    for k, word in enumerate(TOP50_WORDS):
        vk = v[:, k]
        ends = torch.as_tensor(np.asarray(stream.ends[word], np.int64))
        if len(ends) == 0:
            th[k] = float(vk.max()) + 1.0
            continue
        hi = torch.topk(vk, max(1, int(np.ceil(0.05 * T)))).values  # descending
        top = hi[torch.linspace(len(hi) - 1, 0, n).round().long()]
        cand = torch.cat([top, vk[torch.clamp(ends, max=T - 1)] - 1e-9])  # [C]
        tp, fp = _threshold_counts(vk, cand, ends, 1, tolerance, refractory)
        f1 = 2 * tp / (2 * tp + fp + (len(ends) - tp))
        i = int(torch.argmax(f1))
        th[k] = float(cand[i])
        f1s.append(float(f1[i]))
    return th, float(np.mean(f1s)) if f1s else float("nan")


@dataclass(frozen=True)
class LRDetector:
    """A fitted :func:`lr_statistic` detector: its parameters and one threshold per keyword."""

    rate: float
    sigma: float
    keep: float
    rho: tuple[float, float]
    thresholds: np.ndarray
    refractory: int = 10

    def statistic(self, x: np.ndarray, network: bool = False) -> np.ndarray:
        """:func:`lr_statistic` of spike counts ``x [T, 2]`` → ``[T, 50]``; with ``network``, computed by the delay
        network of :func:`spikeforge.tasks.neuromorse_lr_net.as_delay_network` (equal to float64 rounding)."""
        if not network:
            return lr_statistic(x, self.rate, self.sigma, self.keep, np.asarray(self.rho))
        from .neuromorse_lr_net import as_delay_network

        net = as_delay_network(self.rate, self.sigma, self.keep, self.rho)
        with torch.no_grad():
            return net(torch.as_tensor(x, dtype=torch.float64)[:, None])[:, 0].numpy()  # [T, 1, 2] -> [T, 50]

    def detections(self, stream: KeywordStream, network: bool = False) -> list[tuple[int, str]]:
        x, _ = stream_tensors(stream, 1, 0)  # [T, 2]
        llr = self.statistic(x.numpy(), network)
        margin = _NETWORK_TIE_MARGIN if network else 0.0
        v = torch.as_tensor(llr - self.thresholds[None, :] - margin, dtype=torch.float32)  # [T, 50]
        return detect(v, 1, self.refractory)


def fit_lr(noise: NoiseLevels, words: int = 1000, sigmas: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5),
           keeps: tuple[float, ...] = (0.95, 0.9, 0.99), tolerance: int = 5, refractory: int = 10) -> LRDetector:
    """Fit an :class:`LRDetector` on a generated validation stream of ``noise`` (module docstring). ``noise``
    only generates the stream; its parameters are not read."""
    text = validation_text(words)
    stream = keyword_stream(text, noise, seed=1001)  # = neuromorse_streams.validation_stream(noise, words)
    clean = keyword_stream(text)
    tc = np.asarray(clean.events.t)
    rho = np.bincount(np.asarray(clean.events.x, np.int64), minlength=2) / (tc.max() + 1)  # [2]
    rate = estimate_background_rate(stream, clean)
    x = stream_tensors(stream, 1, 0)[0].numpy()  # [T, 2]

    cache: dict[tuple[float, float], tuple[float, np.ndarray]] = {}

    def fit(sigma: float, keep: float) -> tuple[float, np.ndarray]:
        if (sigma, keep) not in cache:
            th, f = fit_thresholds(lr_statistic(x, rate, sigma, keep, rho), stream, tolerance, refractory)
            cache[sigma, keep] = (f, th)
        return cache[sigma, keep]

    sigma = max(sigmas, key=lambda s: fit(s, keeps[0])[0])  # the first best wins ties
    keep = max(keeps, key=lambda q: fit(sigma, q)[0])
    th = fit(sigma, keep)[1]
    return LRDetector(rate, sigma, keep, (float(rho[0]), float(rho[1])), th, refractory)


def lr_scores(det: LRDetector, text: str | None = None, noise: NoiseLevels | None = None,
              seed: int = NEUROMORSE_SEED, tolerance: int = 5, network: bool = False) -> KeywordScores:
    """Scores of a fitted detector on the keyword stream of ``text`` (default: the evaluation stream); with
    ``network``, its statistic computed by the delay network (:mod:`spikeforge.tasks.neuromorse_lr_net`)."""
    stream = keyword_stream(text, noise, seed=seed)
    return match_detections(det.detections(stream, network), stream.ends, tolerance)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m spikeforge.tasks.neuromorse_lr", description=__doc__.split("\n")[0])
    p.add_argument("--variants", default="all", help="as in spikeforge.tasks.neuromorse_kws (e.g. 'nlh,hhh')")
    p.add_argument("--val-words", type=int, default=1000)
    p.add_argument("--tolerance", type=int, default=5)
    p.add_argument("--refractory", type=int, default=10)
    p.add_argument("--network", action="store_true",
                   help="also score the evaluation stream with the statistic computed by the delay network "
                        "(neuromorse_lr_net; parameters and thresholds as fitted) and print both")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    print(f"{'variant':<44} {'macroF1':>8} {'microF1':>8} {'P':>6} {'R':>6}")
    for v in select_variants(args.variants):
        t0 = time.perf_counter()
        det = fit_lr(v, args.val_words, tolerance=args.tolerance, refractory=args.refractory)
        s = lr_scores(det, noise=v, tolerance=args.tolerance).summary()
        rows.append({"variant": v.file_stem, **s, "rate": det.rate, "sigma": det.sigma, "keep": det.keep,
                     "seconds": time.perf_counter() - t0})
        print(f"{v.file_stem:<44} {s['macro_f1']:8.3f} {s['micro_f1']:8.3f} {s['micro_precision']:6.3f} "
              f"{s['micro_recall']:6.3f}  rate {det.rate:.4f} sigma {det.sigma:3.1f} keep {det.keep:4.2f}  "
              f"{rows[-1]['seconds']:.0f} s", flush=True)
        if args.network:
            x = stream_tensors(keyword_stream(None, v), 1, 0)[0].numpy()  # [T, 2]: the evaluation stream
            t1 = time.perf_counter()
            a = det.statistic(x)
            t2 = time.perf_counter()
            b = det.statistic(x, network=True)
            t3 = time.perf_counter()
            sn = lr_scores(det, noise=v, tolerance=args.tolerance, network=True).summary()
            rows[-1].update(network_macro_f1=sn["macro_f1"], network_micro_f1=sn["micro_f1"],
                            network_max_abs_diff=float(np.abs(a - b).max()), numpy_s=t2 - t1, network_s=t3 - t2)
            print(f"{'  delay network':<44} {sn['macro_f1']:8.3f} {sn['micro_f1']:8.3f} "
                  f"{sn['micro_precision']:6.3f} {sn['micro_recall']:6.3f}  max|Δ statistic| "
                  f"{rows[-1]['network_max_abs_diff']:.1e}  statistic {t2 - t1:.1f} s numpy, {t3 - t2:.1f} s network",
                  flush=True)
    result = {"results": rows, "mean_macro_f1": float(np.mean([r["macro_f1"] for r in rows]))}
    print(f"mean macro F1 over {len(rows)} variants: {result['mean_macro_f1']:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
