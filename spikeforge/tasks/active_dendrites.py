"""Continual learning on permuted digits with active dendrites (Iyer et al., Frontiers in Neurorobotics 2022).

The paper's claim: units whose output is gated by dendritic segments that read a task context, followed
by k-winners-take-all (k-WTA), let one network learn several tasks one after the other with far less
forgetting than the same network without dendrites, because each context switches on its own sparse
sub-network. Their benchmark is permuted MNIST with one output head shared by all tasks and the context
a per-task *prototype* (the mean training input of the task), inferred at test time as the prototype
nearest to each test sample.

Our offline version (:func:`run`): sklearn's 8×8 digits (or mnist1d), standardized as the paper's
dataset standardizes MNIST (``inputs="standardized"``: one mean and one std over all training pixels;
``inputs="raw"`` keeps pixels in [0, 1], the earlier default), ``tasks`` fixed random pixel permutations,
trained one task after the other (the optimizer restarted at each task, no replay, no regulariser), one
shared 10-way head; after the last task every task's test set is scored with the context inferred per
sample (nearest prototype), and the mean over tasks is reported. Models of equal
width, two hidden layers (``MODELS``):

- ``mlp``: ``Linear → ReLU``, no context;
- ``kwta``: ``Linear → k-WTA``, no context (sparsity only);
- ``dendrites``: :class:`~spikeforge.layers.ActiveDendrite` with k-WTA (the paper's network);
- ``dendrites_relu``: active dendrites, ``ReLU`` instead of k-WTA (the paper's "active dendrites only").

Why the standardization matters: a permutation keeps an image's mean pixel value, so raw prototypes of
different tasks share a large common component (their mean) and the dendrites of every task switch on
largely the same k-WTA winners; standardized prototypes have mean 0, i.e. they are the "centered"
prototypes divided by σ. Options for the paper's other ingredients: ``weight_sparsity`` (fixed random
masks on the feed-forward weights, paper 0.5) and ``init="paper"`` (its density-aware init,
:func:`init_paper_`).

With ``spiking=True`` the same layers drive LIF neurons: the raw pixels are Bernoulli rate-coded over ``steps``
time steps, each hidden layer's (gated, k-WTA'd) current feeds ``LIF.from_decay(beta)`` neurons (no ReLU),
and the class scores are the read-out averaged over time; trained by BPTT with the LIF's surrogate.

Command: ``python -m spikeforge.tasks.active_dendrites --seeds 0 1 2`` (``--spiking`` for the SNN).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..data.datasets import load_dataset
from ..encoders.rate import bernoulli_encode
from ..layers.active_dendrite import ActiveDendrite, k_winners_take_all
from ..neurons.lif import LIF

__all__ = ["MODELS", "CLConfig", "ContextNet", "PermutedTasks", "infer_task", "init_paper_", "init_segments_",
           "make_tasks", "run", "main"]

MODELS = ("mlp", "kwta", "dendrites", "dendrites_relu")


@dataclass(frozen=True)
class CLConfig:
    tasks: int = 5              # permuted tasks, learned in order
    data: str = "digits"        # "digits" (64 features) or "mnist1d" (40)
    hidden: int = 256           # width of each of the two hidden layers
    k_fraction: float = 0.1     # k-WTA keeps round(k_fraction * hidden) units (paper: 0.05 of 2048)
    segments: int = 0           # dendritic segments per unit; 0 = one per task (as the paper)
    dendrite_std: float = 3.0   # init="torch": segments re-drawn so u·c has this std over the contexts (0: layer init)
    context: str = "prototype"  # "prototype" (mean task input, inferred at test), "centered" (the same minus
    #                             its own mean feature value), or "onehot" (task id given)
    inputs: str = "standardized"  # "raw" (pixels in [0, 1]) or "standardized" ((x - μ) / σ, μ and σ one scalar each
    #                             over the training set: what the paper's permuted-MNIST dataset does)
    weight_sparsity: float = 0.0  # fraction of every feed-forward weight held at 0 by a fixed random mask (paper 0.5)
    init: str = "paper"         # "torch" (nn.Linear default; segments by dendrite_std) or "paper" (density-aware
    #                             Kaiming-uniform of feed-forward weights and segments, see init_paper_)
    epochs: int = 5             # epochs per task
    batch: int = 32
    lr: float = 2e-3            # Adam, restarted at each task (paper, 5 tasks: 5e-4, 1 epoch of MNIST, batch 256)
    seed: int = 0
    spiking: bool = False       # LIF neurons, rate-coded input
    steps: int = 8              # time steps T of the spiking version
    beta: float = 0.9           # LIF decay per step


@dataclass(frozen=True)
class PermutedTasks:
    """``perms [N, F]`` (one permutation of the F input features per task), ``contexts [N, C]``, the
    shared unpermuted data (standardized when ``cfg.inputs == "standardized"``) and the ``shift`` and
    ``scale`` that were applied (``x = (raw - shift) / scale``; 0 and 1 for raw inputs)."""

    perms: Tensor
    contexts: Tensor
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    shift: float = 0.0
    scale: float = 1.0

    def inputs(self, task: int, split: str) -> tuple[Tensor, Tensor]:
        """Task ``task``'s inputs ``[N, F]`` (features permuted) and labels ``[N]``."""
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        return x[:, self.perms[task]], y


