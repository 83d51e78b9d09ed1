r"""NeuroMorse keyword spotting on the stream with learned synaptic delays (DCLS).

Run: ``python -m spikeforge.tasks.neuromorse_kws`` (``--help`` for the knobs; ``--no-delays`` wires
the same network with every delay forced to 0; ``--fit`` calibrates per noise variant, see below).

**Task.** The 50 keywords must be found in a continuous Morse stream of running text (two input
channels, dot / dash), where most words are not keywords and many contain keywords ("the" in
"there", "her" in "other"). A detection ``(t, k)`` is scored against the stream's label times
(start + last spike + word gap) with :mod:`spikeforge.tasks.neuromorse_eval` (tolerance ``±tol``
steps, one-to-one matching, precision / recall / F1 per keyword).

**Training data** (no text of the evaluation stream): random streams of keywords (probability
``p_keyword``) and distractor tokens — random letter strings and keywords with a punctuation mark
attached (which are *not* keywords in the default stream) — encoded by
:func:`~spikeforge.data.generators.neuromorse.keyword_stream`, each with a random one of the 27
noise variants and its own seed. Evaluation: the shipped public-domain text, every noise variant,
noise seed 100 (the published seed).

**Model** (time binned by ``bin`` steps, ``[T', B, 2]``): one detector neuron per keyword, listening
to the two input channels through ``R`` synapses per channel, each with a learned weight and a learned
delay (the input is repeated ``R`` times into one :class:`~spikeforge.layers.DelayLinear`), integrated by
a leaky membrane (:class:`~spikeforge.neurons.LI`, decay ``β`` per bin) and thresholded at 0:

.. math:: v_k(t) = \beta v_k(t-1) + b_k + \sum_{c \in \{\cdot,-\}} \sum_{r=1}^{R} w_{k,c,r}\,
          x_c(t - d_{k,c,r}), \qquad z_k(t) = H(v_k(t))

— a coincidence detector: positive synapses bring the keyword's spikes together at its label time,
negative ones check the silences after it (no next letter of the same word) and before it (no
previous letter). ``init="template"`` wires exactly that from the keyword's clean spike train
(:func:`template_init_`); ``init="random"`` starts from the DCLS initialisation. Training (both):
per-bin binary cross-entropy of :math:`\sigma(v_k)` against targets that mark keyword ``k`` in the bins
of ``[e - 3, e + 3]`` around each label time ``e``, Gaussian delay kernels with a decaying σ;
evaluation in ``.eval()`` (rounded, exact integer delays). A detection is every rising edge of ``z_k``,
reported at the last raw step of its bin.

**Noise-robust template** (``--fit``, :func:`fit_variant`): the same wired network, with (a) the
Gaussian delay spread of DCLS kept at evaluation (``sigma`` = SIG ≥ 0: every synapse spreads its weight
over neighbouring delays, tolerating time jitter), (b) the inhibition weight ``inhibit`` and (c) one
threshold per detector chosen on a generated validation stream of the same noise variant
(:func:`validation_stream`: random text, noise seed ≠ 100; never the evaluation stream) by
:func:`calibrate_thresholds`, with a refractory period against repeated onsets. No gradient training.
The candidate spreads are the same for every variant (rounded, SIG 1.5, SIG 2.5): nothing here reads the
generator's noise parameters, only streams generated with them.

**Log-evidence template** (``--fit --log-evidence``, :func:`fit_variant` with ``evidence=True``): the same
wiring with rounded delays, reading :func:`log_evidence` of the input (the per-channel log-likelihood ratio
of a jittered spike over Poisson background) instead of the spikes, so each tap saturates and a template
sums log-likelihood ratios. Its λ is *estimated* from the validation stream (:func:`estimate_background_rate`:
spikes in the gaps of the known validation text), its σ chosen from :data:`EV_SIGMAS` on the validation
stream; floor ε, decay β and inhibition chosen per variant on the validation stream as above.

**Fine-tuned template** (``--fit --finetune N``, :func:`finetune`): the fitted template, then ``N`` Adam
steps on generated training streams of the same noise variant (noise seeds ≥ 2000) with
:func:`detection_loss` (the membrane must cross somewhere in each target run, and stay below elsewhere),
then the thresholds re-calibrated on the same validation stream.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.generators.neuromorse import (
    LETTER_SPACE, MORSE_CODE, NEUROMORSE_SEED, SYMBOL_SPACE, TOP50_WORDS, KeywordStream, NoiseLevels, encode_word,
    keyword_stream, noise_variants,
)
from ..layers.dcls import DelayLinear, delay_param_groups, sigma_schedule
from ..neurons import LI
from .neuromorse_eval import KeywordScores, match_detections
from .neuromorse_streams import (
    estimate_background_rate, select_variants, stream_tensors, training_stream, validation_stream, validation_text,
)

__all__ = ["KWSConfig", "KeywordSpotter", "template_init_", "training_stream", "stream_tensors", "detect", "train",
           "evaluate", "main", "validation_stream", "calibrate_thresholds", "fit_variant", "finetune",
           "select_variants", "detection_loss", "log_evidence",
           "validation_text", "estimate_background_rate", "EV_SIGMAS"]

NONE = len(TOP50_WORDS)  # number of keyword detectors
@dataclass(frozen=True)
class KWSConfig:
    """Model and training knobs (defaults: the run reported in docs/delays.md)."""

    bin: int = 1              # raw steps per model step
    repeats: int = 40         # R: synapses per (input channel, detector)
    k1: int = 150             # delay window [bins] (max delay k1 - 1; "which" needs 143)
    beta: float = 0.6         # detector membrane decay per bin
    init: str = "template"    # "template" (wired from the keywords' spike trains) or "random" (DCLS init)
    sig_start: float = 1.0    # SIG at the first step with init="template" (random: ⌊K/2⌋)
    margin: float = 1.5       # template threshold: n - margin for a keyword of n spikes
    iters: int = 0            # optimizer steps (0: the wired template as is — the best measured; see docs)
    batch: int = 8            # streams per step
    words: int = 24           # tokens per training stream
    p_keyword: float = 0.5    # probability that a training token is a keyword
    lr: float = 1e-2          # weights (Adam, cosine decay)
    lr_positions: float = 0.05  # delay positions [bins per unit step]
    sigma_fraction: float = 0.4  # fraction of the steps over which SIG decays to 0.23
    pos_weight: float = 5.0   # BCE weight of the keyword-present targets
    label_halfwidth: int = 3  # keyword targets at e - h … e + h raw steps
    tolerance: int = 5        # scoring window ±tol raw steps
    seed: int = 0
    inhibit: float = -2.0     # template weight of the silence checks
    sigma: float = -1.0       # evaluation SIG of a Gaussian delay spread (< 0: rounded, exact delays)
    refractory: int = 0       # a rising edge within this many bins after the previous one is no detection
    no_delays: bool = False   # template wiring with every delay forced to 0 (the "without delays" control)
    evidence: float = -1.0    # log-evidence input floor ε (> 0: detectors see log_evidence(x), < 0: raw spikes)
    ev_sigma: float = 1.0     # log_evidence: expected jitter σ [steps] (Gaussian smoothing)
    ev_rate: float = 0.05     # log_evidence: background (Poisson) rate λ [spikes per step per channel]


class KeywordSpotter(nn.Module):
    """Repeat → DelayLinear → LI; ``[T', B, 2] → [T', B, 50]`` detector membranes (spike where > 0)."""

    def __init__(self, cfg: KWSConfig) -> None:
        super().__init__()
        if cfg.init not in ("template", "random"):
            raise ValueError(f"init must be 'template' or 'random', got {cfg.init!r}")
        self.repeats = cfg.repeats
        self.l1 = DelayLinear(2 * cfg.repeats, NONE, K=cfg.k1, bias=True)
        self.beta = float(cfg.beta)
        self.evidence = (cfg.ev_sigma, cfg.ev_rate, cfg.evidence) if cfg.evidence > 0 else None
        self.membrane = LI.from_decay(cfg.beta)
        with torch.no_grad():
            self.l1.bias.fill_(-4.0 * (1 - cfg.beta))  # type: ignore[union-attr]  # detectors start silent
        if cfg.init == "template":
            template_init_(self, cfg, inhibit=cfg.inhibit)
        if cfg.no_delays:
            with torch.no_grad():
                self.l1.positions.fill_(float(self.l1.position_range[1]))  # delay 0 on every synapse
        if cfg.sigma >= 0:
            self.l1.set_mode("gauss")  # keep the Gaussian spread in evaluation: tolerance to jitter
            self.l1.set_sigma(cfg.sigma)

    def encode(self, xs: Tensor) -> Tensor:
        """The detectors' input: the spike counts ``xs [T', ..., 2]`` themselves, or (``cfg.evidence > 0``) their
        :func:`log_evidence` (same shape)."""
        if self.evidence is None:
            return xs
        return log_evidence(xs, *self.evidence)

    def forward(self, xs: Tensor) -> Tensor:
        xs = self.encode(xs)
        xs = xs.repeat(1, 1, self.repeats)  # [T, B, 2] -> [T, B, 2R]: column r*2 + c is channel c
        return self.membrane(self.l1(xs))  # [T, B, 50]

    def delay_layers(self) -> list[DelayLinear]:
        return [self.l1]

    @torch.no_grad()
    def membranes(self, x: Tensor) -> Tensor:
        r"""Fast evaluation of one stream ``x [T', 2] → v [T', 50]`` (equals ``forward`` up to float error;
        see :meth:`folded`)."""
        if x.dim() != 2 or x.shape[1] != 2:
            raise ValueError(f"membranes: expected a stream [T, 2], got {tuple(x.shape)}")
        return self.folded(x.unsqueeze(1))[:, 0]  # [T', 1, 50] -> [T', 50]

    def folded(self, xs: Tensor) -> Tensor:
        r"""``forward`` as one convolution, differentiable: ``xs [T', B, 2] → v [T', B, 50]``.

        The ``R`` repeats are summed into one kernel ``[50, 2, K]`` and the leaky membrane is folded into
        it: :math:`v_t = \sum_{j \ge 0} \beta^j (W * x)_{t-j} + b\,(1 - \beta^{t+1}) / (1 - \beta)`,
        truncated where :math:`\beta^j < 10^{-9}`, so one ``conv1d`` replaces the step loop.
        """
        if xs.dim() != 3 or xs.shape[2] != 2:
            raise ValueError(f"folded: expected streams [T, B, 2], got {tuple(xs.shape)}")
        beta = self.beta
        kern = self.l1.kernel().view(NONE, self.repeats, 2, self.l1.K).sum(1)  # [50, 2R, K] -> [50, 2, K]
        J = 1 if beta == 0 else int(np.ceil(np.log(1e-9) / np.log(beta))) + 1
        h = beta ** torch.arange(J, dtype=kern.dtype)  # [J] leak kernel (time-reversed below)
        # full kernel [50, 2, K+J-1]: (kern ⊛ h), flipped so conv1d (a correlation) sums x(t - d) beta^j
        full = F.conv1d(F.pad(kern.reshape(-1, 1, self.l1.K), (J - 1, J - 1)), h.view(1, 1, J))
        full = full.view(NONE, 2, -1)  # [100, 1, K+J-1] -> [50, 2, K+J-1]
        xs = self.encode(xs)
        line = F.pad(xs.permute(1, 2, 0), (full.shape[-1] - 1, 0))  # [T', B, 2] -> [B, 2, L-1+T']
        v = F.conv1d(line, full)  # [B, 50, T']
        t = torch.arange(xs.shape[0], dtype=v.dtype)
        bias = self.l1.bias if self.l1.bias is not None else torch.zeros(NONE)
        gain = (1 - beta ** (t + 1)) / (1 - beta) if beta < 1 else t + 1  # [T']
        return (v + bias.view(1, NONE, 1) * gain).permute(2, 0, 1)  # [B, 50, T'] -> [T', B, 50]


def log_evidence(x: Tensor, sigma: float, rate: float, floor: float) -> Tensor:
    r"""Per-channel log-likelihood-ratio evidence of a jittered spike, for a detector under Poisson noise.

    ``x [T, ..., C]`` spike counts (time first, channels last) → the same shape:

    .. math:: L_c(t) = \log\Big(\varepsilon + \frac{1}{\lambda} \sum_{u} g_\sigma(t - u)\, x_c(u)\Big),
              \qquad g_\sigma(j) = \frac{e^{-j^2 / 2\sigma^2}}{\sum_{|i| \le r} e^{-i^2 / 2\sigma^2}},
              \ |j| \le r = \lceil 3\sigma \rceil .

    If a template spike is expected at ``t`` with Gaussian jitter σ, is present with probability ``q`` and the
    channel carries Poisson background spikes at rate λ per step, the likelihood ratio "template spike" /
    "background only" of the spikes near ``t`` is ``(1 - q) + q Σ_u g(t - u) x(u) / λ``; with
    ``ε = (1 - q) / q`` its log is ``L + log q``. A delay template that sums ``L`` over its taps therefore
    sums log-likelihood ratios (a product of per-tap evidence, not a sum of spike counts): a missing spike
    costs ``log ε`` (strongly negative), extra noise spikes near one tap only add logarithmically — the
    tap saturates, which a linear synapse does not. ``ε`` is a floor (dropout makes it > 0; it also bounds
    the cost of one missing spike). The smoothing is centred: ``L(t)`` reads spikes up to ``t + r``
    (a detector using it decides ``r`` steps late).

    Example:
        >>> x = torch.zeros(9, 2); x[4, 0] = 1
        >>> L = log_evidence(x, 1.0, 0.1, 0.05)
        >>> round(float(L[4, 0]), 3), round(float(L[0, 1]), 3)  # log(0.05 + 0.3990 / 0.1), log(0.05)
        (1.396, -2.996)
    """
    if sigma <= 0 or rate <= 0 or floor <= 0:
        raise ValueError(f"log_evidence: sigma, rate and floor must be > 0, got {sigma}, {rate}, {floor}")
    if x.dim() < 2:
        raise ValueError(f"log_evidence: expected spikes [T, ..., C], got {tuple(x.shape)}")
    r = int(np.ceil(3 * sigma))
    j = torch.arange(-r, r + 1, dtype=x.dtype)
    g = torch.exp(-0.5 * (j / sigma) ** 2)
    g = g / g.sum()  # [2r+1] symmetric, so correlation = convolution
    shape = x.shape
    line = x.reshape(shape[0], -1).T.unsqueeze(1)  # [T, ..., C] -> [N, 1, T]: one row per (batch, channel)
    s = F.conv1d(line, g.view(1, 1, -1), padding=r)[:, 0].T.reshape(shape)  # [N, T] -> [T, ..., C]
    return torch.log(floor + s / rate)


def template_init_(model: KeywordSpotter, cfg: KWSConfig, inhibit: float = -2.0) -> None:
    """Wire every detector from its keyword's clean spike train (label time ``e = last + 15``).

    Synapse per spike at raw time ``t_i``: weight 1, delay ``round((last + 15 - t_i) / bin)`` bins.
    Inhibitory synapses (weight ``inhibit``) on both channels where the keyword has silence but a
    longer or different word has a spike: a next letter of the same word (first spike at
    ``last + 11``: delays 1–4 raw steps), a previous letter (last spike 11 steps before the word:
    delays ``last + 25 … last + 27``; a previous *word* ends 16 steps before, at ``last + 31``), and
    one symbol slot (``SYMBOL_SPACE + 1`` = 6 steps) before and after every letter (so "i" = ``..``
    does not fire inside "s" = ``...``).
    Threshold ``n - cfg.margin`` for ``n`` spikes (margin 1.5: one spike may be missing). Unused
    synapses get weight 0.
    """
    l1, R, b = model.l1, cfg.repeats, cfg.bin
    hi = l1.position_range[1]
    with torch.no_grad():
        l1.weight.zero_()
        for k, word in enumerate(TOP50_WORDS):
            ev = encode_word(word)
            last = int(ev.t[-1])
            taps = [(int(c), round((last + 15 - int(t)) / b), 1.0) for t, c in zip(ev.t, ev.x)]
            slots = [1, 2, 3, 4, last + 25, last + 26, last + 27]
            t0 = 0
            for ch in word:  # symbol slots just outside each letter: 6 steps before its first, after its last
                t1 = t0 + (len(MORSE_CODE[ch]) - 1) * (SYMBOL_SPACE + 1)
                slots += [last + 15 - (t0 - SYMBOL_SPACE - 1), last + 15 - (t1 + SYMBOL_SPACE + 1)]
                t0 = t1 + 1 + LETTER_SPACE
            checks = {round(r / b) for r in slots}
            for c in (0, 1):
                taps += [(c, d, inhibit) for d in sorted(checks)]
            used = [0, 0]
            for c, d, w in taps:
                if used[c] >= R or not 0 <= d < cfg.k1:
                    raise ValueError(f"template of {word!r} needs repeats > {R} and k1 > {d}")
                col = used[c] * 2 + c
                used[c] += 1
                l1.weight[k, col] = w
                l1.positions[k, col] = hi - d  # DelayLinear: delay = (K-1) - ⌊K/2⌋ - P
            l1.bias[k] = -(len(ev) - cfg.margin) * (1 - cfg.beta)  # type: ignore[index]  # v → bias / (1 - β)


def _onsets(z: Tensor, refractory: int) -> Tensor:
    """Rising edges of ``z [..., T']`` (bool, time last), minus those within ``refractory`` bins after an
    earlier edge."""
    onset = z & ~F.pad(z[..., :-1], (1, 0))  # [..., T']: rising edges
    if refractory > 0:
        c = F.pad(onset.to(torch.int32).cumsum(-1), (refractory + 1, 0))  # [..., r+1+T']
        before = c[..., refractory:-1] - c[..., :-refractory - 1]  # edges in bins t - r … t - 1
        onset = onset & (before == 0)
    return onset


def _threshold_counts(vk: Tensor, cand: Tensor, ends: Tensor, bin: int, tol: int,
                      refractory: int) -> tuple[Tensor, Tensor]:
    """For every candidate threshold ``cand [C]`` of one detector's membrane ``vk [T']``: the occurrences
    ``ends [E]`` (raw steps) with an onset (:func:`_onsets` of ``vk > c``) within ``±tol`` (``tp``) and the
    onsets near no occurrence (``fp``), both ``[C]`` float. Sparse: only the rising edges are visited.

    The same-keyword ends must lie more than ``2·tol`` apart (true of Morse words: ≥ 22 steps).
    """
    # an edge at t for threshold c needs vk[t] > c >= min(cand): visit only those bins
    idx = torch.nonzero(vk > cand.min()).flatten()  # [N]
    prev = torch.where(idx > 0, vk[(idx - 1).clamp(min=0)], torch.full_like(vk[idx], -torch.inf))  # [N]
    c = cand.unsqueeze(1)  # [C, 1]
    edge = (vk[idx].unsqueeze(0) > c) & ~(prev.unsqueeze(0) > c)  # [C, N] rising edges
    ci, ni = torch.nonzero(edge, as_tuple=True)  # row-major: sorted by candidate, then time
    ti = idx[ni]
    if refractory > 0 and len(ci):
        same = F.pad(ci[1:] == ci[:-1], (1, 0))  # previous edge belongs to the same candidate
        gap = ti - F.pad(ti[:-1], (1, 0))
        keep = ~same | (gap > refractory)  # _onsets: no edge (kept or not) in the r bins before
        ci, ti = ci[keep], ti[keep]
    t = ti * bin + bin - 1  # raw step of each onset
    e = torch.sort(ends).values
    j = torch.searchsorted(e, t - tol)  # first end >= t - tol
    near = j < len(e)
    near[near.clone()] &= e[j[near]] <= t[near] + tol
    C = len(cand)
    fp = torch.bincount(ci[~near], minlength=C).float()
    pairs = torch.unique(ci[near] * max(len(e), 1) + j[near])  # (candidate, occurrence) found
    tp = torch.bincount(pairs // max(len(e), 1), minlength=C).float()
    return tp, fp


def detect(v: Tensor, bin: int, refractory: int = 0) -> list[tuple[int, str]]:
    """Detections ``(raw step, keyword)`` from detector membranes ``[T', 50]``: every bin where a
    detector crosses 0 from below (a rising edge of its spikes), timed at the bin's last raw step; an
    edge within ``refractory`` bins after an earlier edge of the same detector is dropped.

    Example:
        >>> v = -torch.ones(6, 50); v[2:4, 0] = 1; v[5, 1] = 1
        >>> detect(v, bin=2)
        [(5, 'the'), (11, 'be')]
    """
    onset = _onsets((v > 0).T.contiguous(), refractory)  # [50, T']
    k, b = torch.nonzero(onset, as_tuple=True)
    return sorted((int(i) * bin + bin - 1, TOP50_WORDS[int(c)]) for i, c in zip(b, k))


@torch.no_grad()
def calibrate_thresholds(model: KeywordSpotter, cfg: KWSConfig, stream: KeywordStream, n: int = 64) -> float:
    """Set every detector's threshold (its bias) to the value that maximises its F1 on ``stream``.

    Candidates: 0 (the wired threshold; first, so it wins ties), ``n`` evenly spaced order statistics of
    the detector's membrane over its top 5 % and its values at the
    label bins. F1 is estimated fast (an occurrence is found if an onset lies within ``±tol`` of it;
    every other onset is a false positive). A keyword absent from ``stream`` is switched off.
    Returns the estimated macro F1 on ``stream`` (over the keywords that occur).
    """
    x, _ = stream_tensors(stream, cfg.bin, cfg.label_halfwidth)
    v = model.membranes(x)  # [T', 50]
    T = v.shape[0]
    f1s = []
    for k, word in enumerate(TOP50_WORDS):
        ends = torch.as_tensor(np.asarray(stream.ends[word], np.int64))
        vk = v[:, k]
        if len(ends) == 0:
            th = float(vk.max()) + 1.0
        else:
            lab = torch.clamp(ends // cfg.bin, max=T - 1)
            hi = torch.topk(vk, max(1, int(np.ceil(0.05 * T)))).values  # [⌈T/20⌉] top 5 %, descending
            top = hi[torch.linspace(len(hi) - 1, 0, n).round().long()]  # [n] order statistics 95 … 100 %
            cand = torch.cat([torch.zeros(1), top, vk[lab] - 1e-4])  # [C]
            tp, fp = _threshold_counts(vk, cand, ends, cfg.bin, cfg.tolerance, cfg.refractory)
            f1 = 2 * tp / (2 * tp + fp + (len(ends) - tp))  # [C]
            i = int(torch.argmax(f1))
            th = float(cand[i])
            f1s.append(float(f1[i]))
        model.l1.bias[k] -= th * (1 - cfg.beta)  # type: ignore[index]  # v shifts by bias / (1 - β)
    return float(np.mean(f1s))


EV_SIGMAS = (0.5, 1.0, 1.5, 2.0)  # log_evidence σ candidates [steps], chosen on the validation stream


def fit_variant(cfg: KWSConfig, noise: NoiseLevels, sigmas: tuple[float, ...] | None = None,
                inhibits: tuple[float, ...] = (-2.0, -0.5), words: int = 1000, zipf: bool = False,
                english: bool = False, evidence: bool = False) -> tuple[KeywordSpotter, KWSConfig]:
    """The wired template with the evaluation spread ``sigma``, the inhibition weight and the
    thresholds chosen on a :func:`validation_stream` of ``noise`` (best estimated macro F1).

    ``noise`` only generates the validation stream; no noise parameter of the generator is read here
    (a test checks the module's source for it).

    ``sigmas`` (default): rounded delays, SIG 1.5 or SIG 2.5 (the same candidates for every variant).

    ``evidence``: the detectors read :func:`log_evidence` of the input instead (rounded delays). Its rate λ is
    :func:`estimate_background_rate` of the validation stream (against the same text without noise; floored at
    0.01), its σ the best of :data:`EV_SIGMAS` on the validation stream (with ε 0.05, β 0 and the weaker silence
    check); then the candidates are the floor ε ∈ {0.05, 0.3} × membrane decay β ∈ {0, ``cfg.beta``} ×
    ``inhibits`` (default then {−0.3, −0.1}: a silence check now adds ``-inhibit · log ε`` > 0 in silence, so
    it is weighted less).
    """
    text = validation_text(words, zipf=zipf, english=english)
    stream = keyword_stream(text, noise, seed=1001)  # = validation_stream(noise, words, zipf=…, english=…)

    def score(c: KWSConfig) -> tuple[float, KeywordSpotter]:
        model = KeywordSpotter(c).eval()
        return calibrate_thresholds(model, c, stream), model

    if evidence:
        ev_rate = max(estimate_background_rate(stream, keyword_stream(text)), 0.01)
        inh = inhibits if inhibits != (-2.0, -0.5) else (-0.3, -0.1)
        base = replace(cfg, sigma=-1.0, evidence=0.05, beta=0.0, inhibit=inh[-1], ev_rate=ev_rate)
        ev_sigma = max(EV_SIGMAS, key=lambda sg: score(replace(base, ev_sigma=sg))[0])  # first best wins ties
        grid = [replace(cfg, sigma=-1.0, evidence=e, beta=b, inhibit=i, ev_sigma=ev_sigma, ev_rate=ev_rate)
                for e in (0.05, 0.3) for b in dict.fromkeys((0.0, cfg.beta)) for i in inh]
    else:
        if sigmas is None:
            sigmas = (-1.0, 1.5, 2.5)
        grid = [replace(cfg, sigma=sig, inhibit=i) for sig in sigmas for i in inhibits]
    best: tuple[float, KeywordSpotter | None, KWSConfig] = (-1.0, None, cfg)
    for c in grid:
        f, model = score(c)
        if f > best[0]:
            best = (f, model, c)
    assert best[1] is not None
    return best[1], best[2]


def _batch(rng: np.random.Generator, cfg: KWSConfig, variants: list[NoiseLevels]) -> tuple[Tensor, Tensor]:
    xs, ys = [], []
    for _ in range(cfg.batch):
        noise = variants[rng.integers(len(variants))]
        seed = int(rng.integers(2000, 1 << 30))  # never the evaluation seed 100
        s = keyword_stream(training_stream(rng, cfg.words, cfg.p_keyword), noise, seed=seed)
        x, y = stream_tensors(s, cfg.bin, cfg.label_halfwidth)
        xs.append(x)
        ys.append(y)
    n = max(len(y) for y in ys)
    x = torch.stack([F.pad(x, (0, 0, 0, n - len(x))) for x in xs], 1)  # [T', B, 2]
    y = torch.stack([F.pad(y, (0, 0, 0, n - len(y))) for y in ys], 1)  # [T', B, 50]
    return x, y


def train(cfg: KWSConfig, *, log: bool = True) -> KeywordSpotter:
    """Train a :class:`KeywordSpotter` on generated streams (see the module docs)."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = KeywordSpotter(cfg)
    opt = torch.optim.Adam(delay_param_groups(model, cfg.lr, cfg.lr_positions))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.iters)
    pos_weight = torch.full((NONE,), cfg.pos_weight)
    variants = noise_variants()
    decay_steps = max(1, int(cfg.sigma_fraction * cfg.iters))
    model.eval()
    if cfg.iters == 0:
        return model
    t0 = time.perf_counter()
    for it in range(cfg.iters):
        for layer in model.delay_layers():
            start = cfg.sig_start if cfg.init == "template" else layer.K // 2
            layer.set_sigma(sigma_schedule(it, decay_steps, start, 0.23, "exponential") if start > 0.23 else 0.23)
        model.train()
        x, y = _batch(rng, cfg, variants)
        out = model(x)  # [T', B, 50]
        loss = F.binary_cross_entropy_with_logits(out, y, pos_weight=pos_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        for layer in model.delay_layers():
            layer.clamp_positions_()
        if log and (it % 25 == 0 or it == cfg.iters - 1):
            print(f"iter {it:4d}  loss {loss.item():.4f}  {time.perf_counter() - t0:6.1f} s", flush=True)
    return model.eval()


def detection_loss(v: Tensor, y: Tensor, window: int, pos_weight: float = 1.0) -> Tensor:
    r"""Loss aligned with onset detection, for membranes (logits) ``v`` and targets ``y``, both ``[T', B, 50]``.

    A target run (the bins of one keyword occurrence, :func:`stream_tensors`; at most ``window`` bins, odd)
    needs the membrane to cross threshold *somewhere* in it: every target bin contributes
    :math:`\mathrm{softplus}(-m_t)` with :math:`m_t` the maximum of ``v`` over the ``window`` bins centred
    on it; every non-target bin adds :math:`\mathrm{softplus}(v_t)` (a per-bin BCE negative). Returns
    ``(Σ_neg softplus(v) + pos_weight · Σ_pos softplus(-m)) / v.numel()``. Unlike per-bin BCE, it does not
    ask the detector to stay above threshold for the whole run (which pulls the delays of a sharp
    coincidence detector apart).
    """
    if v.shape != y.shape or v.dim() != 3:
        raise ValueError(f"detection_loss: v and y must both be [T, B, K], got {tuple(v.shape)}, {tuple(y.shape)}")
    if window < 1 or window % 2 == 0:
        raise ValueError(f"detection_loss: window must be odd and >= 1, got {window}")
    T, B, K = v.shape
    vt = v.permute(1, 2, 0).reshape(B * K, 1, T)  # [T, B, K] -> [B·K, 1, T]
    m = F.max_pool1d(vt, window, 1, window // 2).view(B, K, T).permute(2, 0, 1)  # [T, B, K] centred max
    pos = y > 0
    neg = F.softplus(v)[~pos].sum()
    pos_term = F.softplus(-m)[pos].sum()
    return (neg + pos_weight * pos_term) / v.numel()


def finetune(model: KeywordSpotter, cfg: KWSConfig, noise: NoiseLevels, iters: int, *, seed: int = 0,
             log: bool = False) -> KeywordSpotter:
    r"""Gradient fine-tuning of a (wired, fitted) detector on generated training streams of ``noise``.

    Every step draws ``cfg.batch`` :func:`training_stream` texts of ``cfg.words`` tokens (noise seeds
    ≥ 2000: never the evaluation seed 100 nor the validation seeds) and takes one Adam step (weights,
    biases at ``cfg.lr``; delay positions at ``cfg.lr_positions``, clamped after the step) on
    :func:`detection_loss` (targets of :func:`stream_tensors` with ``cfg.label_halfwidth``, positive
    weight ``cfg.pos_weight``) of the membranes of :meth:`KeywordSpotter.folded`. The delay taps stay
    Gaussian during the steps: at the model's own
    ``SIG`` if it keeps a spread at evaluation (``cfg.sigma ≥ 0``), else at ``SIG = 0`` (σ_eff = 0.27;
    evaluation then rounds the learned positions). Re-calibrate the thresholds afterwards
    (:func:`calibrate_thresholds`). Returns ``model`` in ``.eval()``.
    """
    if iters < 0:
        raise ValueError(f"finetune: iters must be >= 0, got {iters}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(1_000_000 + seed)
    layer = model.l1
    if cfg.sigma < 0:
        layer.set_sigma(0.0)
    opt = torch.optim.Adam(delay_param_groups(model, cfg.lr, cfg.lr_positions))
    pos_weight = float(cfg.pos_weight)
    window = 2 * -(-cfg.label_halfwidth // cfg.bin) + 1  # bins of a target run (at most)
    t0 = time.perf_counter()
    model.train()
    for it in range(iters):
        x, y = _batch(rng, cfg, [noise])  # [T', B, 2], [T', B, 50]
        loss = detection_loss(model.folded(x), y, window, pos_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        layer.clamp_positions_()
        if log and (it % 10 == 0 or it == iters - 1):
            print(f"  finetune {it:4d}  loss {loss.item():.4f}  {time.perf_counter() - t0:6.1f} s", flush=True)
    return model.eval()


@torch.no_grad()
def evaluate(model: KeywordSpotter, cfg: KWSConfig, noise: NoiseLevels | None = None, *,
             text: str | None = None, seed: int = NEUROMORSE_SEED) -> KeywordScores:
    """Scores of ``model`` (in ``.eval()``: rounded delays) on the keyword stream of ``text``."""
    stream = keyword_stream(text, noise, seed=seed)
    x, _ = stream_tensors(stream, cfg.bin, cfg.label_halfwidth)
    model.eval()
    v = model.membranes(x)  # [T', 50]
    return match_detections(detect(v, cfg.bin, cfg.refractory), stream.ends, cfg.tolerance)


def _parse(argv: list[str] | None) -> tuple[KWSConfig, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m spikeforge.tasks.neuromorse_kws", description=__doc__.split("\n")[0])
    for f, v in asdict(KWSConfig()).items():
        if isinstance(v, bool):
            p.add_argument(f"--{f.replace('_', '-')}", action="store_true")
        else:
            p.add_argument(f"--{f.replace('_', '-')}", type=type(v), default=v)
    p.add_argument("--variants", default="all",
                   help="'all' (27), 'single' (clean + one noise type at a time), 'mixed' (two or three noise "
                        "types), 'clean', or codes dropout-jitter-Poisson in n/l/h separated by commas ('nnh,hhh')")
    p.add_argument("--finetune", type=int, default=0, metavar="N",
                   help="with --fit: N gradient steps of finetune() per variant from the fitted template, "
                        "then the thresholds re-calibrated on the same validation stream")
    p.add_argument("--fit", action="store_true",
                   help="per variant: choose sigma, inhibit and the thresholds on a validation stream (fit_variant)")
    p.add_argument("--log-evidence", action="store_true",
                   help="with --fit: the detectors read log_evidence() of the input (see fit_variant)")
    p.add_argument("--english-val", action="store_true",
                   help="with --fit: validation distractors are common English words (training_stream english=True)")
    p.add_argument("--val-words", type=int, default=1000, help="tokens of the --fit validation stream")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    cfg = KWSConfig(**{f: getattr(args, f) for f in asdict(KWSConfig())})
    return cfg, args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    cfg, args = _parse(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = train(cfg)
    train_s = time.perf_counter() - t0
    variants = select_variants(args.variants)
    n_params = sum(p.numel() for p in model.parameters())
    rows = []
    print(f"\n{n_params} parameters, trained in {train_s:.0f} s; tolerance ±{cfg.tolerance} steps")
    print(f"{'variant':<44} {'macroF1':>8} {'microF1':>8} {'P':>6} {'R':>6}")
    for v in variants:
        t1 = time.perf_counter()
        m, c = fit_variant(cfg, v, words=args.val_words, english=args.english_val,
                           evidence=args.log_evidence) if args.fit else (model, cfg)
        if args.finetune:
            if not args.fit:
                raise SystemExit("--finetune needs --fit (it starts from the fitted template)")
            finetune(m, c, v, args.finetune, seed=cfg.seed)
            calibrate_thresholds(m, c, validation_stream(v, args.val_words, english=args.english_val))
        s = evaluate(m, c, v).summary()
        rows.append({"variant": v.file_stem, "sigma": c.sigma, "inhibit": c.inhibit, "evidence": c.evidence,
                     "beta": c.beta, "ev_sigma": c.ev_sigma, "ev_rate": c.ev_rate, **s,
                     "seconds": time.perf_counter() - t1})
        print(f"{v.file_stem:<44} {s['macro_f1']:8.3f} {s['micro_f1']:8.3f} {s['micro_precision']:6.3f} "
              f"{s['micro_recall']:6.3f}  sigma {c.sigma:4.1f} inhibit {c.inhibit:4.1f} evidence {c.evidence:5.2f} "
              f"beta {c.beta:3.1f}" + (f" ev_sigma {c.ev_sigma:3.1f} ev_rate {c.ev_rate:.4f}" if c.evidence > 0 else "")
              + f"  {rows[-1]['seconds']:.0f} s",
              flush=True)
    result = {"config": asdict(cfg), "parameters": n_params, "train_seconds": train_s, "results": rows,
              "total_seconds": time.perf_counter() - t0,
              "mean_macro_f1": float(np.mean([r["macro_f1"] for r in rows]))}
    print(f"mean macro F1 over {len(rows)} variants: {result['mean_macro_f1']:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main()
