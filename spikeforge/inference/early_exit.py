r"""Dynamic Confidence (Li, Jones & Furber, ICCV 2023): stop simulating a sample once its decoded
output is confident enough.

With per-step outputs :math:`o_k` of a ``[T, B, K]`` classifier,

.. math:: O_t = \frac{1}{\tau} \sum_{k \le t} o_k, \qquad c_t = \max_j \operatorname{softmax}(O_t)_j,
          \qquad t^* = \min\{t : c_t > C_{th}\} \ (\text{else } T),

and the prediction is :math:`\arg\max O_{t^*}`. The temperature :math:`\tau = 30` is the reference
code's fixed divisor (project reference §4.8, tagged [V]); the paper's "confidence smoothing" is
not specified there and is not implemented. ``accumulate="none"`` uses :math:`O_t = o_t / \tau`
instead, for readouts that already integrate (a leaky-integrator membrane).

Steps are 1-based: ``t* = 1`` means the first step's output was used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["ExitResult", "dynamic_confidence", "ThresholdResult", "evaluate_dynamic_confidence"]


@dataclass(frozen=True)
class ExitResult:
    prediction: Tensor  # [B] int64
    steps: Tensor  # [B] int64, 1-based exit step t*
    confidence: Tensor  # [B] c_{t*}


def _accumulated(outputs: Tensor, temperature: float, accumulate: str) -> Tensor:
    if outputs.dim() != 3:
        raise ValueError(f"dynamic_confidence: outputs must be [T, B, K] per-step outputs, got shape "
                         f"{tuple(outputs.shape)}")
    if not temperature > 0:
        raise ValueError(f"dynamic_confidence: temperature must be > 0, got {temperature!r}")
    if accumulate not in ("sum", "none"):
        raise ValueError(f"dynamic_confidence: accumulate must be 'sum' or 'none', got {accumulate!r}")
    if not torch.isfinite(outputs).all():
        raise ValueError("dynamic_confidence: outputs contain NaN or inf")
    o = outputs.detach().double()
    return (o.cumsum(0) if accumulate == "sum" else o) / temperature  # [T, B, K]


def dynamic_confidence(outputs: Tensor, threshold: float, *, temperature: float = 30.0,
                       accumulate: str = "sum") -> ExitResult:
    """Per-sample exit step and prediction for one confidence threshold ``C_th``.

    Shapes:
        ``outputs [T, B, K] -> ExitResult(prediction [B], steps [B], confidence [B])``

    Example:
        >>> o = torch.tensor([[[0.0, 30.0]], [[0.0, 30.0]]])          # T=2, B=1, K=2
        >>> r = dynamic_confidence(o, 0.7)
        >>> r.steps.tolist(), r.prediction.tolist()                      # softmax([0, 1]) = 0.73 > 0.7
        ([1], [1])
    """
    acc = _accumulated(outputs, temperature, accumulate)  # [T, B, K]
    conf = torch.softmax(acc, dim=-1).amax(-1)  # [T, B]
    T = acc.shape[0]
    above = conf > threshold  # [T, B]
    first = torch.where(above.any(0), above.float().argmax(0), torch.full_like(above[0], T - 1, dtype=torch.long))
    idx = first.view(1, -1, 1).expand(1, -1, acc.shape[2])  # [B] -> [1, B, K]
    at_exit = acc.gather(0, idx)[0]  # [B, K]
    return ExitResult(at_exit.argmax(-1), first + 1, conf.gather(0, first.view(1, -1))[0].to(outputs.dtype))


@dataclass(frozen=True)
class ThresholdResult:
    threshold: float
    accuracy: float
    mean_steps: float
    synops: float | None  # per sample, with exited samples stopped (None if not measured)
    synops_full: float | None  # per sample, all T steps
    full_accuracy: float  # accuracy after all T steps (same decoding)

    @property
    def synops_saved(self) -> float | None:
        """Fraction of the full run's synaptic operations not spent."""
        if self.synops is None or not self.synops_full:
            return None
        return 1.0 - self.synops / self.synops_full


def _synops(model: nn.Module, xs: Tensor) -> float:
    """Total (not per-sample) effective synaptic operations of ``model(xs)``."""
    from ..metrics import profile

    with profile(model, batch_size=1, membrane=False) as prof:  # membrane updates are not synops
        model(xs)
    s = prof.synops()
    return float(s["Effective_MACs"] + s["Effective_ACs"])


@torch.no_grad()
def evaluate_dynamic_confidence(model: nn.Module, xs: Tensor, labels: Tensor, thresholds: Sequence[float], *,
                                temperature: float = 30.0, accumulate: str = "sum",
                                measure_synops: bool = True) -> list[ThresholdResult]:
    """Accuracy, mean exit step and SynOps per sample for each ``C_th`` in ``thresholds``.

    ``model`` maps time-major inputs ``xs [T, B, ...]`` to per-step outputs ``[T, B, K]`` and must
    be causal (the output at step t depends on inputs up to t) with independent samples — true of
    any stack of spikeforge layers in eval mode. The SynOps of an early-exiting batch are measured,
    not estimated: the samples that exit at step t are re-run on ``xs[:t]`` under the profiler, so
    exited samples spend nothing after their exit (the per-sample masking the method needs).

    Shapes:
        ``xs [T, B, ...]``, ``labels [B]``.
    """
    if xs.dim() < 3:
        raise ValueError(f"evaluate_dynamic_confidence: xs must be time-major [T, B, ...], got {tuple(xs.shape)}")
    if labels.shape != (xs.shape[1],):
        raise ValueError(f"evaluate_dynamic_confidence: labels must be [B] = [{xs.shape[1]}], got "
                         f"{tuple(labels.shape)}")
    was = model.training
    model.eval()
    try:
        outputs = model(xs)  # [T, B, K]
        if outputs.dim() != 3 or outputs.shape[:2] != xs.shape[:2]:
            raise ValueError(f"evaluate_dynamic_confidence: the model must return per-step outputs [T, B, K] "
                             f"= [{xs.shape[0]}, {xs.shape[1]}, K], got {tuple(outputs.shape)}")
        full = dynamic_confidence(outputs, 2.0, temperature=temperature, accumulate=accumulate)  # never exits
        full_acc = float((full.prediction == labels).double().mean())
        spent: dict[tuple[int, tuple[int, ...]], float] = {}  # (t, samples) -> SynOps; thresholds share groups

        def group_synops(t: int, group: Tensor) -> float:
            key = (t, tuple(group.tolist()))
            if key not in spent:
                spent[key] = _synops(model, xs[:t, group])
            return spent[key]

        full_ops = group_synops(xs.shape[0], torch.arange(xs.shape[1])) / xs.shape[1] if measure_synops else None
        rows = []
        for th in thresholds:
            r = dynamic_confidence(outputs, float(th), temperature=temperature, accumulate=accumulate)
            ops = None
            if measure_synops:
                total = 0.0
                for t in torch.unique(r.steps).tolist():
                    group = (r.steps == t).nonzero().flatten()  # samples exiting at step t
                    total += group_synops(int(t), group)
                ops = total / xs.shape[1]
            rows.append(ThresholdResult(float(th), float((r.prediction == labels).double().mean()),
                                        float(r.steps.double().mean()), ops, full_ops, full_acc))
        return rows
    finally:
        model.train(was)