def make_tasks(cfg: CLConfig) -> PermutedTasks:
    """Draw ``cfg.tasks`` permutations (seeded by ``cfg.seed``) and the per-task contexts.

    Prototype context of task ``t`` = mean of its (permuted) training inputs, i.e. the mean training
    image with its features permuted by ``perms[t]``; centered: the same minus its mean over features
    (the part every task's prototype shares); one-hot context = row ``t`` of the identity.

    ``cfg.inputs == "standardized"``: every input (train and test) becomes ``(x − μ)/σ`` with μ, σ the
    mean and standard deviation of all training pixels (one scalar each), as the paper's permuted-MNIST
    dataset normalises MNIST. A permutation keeps an image's mean, so every standardized prototype then
    has mean 0 over its features: the paper's prototype *is* the centered prototype, divided by σ.
    """
    if cfg.tasks < 1:
        raise ValueError(f"tasks must be >= 1, got {cfg.tasks}")
    if cfg.context not in ("prototype", "centered", "onehot"):
        raise ValueError(f"context must be 'prototype', 'centered' or 'onehot', got {cfg.context!r}")
    if cfg.inputs not in ("raw", "standardized"):
        raise ValueError(f"inputs must be 'raw' or 'standardized', got {cfg.inputs!r}")
    if cfg.init not in ("torch", "paper"):
        raise ValueError(f"init must be 'torch' or 'paper', got {cfg.init!r}")
    if not 0.0 <= cfg.weight_sparsity < 1.0:
        raise ValueError(f"weight_sparsity must be in [0, 1), got {cfg.weight_sparsity}")
    train, test = load_dataset(cfg.data, "train"), load_dataset(cfg.data, "test")
    x_tr, y_tr = train.x.flatten(1), train.y  # [N, F]
    x_te, y_te = test.x.flatten(1), test.y
    shift, scale = 0.0, 1.0
    if cfg.inputs == "standardized":
        shift, scale = float(x_tr.mean()), float(x_tr.std())
        x_tr, x_te = (x_tr - shift) / scale, (x_te - shift) / scale
    gen = torch.Generator().manual_seed(cfg.seed)
    perms = torch.stack([torch.randperm(x_tr.shape[1], generator=gen) for _ in range(cfg.tasks)])  # [N_tasks, F]
    if cfg.context in ("prototype", "centered"):
        contexts = torch.stack([x_tr[:, p].mean(0) for p in perms])  # [N_tasks, F]
        if cfg.context == "centered":  # a permutation keeps the mean: this removes what all tasks share
            contexts = contexts - contexts.mean(1, keepdim=True)
    else:
        contexts = torch.eye(cfg.tasks)  # [N_tasks, N_tasks]
    return PermutedTasks(perms, contexts, x_tr, y_tr, x_te, y_te, shift, scale)


