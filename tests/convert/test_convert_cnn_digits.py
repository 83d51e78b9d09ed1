"""Conversion of a conv net (conv + BN + average pooling) trained on 8x8 digits; max-pool and softmax refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.convert import ConversionError, conversion_accuracy, convert


@pytest.mark.slow  # ~5 s alone, 30 s on the shared machine
def test_digits_cnn_with_bn_and_avgpool_converts_within_two_points() -> None:
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    x = torch.tensor(d.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0  # [1797, 64] -> [1797, 1, 8, 8]
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    xtr, ytr, xte, yte = x[perm[:1400]], y[perm[:1400]], x[perm[1400:]], y[perm[1400:]]
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    opt = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for _ in range(120):  # full batch
        opt.zero_grad()
        nn.functional.cross_entropy(ann(xtr), ytr).backward()
        opt.step()
    ann.eval()
    res = conversion_accuracy(ann, convert(ann, xtr[:500], method="robust"), xte, yte, steps=(2, 64))
    assert res["ann"] > 0.9
    assert res["T=64"] >= res["ann"] - 0.02
    assert res["T=2"] < res["T=64"]
    # the same net with max-pooling is refused, naming the layer
    bad = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(8 * 4 * 4, 10)).eval()
    with pytest.raises(ConversionError, match=r"layer '3' \(MaxPool2d\)"):
        convert(bad, xtr[:50])
    mid = nn.Sequential(nn.Linear(64, 16), nn.Softmax(dim=-1), nn.Linear(16, 10)).eval()
    with pytest.raises(ConversionError, match=r"layer '1' \(Softmax\)"):
        convert(mid, xtr[:50].reshape(50, 64))
