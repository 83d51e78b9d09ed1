"""Quantized RNN → recurrent SNN on sequence tasks: ANN (QRNN) vs converted SNN accuracy per T.

Tasks (offline): sklearn ``digits`` read row by row (8 elements of 8 pixels, /16), and ``mnist1d``
read as a sequence (40 values cut into 10 elements of 4). A :class:`~spikeforge.convert.QRNN`
(QCFS activation, ``L`` levels, learnable ``λ``) is trained with Adam on mini-batches, then mapped
by :func:`~spikeforge.convert.convert_qrnn` with ``T`` IF steps per sequence element.

Usage: ``OMP_NUM_THREADS=1 python tools/crnn_sequence.py [digits|mnist1d|all] [--quick]``
Prints one markdown table row per task: ANN accuracy, then SNN accuracy and the fraction of test
samples whose SNN prediction equals the ANN's, per T.
"""

from __future__ import annotations

import sys
import time

import torch
from torch import nn

from spikeforge.convert import QRNN, convert_qrnn

STEPS = (1, 2, 4, 8, 16, 32)


def digits_rows() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """sklearn digits as sequences: x ``[S=8, N, 8]`` (rows), split 1400 train / 397 test (seed 0)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32).reshape(-1, 8, 8) / 16.0  # [N, 64] -> [N, rows, cols]
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1400], perm[1400:]
    return x[tr].transpose(0, 1), y[tr], x[te].transpose(0, 1), y[te]  # [N, S, F] -> [S, N, F]


def mnist1d_chunks(chunk: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """mnist1d (package generator, 4000/1000, in [0, 1]) as ``[S = 40/chunk, N, chunk]``."""
    from spikeforge.data.datasets.mnist1d_data import mnist1d

    tr, te = mnist1d("train"), mnist1d("test")

    def seq(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), -1, chunk).transpose(0, 1)  # [N, 40] -> [N, S, chunk] -> [S, N, chunk]

    return seq(tr.x), tr.y, seq(te.x), te.y


def train_qrnn(xs: torch.Tensor, y: torch.Tensor, *, hidden: int, levels: int, epochs: int, batch: int = 128,
               lr: float = 3e-3, seed: int = 0) -> QRNN:
    """Adam on cross-entropy of the last-state readout; ``xs``: ``[S, N, n_in]``."""
    torch.manual_seed(seed)
    q = QRNN(xs.shape[-1], hidden, int(y.max()) + 1, levels=levels, lam=2.0)
    opt = torch.optim.Adam(q.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(xs.shape[1], generator=g).split(batch):
            opt.zero_grad()
            nn.functional.cross_entropy(q(xs[:, idx]), y[idx]).backward()
            opt.step()
            with torch.no_grad():
                q.act.lam.clamp_(min=1e-2)  # λ stays a positive threshold
    return q.eval()


@torch.no_grad()
def evaluate(q: QRNN, xs: torch.Tensor, y: torch.Tensor, steps: tuple[int, ...] = STEPS
             ) -> tuple[float, dict[int, tuple[float, float]]]:
    """ANN accuracy and, per T, (SNN accuracy, agreement of SNN and ANN predictions)."""
    ann_pred = q(xs).argmax(1)
    out = {}
    for t in steps:
        snn_pred = convert_qrnn(q, t)(xs).argmax(1)
        out[t] = ((snn_pred == y).float().mean().item(), (snn_pred == ann_pred).float().mean().item())
    return (ann_pred == y).float().mean().item(), out


def main(which: str, quick: bool) -> None:
    torch.set_num_threads(1)
    tasks = {"digits": (digits_rows, 64, 40), "mnist1d": (mnist1d_chunks, 128, 60)}
    names = list(tasks) if which == "all" else [which]
    levels = 8
    print(f"| task (S × n_in), hidden, L={levels} | ANN | " + " | ".join(f"T={t}" for t in STEPS) + " |")
    print("|---|---|" + "---|" * len(STEPS))
    for name in names:
        t0 = time.time()
        load, hidden, epochs = tasks[name]
        xtr, ytr, xte, yte = load()
        q = train_qrnn(xtr, ytr, hidden=hidden, levels=levels, epochs=3 if quick else epochs)
        ann, per_t = evaluate(q, xte, yte)
        cells = " | ".join(f"{100 * a:.1f} ({100 * g:.0f})" for a, g in per_t.values())
        print(f"| {name} ({xte.shape[0]} × {xte.shape[2]}), {hidden}, λ={q.act.lam.item():.2f} | {100 * ann:.1f} | "
              f"{cells} |  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(args[0] if args else "all", "--quick" in sys.argv)
