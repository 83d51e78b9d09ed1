"""Quantized RNN → recurrent SNN on a *trained* sequence model (reference §2.4): a tiny QRNN learns
sklearn digits read row by row (8 elements of 8 pixels); the converted SNN must reproduce it.

Tolerances, from a measured run of exactly this setup (seed 0; ``tools/crnn_sequence.py`` holds the
full-size run and docs/convert.md its table): at ``T = L = 4`` the mean hidden-state error is 0.051 λ
(bound 0.07 λ); at ``T = 16`` the SNN's prediction equals the QRNN's on 89 % of the test sequences
(bound 85 %) and its accuracy is within 0.7 points of the QRNN's (bound 3 points)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.convert import QRNN, convert_qrnn


@pytest.fixture(scope="module")
def trained() -> tuple[QRNN, torch.Tensor, torch.Tensor]:
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    x = torch.tensor(d.data, dtype=torch.float32).reshape(-1, 8, 8) / 16.0  # [N, 64] -> [N, rows, cols]
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:800], perm[1400:1700]
    xtr, xte = x[tr].transpose(0, 1), x[te].transpose(0, 1)  # [N, S, F] -> [S=8, N, F=8]
    torch.manual_seed(0)
    q = QRNN(8, 24, 10, levels=4, lam=2.0)
    opt = torch.optim.Adam(q.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(6):  # epochs of mini-batches of 100
        for idx in torch.randperm(800, generator=g).split(100):
            opt.zero_grad()
            nn.functional.cross_entropy(q(xtr[:, idx]), y[tr][idx]).backward()
            opt.step()
    return q.eval(), xte, y[te]


@torch.no_grad()
def test_converted_snn_matches_the_trained_qrnn(trained) -> None:
    q, xs, y = trained
    lam = float(q.act.lam)
    ann_pred = q(xs).argmax(1)
    ann_acc = (ann_pred == y).float().mean().item()
    assert ann_acc > 0.6  # trained (chance is 0.1)
    hs4 = convert_qrnn(q, 4).hidden(xs)  # [S, B, H], T = L
    assert torch.equal(hs4[0], q.hidden(xs)[0])  # first element: constant input, exact (check 2)
    assert (hs4 - q.hidden(xs)).abs().mean().item() < 0.07 * lam
    snn_pred = convert_qrnn(q, 16)(xs).argmax(1)
    assert (snn_pred == ann_pred).float().mean().item() >= 0.85
    assert abs((snn_pred == y).float().mean().item() - ann_acc) <= 0.03
