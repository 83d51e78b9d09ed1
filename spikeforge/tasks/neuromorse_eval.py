r"""Keyword-spotting scores on a NeuroMorse stream: detections matched to keyword ends within a tolerance.

A *detection* is a pair ``(t, k)``: at time step ``t`` the model claims keyword ``k`` has just been
spoken. Ground truth is the stream's label times ``ends[k]`` (start of the occurrence + last spike
of the keyword + the word gap, :class:`~spikeforge.data.generators.neuromorse.KeywordStream`).

Matching, per keyword: a detection at ``t`` may claim an occurrence ending at ``e`` if
:math:`|t - e| \le \mathrm{tol}`; each occurrence is claimed at most once and each detection
claims at most one occurrence (maximum one-to-one matching: scan detections in time order, each
takes the earliest unclaimed end still in reach — optimal because all windows have the same width).
Then ``TP`` = matched detections, ``FP`` = unmatched detections, ``FN`` = unmatched occurrences and

.. math:: P = \frac{TP}{TP+FP},\quad R = \frac{TP}{TP+FN},\quad F_1 = \frac{2TP}{2TP+FP+FN}.

Averages: *macro* F1 over the keywords that occur in the stream or were detected (a keyword that
never occurs and is never claimed is left out; one that is claimed but never occurs scores 0);
macro precision over keywords with detections, macro recall over keywords that occur; *micro*
scores pool the counts of all keywords.

**What differs from the published evaluation.** The NeuroMorse paper (Walters et al., 2025)
reports, for its STDP network on the test stream, a count of "correct" and "incorrect" output
spikes per class: a spike of class ``k`` at ``t`` is correct iff ``t`` is *exactly* one of the
label times of ``k`` (tolerance 0), with no one-to-one matching (two spikes at the same label time
would both count) and no recall (missed keywords are not counted) — see
:func:`published_spike_counts`, which reproduces that count. Its supervised network is scored on
words pre-segmented from the corpus, not on the stream. Neither defines precision, recall or F1,
a tolerance window, or averages; those are ours (the issue asks for them). The paper's corpus
(~50,000 Wikipedia articles) is not shipped; our stream encodes a small public-domain text.
The dataset repository's STDP test loop also takes only the *first* spiking output neuron at a step (at
most one detection per step over all classes); docs/delays.md lists what else differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["KeywordCounts", "KeywordScores", "match_detections", "published_spike_counts"]


@dataclass(frozen=True)
class KeywordCounts:
    """Matched counts of one keyword."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """``TP / (TP + FP)``; NaN without detections."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        """``TP / (TP + FN)``; NaN if the keyword never occurs."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        """``2TP / (2TP + FP + FN)``; NaN if the keyword neither occurs nor is detected."""
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else float("nan")


@dataclass(frozen=True)
class KeywordScores:
    """Per-keyword counts and their averages (see the module docstring)."""

    per_keyword: dict[str, KeywordCounts]
    tolerance: int
    extra: dict[str, float] = field(default_factory=dict)

    def _mean(self, values: Iterable[float]) -> float:
        v = [x for x in values if not np.isnan(x)]
        return float(np.mean(v)) if v else float("nan")

    @property
    def macro_f1(self) -> float:
        return self._mean(c.f1 for c in self.per_keyword.values())

    @property
    def macro_precision(self) -> float:
        return self._mean(c.precision for c in self.per_keyword.values())

    @property
    def macro_recall(self) -> float:
        return self._mean(c.recall for c in self.per_keyword.values())

    @property
    def totals(self) -> KeywordCounts:
        c = self.per_keyword.values()
        return KeywordCounts(sum(x.tp for x in c), sum(x.fp for x in c), sum(x.fn for x in c))

    @property
    def micro_precision(self) -> float:
        return self.totals.precision

    @property
    def micro_recall(self) -> float:
        return self.totals.recall

    @property
    def micro_f1(self) -> float:
        return self.totals.f1

    def summary(self) -> dict[str, float]:
        """Averages and pooled counts as plain numbers (for reports)."""
        t = self.totals
        return {"macro_f1": self.macro_f1, "macro_precision": self.macro_precision,
                "macro_recall": self.macro_recall, "micro_f1": self.micro_f1,
                "micro_precision": self.micro_precision, "micro_recall": self.micro_recall,
                "tp": float(t.tp), "fp": float(t.fp), "fn": float(t.fn)}


def _check(detections: Sequence[tuple[int, str]], ends: Mapping[str, np.ndarray]) -> None:
    for item in detections:
        if len(item) != 2:
            raise ValueError(f"a detection must be a (time, keyword) pair, got {item!r}")
        if item[1] not in ends:
            raise KeyError(f"detection {item!r} names keyword {item[1]!r}, which is not among the stream's "
                           f"{len(ends)} keywords")


def match_detections(detections: Sequence[tuple[int, str]], ends: Mapping[str, np.ndarray],
                     tolerance: int = 5) -> KeywordScores:
    """Score ``(time, keyword)`` detections against the label times ``ends`` (one array per keyword).

    Example:
        >>> ends = {"the": np.array([40, 100]), "a": np.array([70])}
        >>> s = match_detections([(42, "the"), (43, "the"), (70, "the")], ends, tolerance=3)
        >>> s.per_keyword["the"], s.per_keyword["a"]
        (KeywordCounts(tp=1, fp=2, fn=1), KeywordCounts(tp=0, fp=0, fn=1))
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 steps, got {tolerance}")
    _check(detections, ends)
    by_kw: dict[str, list[int]] = {k: [] for k in ends}
    for t, k in detections:
        by_kw[k].append(int(t))
    out: dict[str, KeywordCounts] = {}
    for k, e_arr in ends.items():
        e = np.sort(np.asarray(e_arr, np.int64))
        ts = sorted(by_kw[k])
        j, tp = 0, 0  # j: first end not yet claimed nor passed
        for t in ts:
            while j < len(e) and e[j] < t - tolerance:  # ends out of reach for this and later detections
                j += 1
            if j < len(e) and abs(int(e[j]) - t) <= tolerance:
                tp += 1
                j += 1
        out[k] = KeywordCounts(tp, len(ts) - tp, len(e) - tp)
    return KeywordScores(out, int(tolerance))


def published_spike_counts(detections: Sequence[tuple[int, str]],
                           ends: Mapping[str, np.ndarray]) -> dict[str, tuple[int, int]]:
    """The NeuroMorse paper's per-class ``(correct, incorrect)`` output-spike counts: a detection is
    correct iff its time equals one of the keyword's label times exactly (no matching, no recall).

    Example:
        >>> published_spike_counts([(40, "the"), (40, "the"), (41, "the")], {"the": np.array([40])})
        {'the': (2, 1)}
    """
    _check(detections, ends)
    sets = {k: {int(x) for x in np.asarray(v).ravel()} for k, v in ends.items()}
    counts = {k: [0, 0] for k in ends}
    for t, k in detections:
        counts[k][0 if int(t) in sets[k] else 1] += 1
    return {k: (c[0], c[1]) for k, c in counts.items()}
