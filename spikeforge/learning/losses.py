"""Losses for spiking classifiers. Inputs are time-major outputs ``[T, B, C]``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._registry import Registry

__all__ = [
    "LOSSES", "ce_count_loss", "ce_membrane_loss", "ce_softmax_sum_loss", "mse_count_loss", "first_spike_time_loss",
]

LOSSES: Registry = Registry("loss")


def _check(out: Tensor, target: Tensor) -> None:
    if out.dim() != 3:
        raise ValueError(f"expected time-major outputs [T, B, C], got shape {tuple(out.shape)}")
    if target.dim() != 1 or target.shape[0] != out.shape[1]:
        raise ValueError(
            f"expected integer targets [B] with B={out.shape[1]}, got shape {tuple(target.shape)}"
        )
    if target.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"targets must be class indices (integer dtype), got {target.dtype}")


@LOSSES.register("ce_count")
def ce_count_loss(zs: Tensor, target: Tensor) -> Tensor:
    r"""Cross-entropy on spike counts: :math:`\mathrm{CE}(\sum_t z_t, y)`.

    Shapes: ``zs [T, B, C]``, ``target [B]`` → scalar.
    """
    _check(zs, target)
    return F.cross_entropy(zs.sum(0), target.long())


@LOSSES.register("ce_membrane")
def ce_membrane_loss(vs: Tensor, target: Tensor, reduce: str = "mean") -> Tensor:
    r"""Cross-entropy on the readout membrane reduced over time (``"mean"``, ``"max"`` or
    ``"last"``): :math:`\mathrm{CE}(\mathrm{reduce}_t v_t, y)`.

    Shapes: ``vs [T, B, C]``, ``target [B]`` → scalar.
    """
    _check(vs, target)
    if reduce == "mean":
        logits = vs.mean(0)
    elif reduce == "max":
        logits = vs.amax(0)
    elif reduce == "last":
        logits = vs[-1]
    else:
        raise ValueError(f"reduce must be 'mean', 'max' or 'last', got {reduce!r}")
    return F.cross_entropy(logits, target.long())


@LOSSES.register("ce_softmax_sum")
def ce_softmax_sum_loss(vs: Tensor, target: Tensor) -> Tensor:
    r"""Cross-entropy whose logits are the per-step softmax summed over time (the DCLS-Delays
    recipe): :math:`\mathrm{CE}(\sum_t \mathrm{softmax}(v_t), y)`.

    Shapes: ``vs [T, B, C]``, ``target [B]`` → scalar.
    """
    _check(vs, target)
    return F.cross_entropy(vs.softmax(-1).sum(0), target.long())


@LOSSES.register("mse_count")
def mse_count_loss(zs: Tensor, target: Tensor, on_rate: float = 0.8, off_rate: float = 0.2) -> Tensor:
    r"""MSE between spike counts and target counts: ``on_rate·T`` for the true class and
    ``off_rate·T`` for the others.

    Shapes: ``zs [T, B, C]``, ``target [B]`` → scalar.
    """
    _check(zs, target)
    if not 0.0 <= off_rate <= 1.0 or not 0.0 <= on_rate <= 1.0:
        raise ValueError(f"on_rate and off_rate must be in [0, 1], got {on_rate}, {off_rate}")
    T, _, C = zs.shape
    want = F.one_hot(target.long(), C).to(zs.dtype) * (on_rate - off_rate) + off_rate  # [B, C]
    return F.mse_loss(zs.sum(0), want * T)


def first_spike_times(zs: Tensor) -> Tensor:
    """Differentiable first-spike time per neuron, ``T`` if it never fires.

    Uses ``t_first = sum_t (1 - cumulative spike indicator)``; the gradient flows through the
    surrogate of every spike before the first. Shapes: ``[T, B, C] -> [B, C]``.
    """
    fired = torch.cumsum(zs, dim=0).clamp(max=1.0)  # [T, B, C], 1 from the first spike on
    return (1.0 - fired).sum(0)  # [B, C]


@LOSSES.register("first_spike")
def first_spike_time_loss(zs: Tensor, target: Tensor) -> Tensor:
    r"""Time-to-first-spike classification: cross-entropy on :math:`-t_{first}` so the true class
    should fire first (earlier spike → larger logit).

    Shapes: ``zs [T, B, C]``, ``target [B]`` → scalar.
    """
    _check(zs, target)
    return F.cross_entropy(-first_spike_times(zs), target.long())
