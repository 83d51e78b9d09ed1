"""Dynamic Confidence: a plain-Python float64 reference of the rule, check 23's properties, and
SynOps of early-exiting batches against per-sample profiles."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.inference import dynamic_confidence, evaluate_dynamic_confidence
from spikeforge.metrics import profile


def _reference(outputs: list[list[list[float]]], th: float, temp: float) -> list[tuple[int, int]]:
    """(1-based exit step, prediction) per sample, written out loop by loop."""
    T, B, K = len(outputs), len(outputs[0]), len(outputs[0][0])
    res = []
    for b in range(B):
        acc = [0.0] * K
        for t in range(T):
            acc = [a + o / temp for a, o in zip(acc, outputs[t][b], strict=True)]
            m = max(acc)
            e = [math.exp(a - m) for a in acc]
            c = max(e) / sum(e)
            if c > th or t == T - 1:
                res.append((t + 1, max(range(K), key=lambda j: acc[j])))
                break
    return res


def test_matches_loop_reference() -> None:
    g = torch.Generator().manual_seed(0)
    out = torch.randn(12, 40, 5, generator=g, dtype=torch.float64) * 20
    for th in (0.3, 0.5, 0.8, 0.95):
        r = dynamic_confidence(out, th, temperature=30.0)
        ref = _reference(out.tolist(), th, 30.0)
        assert list(zip(r.steps.tolist(), r.prediction.tolist(), strict=True)) == ref


def test_check_23_properties() -> None:
    g = torch.Generator().manual_seed(1)
    T, B, K = 10, 200, 4
    out = torch.randn(T, B, K, generator=g) * 15
    conf = torch.softmax(out.double().cumsum(0) / 30, -1).amax(-1)  # [T, B]
    for th in (0.3, 0.6, 0.9):
        r = dynamic_confidence(out, th)
        for b in range(B):
            t = int(r.steps[b])
            assert bool((conf[: t - 1, b] <= th).all())  # never exits before c_t > C_th
            assert t == T or conf[t - 1, b] > th
    assert (dynamic_confidence(out, 1.0).steps == T).all()  # C_th >= 1: always T
    assert (dynamic_confidence(out, 1.0 / K - 1e-9).steps == 1).all()  # C_th < 1/K: always step 1
    means = [float(dynamic_confidence(out, th).steps.float().mean()) for th in torch.linspace(0, 1, 21).tolist()]
    assert all(a <= b for a, b in zip(means, means[1:], strict=False))  # latency non-decreasing in C_th


def test_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\[T, B, K\]"):
        dynamic_confidence(torch.zeros(3, 4), 0.5)
    with pytest.raises(ValueError, match="NaN"):
        dynamic_confidence(torch.full((2, 1, 3), float("nan")), 0.5)
    with pytest.raises(ValueError, match="temperature"):
        dynamic_confidence(torch.zeros(2, 1, 3), 0.5, temperature=0)


def test_synops_of_early_exit_equal_per_sample_profiles() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 32), sf.LIF.from_decay(0.8), nn.Linear(32, 3), sf.LI.from_decay(0.9))
    xs = (torch.rand(8, 6, 12) < 0.3).float()  # [T, B, 12] spikes
    labels = torch.randint(0, 3, (6,))
    outputs = net(xs)
    rows = evaluate_dynamic_confidence(net, xs, labels, [0.34, 0.5, 1.0], temperature=1.0, accumulate="none")
    for row in rows:
        r = dynamic_confidence(outputs, row.threshold, temperature=1.0, accumulate="none")
        total = 0.0  # independent: every sample alone, on its own prefix
        for b in range(6):
            with profile(net, batch_size=1) as prof:
                net(xs[: int(r.steps[b]), b : b + 1])
            s = prof.synops()
            total += s["Effective_MACs"] + s["Effective_ACs"]
        assert row.synops == pytest.approx(total / 6, rel=1e-12)
        assert row.mean_steps == pytest.approx(float(r.steps.double().mean()))
        assert row.accuracy == pytest.approx(float((r.prediction == labels).double().mean()))
    assert rows[-1].synops == pytest.approx(rows[-1].synops_full) and rows[-1].synops_saved == pytest.approx(0.0)
    assert rows[0].synops <= rows[1].synops <= rows[2].synops
