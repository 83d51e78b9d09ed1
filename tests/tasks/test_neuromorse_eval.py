"""Keyword-spotting scores on hand-counted detection sets (spikeforge.tasks.neuromorse_eval)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from spikeforge.data.generators.neuromorse import keyword_stream
from spikeforge.tasks.neuromorse_eval import KeywordCounts, match_detections, published_spike_counts


def test_hand_counted_example() -> None:
    ends = {"the": np.array([40, 100]), "a": np.array([70]), "be": np.array([], np.int64)}
    dets = [(42, "the"), (43, "the"), (70, "the"), (98, "a")]
    s = match_detections(dets, ends, tolerance=3)
    # the: 42 claims 40; 43 finds 40 taken and 100 out of reach; 70 matches nothing; 100 missed
    assert s.per_keyword["the"] == KeywordCounts(tp=1, fp=2, fn=1)
    assert s.per_keyword["a"] == KeywordCounts(tp=0, fp=1, fn=1)   # 98 is 28 steps from 70
    assert s.per_keyword["be"] == KeywordCounts(0, 0, 0)            # absent: left out of the averages
    assert s.per_keyword["the"].precision == pytest.approx(1 / 3)
    assert s.per_keyword["the"].recall == pytest.approx(1 / 2)
    assert s.per_keyword["the"].f1 == pytest.approx(2 / 5)
    assert math.isnan(s.per_keyword["be"].f1)
    assert s.macro_f1 == pytest.approx((0.4 + 0.0) / 2)
    assert s.macro_precision == pytest.approx((1 / 3 + 0) / 2)
    assert s.macro_recall == pytest.approx((1 / 2 + 0) / 2)
    assert (s.totals.tp, s.totals.fp, s.totals.fn) == (1, 3, 2)
    assert s.micro_f1 == pytest.approx(2 / 7)


@pytest.mark.parametrize("tol", [0, 2, 5])
def test_window_edges_are_inclusive(tol: int) -> None:
    ends = {"go": np.array([50])}
    for t, hit in [(50 - tol, 1), (50 + tol, 1), (50 - tol - 1, 0), (50 + tol + 1, 0)]:
        c = match_detections([(t, "go")], ends, tolerance=tol).per_keyword["go"]
        assert (c.tp, c.fp, c.fn) == (hit, 1 - hit, 1 - hit), t


def test_matching_is_one_to_one_and_order_free() -> None:
    # ends 10 and 16, tolerance 3: 8 can only claim 10, so 13 must take 16 -> two hits.
    ends = {"me": np.array([16, 10])}
    for dets in ([(8, "me"), (13, "me")], [(13, "me"), (8, "me")]):
        assert match_detections(dets, ends, tolerance=3).per_keyword["me"] == KeywordCounts(2, 0, 0)
    # two detections cannot both claim one occurrence
    assert match_detections([(10, "me"), (10, "me")], {"me": np.array([10])}, 0).per_keyword["me"] == \
        KeywordCounts(1, 1, 0)


def test_on_a_generated_stream() -> None:
    stream = keyword_stream("the cat and the dog say it")
    truth = [(int(e), k) for k, es in stream.ends.items() for e in es]
    assert len(truth) == 5  # the, and, the, say, it
    perfect = match_detections(truth, stream.ends, tolerance=2)
    assert (perfect.macro_f1, perfect.micro_f1, perfect.totals.fn) == (1.0, 1.0, 0)
    random.Random(0).shuffle(truth)
    late = match_detections([(t + 3, k) for t, k in truth], stream.ends, tolerance=2)
    assert (late.totals.tp, late.totals.fp, late.totals.fn) == (0, 5, 5)
    assert late.macro_f1 == 0.0
    # a detection of a keyword that never occurs counts against it in the macro average
    extra = match_detections(truth + [(5, "which")], stream.ends, tolerance=2)
    assert extra.per_keyword["which"] == KeywordCounts(0, 1, 0)
    assert extra.macro_f1 == pytest.approx(4 / 5)


def test_published_counts_are_exact_time_and_unmatched() -> None:
    ends = {"the": np.array([40, 100]), "a": np.array([70])}
    dets = [(40, "the"), (40, "the"), (41, "the"), (70, "a"), (100, "a")]
    assert published_spike_counts(dets, ends) == {"the": (2, 1), "a": (1, 1)}


def test_bad_input() -> None:
    with pytest.raises(KeyError, match="not among"):
        match_detections([(3, "zebra")], {"the": np.array([3])})
    with pytest.raises(ValueError, match="tolerance"):
        match_detections([], {"the": np.array([3])}, tolerance=-1)
    with pytest.raises(ValueError, match="pair"):
        match_detections([(3, "the", 1)], {"the": np.array([3])})  # type: ignore[list-item]