def infer_task(x: Tensor, prototypes: Tensor) -> Tensor:
    """Index of the prototype nearest (Euclidean) to each sample: ``x [B, F]``, ``prototypes [N, F]`` → ``[B]``."""
    return torch.cdist(x, prototypes).argmin(-1)


class ContextNet(nn.Module):
    """Two hidden layers of width ``hidden`` and a linear read-out; ``kind`` in :data:`MODELS`.

    ``forward(xs, context)``: ``xs [T, B, F]`` (``T = 1`` for the non-spiking nets), ``context [B, C]``
    → class scores ``[B, 10]`` (read-out averaged over time). ``hidden_activity`` returns what each
    hidden layer passes on (``[T, B, hidden]``: k-WTA/ReLU outputs, or LIF spikes).
    """

    def __init__(self, kind: str, in_features: int, context_features: int, cfg: CLConfig,
                 num_classes: int = 10) -> None:
        super().__init__()
        if kind not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {kind!r}")
        self.kind, self.spiking = kind, cfg.spiking
        self.k = max(1, round(cfg.k_fraction * cfg.hidden)) if kind in ("kwta", "dendrites") else None
        segments = cfg.segments or cfg.tasks
        widths = (in_features, cfg.hidden, cfg.hidden)
        self.hidden = nn.ModuleList()
        for a, b in zip(widths[:-1], widths[1:]):
            if kind.startswith("dendrites"):
                self.hidden.append(ActiveDendrite(a, b, context_features, segments=segments, k_winners=self.k))
            else:
                self.hidden.append(nn.Linear(a, b))
        self.neurons = nn.ModuleList([LIF.from_decay(cfg.beta) for _ in self.hidden]) if cfg.spiking else None
        self.out = nn.Linear(cfg.hidden, num_classes)
        # fixed sparsity: each unit keeps the same random (1 - weight_sparsity) share of its inputs for good
        for i, w in enumerate(self.ff_weights()):
            self.register_buffer(f"mask{i}", self._mask(w, cfg.weight_sparsity))  # [J, I] bool
        self.rezero_()

    def ff_weights(self) -> list[Tensor]:
        """The feed-forward weights ``[J, I]`` of the two hidden layers and the read-out (not the segments)."""
        ws: list[Tensor] = [m.linear.weight if isinstance(m, ActiveDendrite) else m.weight  # type: ignore[misc]
                            for m in self.hidden]
        return ws + [self.out.weight]

    @staticmethod
    def _mask(w: Tensor, sparsity: float) -> Tensor:
        zeros = round(sparsity * w.shape[1])
        if zeros == 0:  # dense: no random draw, so the dense nets' init is unchanged by this option
            return torch.ones(w.shape, dtype=torch.bool)
        order = torch.rand(w.shape).argsort(-1)  # [J, I]: a random order of each unit's inputs
        return order >= zeros  # [J, I], exactly `zeros` False per row

    @torch.no_grad()
    def rezero_(self) -> None:
        """Set the masked-out feed-forward weights back to 0 (after init and after every optimizer step)."""
        for i, w in enumerate(self.ff_weights()):
            w.mul_(getattr(self, f"mask{i}"))

    def hidden_activity(self, xs: Tensor, context: Tensor) -> list[Tensor]:
        acts, h = [], xs
        for i, layer in enumerate(self.hidden):
            a = layer(h, context) if isinstance(layer, ActiveDendrite) else layer(h)  # [T, B, hidden]
            if self.kind == "kwta":
                a = k_winners_take_all(a, self.k)  # type: ignore[arg-type]
            if self.neurons is not None:
                h = self.neurons[i](a)  # spikes [T, B, hidden]
            else:
                h = a if self.kind in ("kwta", "dendrites") else torch.relu(a)
            acts.append(h)
        return acts

    def forward(self, xs: Tensor, context: Tensor) -> Tensor:
        return self.out(self.hidden_activity(xs, context)[-1]).mean(0)  # [T, B, 10] -> [B, 10]


