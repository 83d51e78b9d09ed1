r"""One training loop for all delay tasks: per-step (sequence labelling) or per-sample targets.

:func:`~spikeforge.learning.fit` takes one label per sample; the delayed-logic task has one per step,
and delay layers need a σ schedule per epoch, so the tasks share this small loop instead.

Loss: cross-entropy of the per-step logits ``[T, B, C]`` against ``y [B, T]`` (per step), or of
their time mean ``[B, C]`` against ``y [B]`` (per sample). Optimizer: Adam over
:func:`~spikeforge.layers.delay_param_groups` (positions at ``lr_positions``), cosine learning-rate
decay. Every delay layer's ``SIG`` decays geometrically from ``⌊K/2⌋`` to 0.23 over the first
``sigma_fraction`` of the epochs (the DCLS recipe uses ¼), then stays. Evaluation runs in
``.eval()``: delays rounded to integers (exact shifts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...layers.dcls import DelayLinear, LearnableDelay, delay_param_groups, sigma_schedule

__all__ = ["TrainConfig", "accuracy", "train_and_test"]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40
    batch: int = 64
    lr: float = 1e-2  # weights and biases
    lr_positions: float = 0.5  # delay positions (steps per unit gradient; DCLS uses 100× the weight lr)
    sigma_fraction: float = 0.5  # fraction of the epochs over which SIG decays to 0.23
    sigma_end: float = 0.23


def _loss(out: Tensor, y: Tensor, per_step: bool) -> Tensor:
    if per_step:
        return F.cross_entropy(out.flatten(0, 1), y.t().flatten())  # [T*B, C] vs [T*B]
    return F.cross_entropy(out.mean(0), y)  # [B, C] vs [B]


def _correct(out: Tensor, y: Tensor, per_step: bool) -> tuple[int, int]:
    if per_step:
        pred = out.argmax(-1).t()  # [T, B, C] -> [B, T]
    else:
        pred = out.mean(0).argmax(-1)  # [B]
    return int((pred == y).sum()), y.numel()


def accuracy(model: nn.Module, x: Tensor, y: Tensor, *, per_step: bool, batch: int = 256) -> float:
    """Accuracy in ``.eval()`` (rounded delays): per step if ``per_step``, else per sample.

    ``x [N, T, C]`` (sample-major, transposed to time-major per batch), ``y [N, T]`` or ``[N]``.
    """
    was = model.training
    model.eval()
    hits = total = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            out = model(x[i:i + batch].transpose(0, 1))  # [T, B, C]
            h, n = _correct(out, y[i:i + batch], per_step)
            hits, total = hits + h, total + n
    model.train(was)
    return hits / total


def train_and_test(model: nn.Module, data: tuple[Tensor, Tensor, Tensor, Tensor], cfg: TrainConfig, *,
                   per_step: bool, seed: int) -> dict[str, float]:
    """Train ``model`` on ``data = (x_train, y_train, x_test, y_test)``; returns accuracies and seconds.

    ``x [N, T, C]``; ``y [N, T]`` (``per_step``) or ``[N]``. Shuffling is seeded by ``seed``.
    """
    x_tr, y_tr, x_te, y_te = data
    delays = [m for m in model.modules() if isinstance(m, (DelayLinear, LearnableDelay))]
    groups = [g for g in delay_param_groups(model, cfg.lr, cfg.lr_positions) if g["params"]]
    opt = torch.optim.Adam(groups)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    g = torch.Generator().manual_seed(seed)
    sigma_epochs = max(1, round(cfg.sigma_fraction * cfg.epochs))
    t0 = time.perf_counter()
    model.train()
    for epoch in range(cfg.epochs):
        for d in delays:
            d.set_sigma(sigma_schedule(epoch, sigma_epochs, max(d.K // 2, cfg.sigma_end), cfg.sigma_end,
                                       kind="exponential"))
        perm = torch.randperm(x_tr.shape[0], generator=g)
        for i in range(0, len(perm), cfg.batch):
            idx = perm[i:i + cfg.batch]
            out = model(x_tr[idx].transpose(0, 1))  # [B, T, C] -> [T, B, C_out]
            loss = _loss(out, y_tr[idx], per_step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for d in delays:
                d.clamp_positions_()
        sched.step()
    seconds = time.perf_counter() - t0
    return {"train_accuracy": accuracy(model, x_tr, y_tr, per_step=per_step),
            "test_accuracy": accuracy(model, x_te, y_te, per_step=per_step), "seconds": seconds}
