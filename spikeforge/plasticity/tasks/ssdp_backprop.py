r"""SSDP combined with backprop: a surrogate-gradient spiking MLP on digits, with and without SSDP.

Network: Bernoulli-rate inputs ``[T, B, 64]`` → ``Linear → LIF`` (hidden) → ``Linear → LIF`` (classifier, one
neuron per class); the loss is the cross-entropy of the output spike counts (scaled by ``count_scale``),
trained by BPTT through the LIF surrogate gradient with Adam. With SSDP, as the authors do, after each
optimizer step the classifier weight gets :func:`~spikeforge.plasticity.ssdp_update` of the batch's
hidden (pre) and output (post) spikes, from epoch ``ssdp_start`` on, with ``A+``, ``A_base`` and ``sigma``
cosine-annealed by :math:`\eta_{min} + \tfrac12(1 - \eta_{min})(1 + \cos(\pi\,\mathrm{progress}))`,
``progress = (epoch - ssdp_start) / anneal_epochs`` (clamped to 1 here; the authors' factor is periodic).

Run ``python -m spikeforge.plasticity.tasks.ssdp_backprop --help``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...encoders.rate import bernoulli_encode
from ...neurons.lif import LIF
from ..ssdp import SSDPParams, ssdp_update
from ._data import digits_split

__all__ = ["SSDPRunConfig", "annealed", "run_ssdp_backprop"]


@dataclass(frozen=True)
class SSDPRunConfig:
    hidden: int = 128
    steps: int = 16  # time steps per image
    beta: float = 0.9  # LIF decay per step
    epochs: int = 30
    lr: float = 1e-2
    batch: int = 64
    count_scale: float = 0.5  # logits = count_scale * output spike counts
    ssdp: bool = True
    a_plus: float = 1.5e-4  # SSDPModule defaults
    a_base: float = 5e-5
    sigma: float = 1.0  # [steps]
    ssdp_start: int = 10  # first epoch with SSDP (the authors: 10)
    anneal_epochs: int = 20  # T_max of the cosine factor
    eta_min: float = 0.5
    seed: int = 0


def annealed(cfg: SSDPRunConfig, epoch: int) -> SSDPParams:
    """SSDP parameters of ``epoch`` (the cosine factor scales ``A+``, ``A_base`` and ``sigma``)."""
    progress = min(max(epoch - cfg.ssdp_start, 0) / cfg.anneal_epochs, 1.0)
    f = cfg.eta_min + 0.5 * (1 - cfg.eta_min) * (1 + math.cos(math.pi * progress))
    return SSDPParams(a_plus=cfg.a_plus * f, a_base=cfg.a_base * f, sigma=cfg.sigma * f)


class _Net(nn.Module):
    def __init__(self, cfg: SSDPRunConfig) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(64, cfg.hidden), nn.Linear(cfg.hidden, 10)
        self.lif1, self.lif2 = LIF.from_decay(cfg.beta), LIF.from_decay(cfg.beta)

    def forward(self, xs: Tensor) -> tuple[Tensor, Tensor]:
        """``xs [T, B, 64]`` → hidden spikes ``[T, B, H]`` and output spikes ``[T, B, 10]``."""
        h = self.lif1(self.fc1(xs))
        return h, self.lif2(self.fc2(h))


def run_ssdp_backprop(cfg: SSDPRunConfig, data: tuple[Tensor, Tensor, Tensor, Tensor] | None = None
                      ) -> dict[str, float]:
    """Train and return the final test accuracy (and the classifier's total SSDP change)."""
    x_tr, y_tr, x_te, y_te = data if data is not None else digits_split()
    torch.manual_seed(cfg.seed)
    g = torch.Generator().manual_seed(cfg.seed)
    net = _Net(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    ssdp_total = 0.0
    for epoch in range(cfg.epochs):
        p = annealed(cfg, epoch)
        for idx in torch.randperm(len(y_tr), generator=g).split(cfg.batch):
            xs = bernoulli_encode(x_tr[idx], cfg.steps, generator=g)  # [T, B, 64]
            h, out = net(xs)
            loss = F.cross_entropy(cfg.count_scale * out.sum(0), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if cfg.ssdp and epoch >= cfg.ssdp_start:
                with torch.no_grad():
                    dw = ssdp_update(h.detach(), out.detach(), p)  # [10, H]
                    net.fc2.weight.add_(dw)
                    ssdp_total += float(dw.abs().sum())
    with torch.no_grad():
        _, out = net(bernoulli_encode(x_te, cfg.steps, generator=g))
        acc = float((out.sum(0).argmax(1) == y_te).double().mean())
    return {"test_acc": acc, "ssdp_abs_change": ssdp_total}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Spiking MLP on digits, BPTT with and without SSDP on the classifier")
    ap.add_argument("--epochs", type=int, default=SSDPRunConfig.epochs)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--a-plus", type=float, default=SSDPRunConfig.a_plus)
    ap.add_argument("--a-base", type=float, default=SSDPRunConfig.a_base)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data = digits_split()
    for use in (False, True):
        accs = []
        for seed in args.seeds:
            cfg = replace(SSDPRunConfig(), epochs=args.epochs, ssdp=use, seed=seed, a_plus=args.a_plus,
                          a_base=args.a_base)
            r = run_ssdp_backprop(cfg, data)
            accs.append(r["test_acc"])
            print(f"  {'ssdp' if use else 'bptt'} seed {seed}: test {r['test_acc']:.4f} (sum |dW_ssdp| "
                  f"{r['ssdp_abs_change']:.3g})", flush=True)
        t = torch.tensor(accs, dtype=torch.float64)
        std = float(t.std()) if len(accs) > 1 else 0.0
        print(f"{'BPTT + SSDP' if use else 'BPTT only  '}: test accuracy {t.mean():.4f} ± {std:.4f} "
              f"({len(accs)} seeds)", flush=True)


if __name__ == "__main__":
    main()