def init_segments_(net: nn.Module, contexts: Tensor, std: float) -> None:
    """Draw every dendritic segment ``u ~ U(-b, b)`` with ``b = std·sqrt(3 / Σ_c E[c²])``, so that the
    segment response ``u·c`` has standard deviation ``std`` for the task contexts ``[N, C]``.

    Our choice (the layer's default, Kaiming-uniform over C, gives responses of std ≈ 0.2 for the digits
    prototypes: σ(u·c) ≈ 0.5 ± 0.05 for every task, too weak a gate for k-WTA to pick different units).
    """
    bound = std * (3.0 / float(contexts.pow(2).mean(0).sum())) ** 0.5
    for m in net.modules():
        if isinstance(m, ActiveDendrite):
            with torch.no_grad():
                m.segments.uniform_(-bound, bound)


def init_paper_(net: ContextNet, cfg: CLConfig, context_density: float = 0.1) -> None:
    """The paper's density-aware Kaiming-uniform init (values read from numenta/nupic.research's DendriticMLP).

    Feed-forward weight ``w ~ U(-b, b)``, ``b = 1/sqrt(d_in·d_w·fan_in)``: ``d_w = 1 − weight_sparsity``,
    ``d_in`` = the share of the layer's inputs that are on (1 for the pixels and after ReLU, ``k_fraction``
    after k-WTA). Segments: ``b = 1/sqrt(context_density·C)`` with the paper's nominal
    ``context_density = 0.1`` (its ``context_percent_on``; the prototype itself is dense). Biases keep
    ``nn.Linear``'s default.
    """
    kwta = net.kind in ("kwta", "dendrites")
    d_w = 1.0 - cfg.weight_sparsity
    with torch.no_grad():
        for i, w in enumerate(net.ff_weights()):
            d_in = cfg.k_fraction if (i > 0 and kwta) else 1.0
            b = 1.0 / (d_in * d_w * w.shape[1]) ** 0.5
            w.uniform_(-b, b)
        for m in net.hidden:
            if isinstance(m, ActiveDendrite):
                b = 1.0 / (context_density * m.segments.shape[2]) ** 0.5
                m.segments.uniform_(-b, b)
    net.rezero_()


def _encode(x: Tensor, cfg: CLConfig, tasks: PermutedTasks, gen: torch.Generator) -> Tensor:
    """``x [B, F]`` → ``[T, B, F]``: Bernoulli spikes over ``cfg.steps`` of the raw pixel values (spiking),
    or the static (possibly standardized) input at T = 1."""
    if not cfg.spiking:
        return x.unsqueeze(0)
    raw = (x * tasks.scale + tasks.shift).clamp(0.0, 1.0)  # undo the standardization: rates in [0, 1]
    return bernoulli_encode(raw, cfg.steps, generator=gen)


@torch.no_grad()
def evaluate(net: ContextNet, tasks: PermutedTasks, task: int, cfg: CLConfig,
             gen: torch.Generator) -> tuple[float, float]:
    """Accuracy on task ``task``'s test set with the context inferred per sample (prototype) or given
    (one-hot), and the fraction of samples whose task was inferred correctly."""
    net.eval()
    x, y = tasks.inputs(task, "test")
    if cfg.context != "onehot":
        guess = infer_task(x - x.mean(1, keepdim=True) if cfg.context == "centered" else x, tasks.contexts)  # [N]
    else:
        guess = torch.full_like(y, task)
    pred = net(_encode(x, cfg, tasks, gen), tasks.contexts[guess]).argmax(-1)
    return float((pred == y).float().mean()), float((guess == task).float().mean())


