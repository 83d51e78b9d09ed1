r"""Continual learning on a task sequence made from scikit-learn's digits: fine-tuning vs HLOP vs joint training.

Scenarios:

- ``"split"`` (task-incremental): 5 tasks of 2 classes, ``(0, 1), (2, 3), …``; one 10-way head whose
  logits are restricted to the task's classes (a multi-head network sharing the body).
- ``"permuted"`` (domain-incremental, like HLOP's PMNIST): 5 fixed pixel permutations of all 10 classes,
  one shared 10-way head.

Network: a bias-free rate MLP ``64 → hidden → hidden → 10`` (ReLU), trained with SGD. Methods:

- ``finetune``: train the tasks one after another;
- ``hlop``: the same, with :class:`~spikeforge.plasticity.HLOP` on the inputs of the weight layers (the
  shared ones: both hidden layers, and the head in ``"permuted"``): lateral rows learn each task's input
  subspace by Oja's rule while it is trained and are frozen after it; later tasks' weight gradients are
  projected onto the orthogonal complement, :math:`\nabla W \leftarrow \nabla W (I - H^\top H)`;
- ``joint``: all tasks' data at once (the usual upper bound).

Metrics, from the accuracy matrix :math:`R_{ij}` (task ``j`` after training task ``i``):
``ACC`` :math:`= \frac1T\sum_j R_{T-1,j}`, ``BWT`` :math:`= \frac1{T-1}\sum_{j<T-1} (R_{T-1,j} - R_{jj})`.

Run ``python -m spikeforge.plasticity.tasks.continual --help``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..hlop import HLOP
from ._data import digits_split

__all__ = ["ContinualConfig", "Task", "acc_bwt", "make_tasks", "run_continual"]


@dataclass(frozen=True)
class ContinualConfig:
    scenario: str = "split"  # "split" (task-incremental, 2 classes per task) or "permuted" (domain-incremental)
    n_tasks: int = 5
    hidden: int = 100
    epochs: int = 20  # per task (joint: epochs * n_tasks over the union)
    lr: float = 0.05
    momentum: float = 0.9
    batch: int = 32
    hlop_first: tuple[int, ...] = (20, 30, 30)  # lateral rows per projected layer on the first task
    hlop_later: tuple[int, ...] = (8, 15, 15)  # rows added for each later task
    hlop_lr: float = 0.02
    seed: int = 0
    tasks_seed: int = 0  # data split and permutations

    def __post_init__(self) -> None:
        if self.scenario not in ("split", "permuted"):
            raise ValueError(f"ContinualConfig: scenario must be 'split' or 'permuted', got {self.scenario!r}")
        if self.scenario == "split" and self.n_tasks != 5:
            raise ValueError("ContinualConfig: the split scenario has exactly 5 tasks of 2 classes")
        if self.n_tasks < 2 or self.epochs < 1 or self.hidden < 1:
            raise ValueError("ContinualConfig: need n_tasks >= 2, epochs >= 1, hidden >= 1")


@dataclass
class Task:
    x_train: Tensor  # [N, 64]
    y_train: Tensor  # [N]
    x_test: Tensor
    y_test: Tensor
    classes: Tensor  # the logits this task is scored on


def make_tasks(cfg: ContinualConfig) -> list[Task]:
    """The task sequence of ``cfg.scenario`` (a function of ``cfg.tasks_seed``)."""
    x_tr, y_tr, x_te, y_te = digits_split(seed=cfg.tasks_seed)
    tasks = []
    if cfg.scenario == "split":
        for t in range(cfg.n_tasks):
            cls = torch.tensor([2 * t, 2 * t + 1])
            tr, te = torch.isin(y_tr, cls), torch.isin(y_te, cls)
            tasks.append(Task(x_tr[tr], y_tr[tr], x_te[te], y_te[te], cls))
        return tasks
    g = torch.Generator().manual_seed(cfg.tasks_seed)
    for t in range(cfg.n_tasks):
        perm = torch.arange(64) if t == 0 else torch.randperm(64, generator=g)
        tasks.append(Task(x_tr[:, perm], y_tr, x_te[:, perm], y_te, torch.arange(10)))
    return tasks


class _MLP(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(64, hidden, bias=False), nn.Linear(hidden, hidden, bias=False),
                                     nn.Linear(hidden, 10, bias=False)])

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Logits ``[B, 10]`` and the input of every layer (what HLOP learns from)."""
        inputs = []
        for i, layer in enumerate(self.layers):
            inputs.append(x)
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x, inputs


@torch.no_grad()
def _accuracy(net: _MLP, task: Task) -> float:
    logits, _ = net(task.x_test)
    pred = task.classes[logits[:, task.classes].argmax(1)]
    return float((pred == task.y_test).double().mean())


