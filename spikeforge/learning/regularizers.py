"""Activity regularizers."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["firing_rate_regularizer", "RateRegularizer"]


def firing_rate_regularizer(
    spikes: Iterable[Tensor], *, lower: float = 0.0, upper: float = 1.0, weight: float = 1.0
) -> Tensor:
    r"""Penalise per-neuron firing rates outside ``[lower, upper]`` (spikes per step).

    .. math:: w \sum_\ell \mathrm{mean}_i\big(\mathrm{relu}(lower - r_i)^2 + \mathrm{relu}(r_i - upper)^2\big),
              \quad r_i = \tfrac{1}{TB}\sum_{t,b} z_{t,b,i}

    Args:
        spikes: Spike tensors ``[T, B, *]``, one per layer.
        lower, upper: Allowed rate band per neuron (0 ≤ lower ≤ upper ≤ 1).
        weight: Multiplier of the penalty.
    """
    if not 0.0 <= lower <= upper <= 1.0:
        raise ValueError(f"need 0 <= lower <= upper <= 1, got lower={lower}, upper={upper}")
    total: Tensor | None = None
    for zs in spikes:
        if zs.dim() < 2:
            raise ValueError(f"expected spikes [T, B, *], got shape {tuple(zs.shape)}")
        rate = zs.mean(dim=(0, 1))  # [*] per-neuron rate
        pen = (torch.relu(lower - rate) ** 2 + torch.relu(rate - upper) ** 2).mean()
        total = pen if total is None else total + pen
    if total is None:
        raise ValueError("firing_rate_regularizer needs at least one spike tensor")
    return weight * total


class RateRegularizer:
    """Firing-rate penalty on every spiking neuron layer of a model, collected by forward hooks.

    Use as ``fit(..., regularizer=RateRegularizer(model, upper=0.5, weight=1e-2))``; call
    :meth:`remove` (or use it as a context manager) to detach the hooks.
    """

    def __init__(self, model: torch.nn.Module, *, lower: float = 0.0, upper: float = 1.0, weight: float = 1.0) -> None:
        from ..neurons import Neuron

        self.lower, self.upper, self.weight = lower, upper, weight
        self._spikes: list[Tensor] = []
        self._handles = [
            m.register_forward_hook(self._hook) for m in model.modules()
            if isinstance(m, Neuron) and m.spiking
        ]
        if not self._handles:
            raise ValueError("RateRegularizer found no spiking neuron layers in the model")

    def _hook(self, module: torch.nn.Module, inputs: object, output: Tensor) -> None:
        if module.training:
            self._spikes.append(output)

    def __call__(self, model: torch.nn.Module, out: Tensor) -> Tensor:
        spikes, self._spikes = self._spikes, []
        if not spikes:
            return out.new_zeros(())
        return firing_rate_regularizer(spikes, lower=self.lower, upper=self.upper, weight=self.weight)

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> RateRegularizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