def train_task(net: ContextNet, tasks: PermutedTasks, task: int, cfg: CLConfig, gen: torch.Generator) -> None:
    """``cfg.epochs`` epochs of Adam (fresh optimizer) on task ``task`` alone, with its own context."""
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    x, y = tasks.inputs(task, "train")
    ctx = tasks.contexts[task]  # [C]
    for _ in range(cfg.epochs):
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), cfg.batch):
            idx = order[i:i + cfg.batch]
            xb = x[idx]  # [B, F]
            logits = net(_encode(xb, cfg, tasks, gen), ctx.expand(len(idx), -1))  # context [B, C]
            loss = nn.functional.cross_entropy(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.rezero_()


def run(model: str, cfg: CLConfig) -> dict[str, Any]:
    """Learn ``cfg.tasks`` permuted tasks in order with ``model``; accuracies after each task and at the end."""
    torch.manual_seed(cfg.seed)
    tasks = make_tasks(cfg)
    net = ContextNet(model, tasks.x_train.shape[1], tasks.contexts.shape[1], cfg)
    if cfg.init == "paper":
        init_paper_(net, cfg)
    elif cfg.dendrite_std > 0:
        init_segments_(net, tasks.contexts, cfg.dendrite_std)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    t0 = time.perf_counter()
    just_learned = []
    for t in range(cfg.tasks):
        train_task(net, tasks, t, cfg, gen)
        just_learned.append(evaluate(net, tasks, t, cfg, gen)[0])
    final = [evaluate(net, tasks, t, cfg, gen) for t in range(cfg.tasks)]
    acc = [a for a, _ in final]
    return {"model": model, "seed": cfg.seed, "parameters": sum(p.numel() for p in net.parameters()),
            "final_accuracy": acc, "mean_accuracy": float(np.mean(acc)), "just_learned": just_learned,
            "forgetting": float(np.mean([j - a for j, a in zip(just_learned[:-1], acc[:-1])])) if cfg.tasks > 1
            else 0.0,
            "just_learned_mean": float(np.mean(just_learned)),
            "task_inference": float(np.mean([g for _, g in final])), "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(prog="python -m spikeforge.tasks.active_dendrites", description=__doc__.split("\n")[0])
    for f in fields(CLConfig):
        default = getattr(CLConfig(), f.name)
        if isinstance(default, bool):
            p.add_argument(f"--{f.name.replace('_', '-')}", action="store_true")
        else:
            p.add_argument(f"--{f.name.replace('_', '-')}", type=type(default), default=default)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--json", default=None, help="write the rows here")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = CLConfig(**{f.name: getattr(args, f.name) for f in fields(CLConfig)})
    rows = []
    print(f"{'model':<15} {'seed':>4} {'params':>7} {'mean acc':>8} {'forget':>7} {'task inf':>8}  "
          "per-task final accuracy")
    for model in args.models:
        for seed in args.seeds:
            r = run(model, replace(base, seed=seed))
            rows.append(r)
            print(f"{model:<15} {seed:>4} {r['parameters']:>7} {r['mean_accuracy']:8.3f} {r['forgetting']:7.3f} "
                  f"{r['task_inference']:8.3f}  " + " ".join(f"{a:.2f}" for a in r["final_accuracy"])
                  + f"  ({r['seconds']:.0f} s)", flush=True)
    for model in args.models:
        m = [r["mean_accuracy"] for r in rows if r["model"] == model]
        print(f"{model:<15} mean over {len(m)} seeds: {np.mean(m):.3f} ± {np.std(m):.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"config": asdict(base), "rows": rows}, fh, indent=2)
    return rows


if __name__ == "__main__":
    main()