def _train(net: _MLP, xs: Tensor, ys: Tensor, classes: list[Tensor], cfg: ContinualConfig, epochs: int,
           g: torch.Generator, hlops: list[HLOP | None] | None = None) -> None:
    """SGD on ``(xs, ys)``; ``classes[i]`` are the logits of sample ``i``'s task. With ``hlops``: Hebbian rows
    learn from every batch and gradients are projected before each step."""
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    cls = torch.stack(classes) if len({c.numel() for c in classes}) == 1 else None
    for _ in range(epochs):
        order = torch.randperm(len(ys), generator=g)
        for idx in order.split(cfg.batch):
            logits, inputs = net(xs[idx])
            if cls is not None and cls.shape[1] < 10:  # split: per-sample task heads
                mask = torch.full_like(logits, float("-inf"))
                mask.scatter_(1, cls[idx], 0.0)
                loss = F.cross_entropy(logits + mask, ys[idx])
            else:
                loss = F.cross_entropy(logits, ys[idx])
            opt.zero_grad()
            loss.backward()
            if hlops is not None:
                for layer, hlop, x_in in zip(net.layers, hlops, inputs):
                    if hlop is not None and isinstance(layer, nn.Linear):
                        hlop.project_grad_(layer.weight)
                        if hlop.h_new.shape[0]:  # rows still learning (none once the input space is full)
                            hlop.hebbian(x_in.detach())
            opt.step()


def acc_bwt(r: Tensor) -> tuple[float, float]:
    """``(ACC, BWT)`` of an accuracy matrix ``r [T, T]`` (row ``i``: after training task ``i``)."""
    return float(r[-1].mean()), float((r[-1, :-1] - r.diagonal()[:-1]).mean())


def run_continual(cfg: ContinualConfig, method: str) -> dict[str, object]:
    """Train with ``method`` in ``("finetune", "hlop", "joint")``; returns ``R``, ``ACC``, ``BWT``."""
    if method not in ("finetune", "hlop", "joint"):
        raise ValueError(f"run_continual: method must be 'finetune', 'hlop' or 'joint', got {method!r}")
    tasks = make_tasks(cfg)
    torch.manual_seed(cfg.seed)
    net = _MLP(cfg.hidden)
    g = torch.Generator().manual_seed(cfg.seed)
    n = len(tasks)
    if method == "joint":
        xs = torch.cat([t.x_train for t in tasks])
        ys = torch.cat([t.y_train for t in tasks])
        classes = [t.classes for t in tasks for _ in range(len(t.y_train))]
        _train(net, xs, ys, classes, cfg, cfg.epochs * n, g)
        accs = torch.tensor([_accuracy(net, t) for t in tasks], dtype=torch.float64)
        return {"R": accs.unsqueeze(0), "ACC": float(accs.mean()), "BWT": float("nan")}
    hlops: list[HLOP | None] | None = None
    if method == "hlop":
        shared = [True, True, cfg.scenario == "permuted"]  # task heads (split) are not shared: no projection
        sizes = [64, cfg.hidden, cfg.hidden]
        hlops = [HLOP(s, lr=cfg.hlop_lr) if use else None for s, use in zip(sizes, shared)]
    r = torch.zeros(n, n, dtype=torch.float64)
    for i, task in enumerate(tasks):
        if hlops is not None:
            rows = cfg.hlop_first if i == 0 else cfg.hlop_later
            for hlop, k in zip(hlops, rows):
                if hlop is not None:
                    free = hlop.h_old.shape[1] - hlop.h_old.shape[0]
                    if min(k, free) > 0:
                        hlop.add_rows(min(k, free), generator=g)
        _train(net, task.x_train, task.y_train, [task.classes] * len(task.y_train), cfg, cfg.epochs, g, hlops)
        if hlops is not None:
            for hlop in hlops:
                if hlop is not None and hlop.h_new.shape[0]:
                    hlop.consolidate()
        r[i] = torch.tensor([_accuracy(net, t) for t in tasks], dtype=torch.float64)
    acc, bwt = acc_bwt(r)
    return {"R": r, "ACC": acc, "BWT": bwt}


def _sd(t: Tensor) -> float:
    """Sample standard deviation (0 for a single value)."""
    return float(t.std()) if t.numel() > 1 else 0.0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Continual learning on digits: fine-tuning vs HLOP vs joint")
    ap.add_argument("--scenario", choices=["split", "permuted"], default="split")
    ap.add_argument("--epochs", type=int, default=ContinualConfig.epochs)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for method in ("finetune", "hlop", "joint"):
        accs, bwts = [], []
        for seed in args.seeds:
            res = run_continual(ContinualConfig(scenario=args.scenario, epochs=args.epochs, seed=seed), method)
            accs.append(float(res["ACC"]))  # type: ignore[arg-type]
            bwts.append(float(res["BWT"]))  # type: ignore[arg-type]
        a, b = torch.tensor(accs), torch.tensor(bwts)
        bwt = "n/a" if method == "joint" else f"{b.mean():+.4f} ± {_sd(b):.4f}"
        print(f"{args.scenario} {method:8s}: ACC {a.mean():.4f} ± {_sd(a):.4f}  BWT {bwt}  ({len(accs)} seeds)",
              flush=True)


if __name__ == "__main__":
    main()
