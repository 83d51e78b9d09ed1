r"""Learning-rate schedules whose value depends only on the epoch, so resumed runs can be extended.

The learning rate of epoch :math:`e` (0-based: the epoch about to run) of a run of :math:`E`
epochs is

.. math:: \eta_e = \eta_{min} + (\eta_0 - \eta_{min}) \, \frac{1 + \cos(\pi \min(e, E) / E)}{2}.

``torch.optim.lr_scheduler.CosineAnnealingLR`` computes the same curve recursively from the
previous rate and stores :math:`E` (``T_max``) in its state, so a finished run of 3 epochs that is
extended to 5 keeps ``T_max = 3`` and its rate climbs back up (the recursion is periodic past
:math:`E`). :class:`CosineSchedule` is closed-form and takes :math:`E` from the caller: a checkpoint
restores only its progress (``last_epoch`` and the base rates), so an extended run continues on
the schedule of its new total — at the first new epoch the rate is :math:`\eta_e` of the new
curve, and it anneals to :math:`\eta_{min}` at the new end.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

__all__ = ["CosineSchedule"]


class CosineSchedule(LRScheduler):
    """Cosine annealing from each group's initial rate to ``eta_min`` over ``total_epochs``
    (step once per epoch, after it).

    Args:
        optimizer: Wrapped optimizer.
        total_epochs: :math:`E`, the run's length; beyond it the rate stays at ``eta_min``.
        eta_min: Final learning rate.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_epochs: int, eta_min: float = 0.0) -> None:
        if int(total_epochs) < 1:
            raise ValueError(f"total_epochs must be >= 1, got {total_epochs!r}")
        self.total_epochs = int(total_epochs)
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def rate(self, epoch: int, base_lr: float) -> float:
        """:math:`\\eta_e` for epoch ``epoch`` and initial rate ``base_lr``."""
        e = min(max(epoch, 0), self.total_epochs)
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + math.cos(math.pi * e / self.total_epochs)) / 2.0

    def get_lr(self) -> list[float | torch.Tensor]:
        return [self.rate(self.last_epoch, float(b)) for b in self.base_lrs]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore progress (``last_epoch``, base rates) from this class's or ``CosineAnnealingLR``'s
        state; keep this schedule's ``total_epochs`` and ``eta_min``, and set the optimizer's rates
        for the restored epoch (overriding the rates the optimizer's own state brought back)."""
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = [float(b) for b in state_dict["base_lrs"]]
        self._step_count = int(state_dict.get("_step_count", 1))
        lrs = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = list(lrs)
