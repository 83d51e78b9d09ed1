"""The latency-property checker of ``tools/dynamic_confidence_seeds.py`` (reference check 23, issue 16):
it accepts the exit steps of :func:`dynamic_confidence` and names the property a wrong rule breaks."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from spikeforge.inference import ExitResult, dynamic_confidence

_spec = importlib.util.spec_from_file_location(
    "dynamic_confidence_seeds_tool", Path(__file__).resolve().parents[2] / "tools" / "dynamic_confidence_seeds.py")
assert _spec is not None and _spec.loader is not None
dcs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dcs)

THRESHOLDS = [0.05, 0.12, 0.2, 0.5, 1.0]


def _outputs() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return 20 * torch.randn(8, 50, 10, generator=g)  # [T, B, K] per-step logits, scale of a trained net / 30


def _mean_steps(outputs: torch.Tensor) -> list[float]:
    return [float(dynamic_confidence(outputs, th, temperature=30.0).steps.double().mean()) for th in THRESHOLDS]


def test_checker_accepts_the_exit_rule() -> None:
    outputs = _outputs()
    ms = _mean_steps(outputs)
    assert ms[0] == 1.0 and ms[-1] == 8.0 and 1.0 < ms[2] < 8.0  # the sweep spans both ends
    dcs.check_latency_properties(outputs, THRESHOLDS, ms)


def test_checker_names_a_broken_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = _outputs()

    def one_step_late(o: torch.Tensor, th: float, **kw: object) -> ExitResult:
        r = dynamic_confidence(o, th, temperature=30.0)
        return ExitResult(r.prediction, (r.steps + 1).clamp(max=o.shape[0]), r.confidence)

    monkeypatch.setattr(dcs, "dynamic_confidence", one_step_late)
    with pytest.raises(AssertionError, match="ran past a step with confidence > C_th"):
        dcs.check_latency_properties(outputs, THRESHOLDS, _mean_steps(outputs))

    def one_step_early(o: torch.Tensor, th: float, **kw: object) -> ExitResult:
        r = dynamic_confidence(o, th, temperature=30.0)
        return ExitResult(r.prediction, (r.steps - 1).clamp(min=1), r.confidence)

    monkeypatch.setattr(dcs, "dynamic_confidence", one_step_early)
    with pytest.raises(AssertionError, match="exited before its confidence passed"):
        dcs.check_latency_properties(outputs, THRESHOLDS, _mean_steps(outputs))
    monkeypatch.undo()
    with pytest.raises(AssertionError, match="not monotone"):
        dcs.check_latency_properties(outputs, THRESHOLDS, _mean_steps(outputs)[::-1])
