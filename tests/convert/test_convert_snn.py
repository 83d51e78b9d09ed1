"""Converted SNNs against their ANNs: a closed-form rate bound and a worked conversion on sklearn digits."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spikeforge.convert import QCFS, conversion_accuracy, convert


@pytest.mark.parametrize("T", [16, 64])
def test_one_hidden_layer_output_error_within_rate_bound(T: int, gen: torch.Generator) -> None:
    # With max-norm on the same inputs, each hidden IF neuron sees a constant input in [0, 1]
    # (in threshold units), so |λ·rate - a_j| < λ/T and |SNN mean - ANN| <= Σ_j |W2_ij| λ / T.
    torch.set_default_dtype(torch.float64)
    try:
        ann = nn.Sequential(nn.Linear(5, 30), nn.ReLU(), nn.Linear(30, 4)).eval()
        x = torch.rand(40, 5, generator=gen)
        snn = convert(ann, x, method="max")
        lam = ann[1](ann[0](x)).max()
        bound = (ann[2].weight.abs().sum(1) * lam / T)  # [4]
        err = (snn(x.expand(T, *x.shape)).mean(0) - ann(x)).abs()  # [B, 4]
        assert bool((err <= bound).all())
        assert err.max().item() > 0.05 * bound.min().item()  # and the SNN is not trivially exact
    finally:
        torch.set_default_dtype(torch.float32)


def _digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm[:1400]], y[perm[:1400]], x[perm[1400:]], y[perm[1400:]]


def _train(ann: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int = 150) -> nn.Module:
    opt = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for _ in range(steps):  # full batch: few, cheap steps
        opt.zero_grad()
        nn.functional.cross_entropy(ann(x), y).backward()
        opt.step()
    return ann.eval()


@pytest.mark.parametrize("act", ["relu", "qcfs"])
def test_digits_snn_at_T64_is_within_two_points_of_the_ann(act: str) -> None:
    xtr, ytr, xte, yte = _digits()
    f = (lambda: QCFS(levels=8, lam=2.0)) if act == "qcfs" else nn.ReLU
    ann = _train(nn.Sequential(nn.Linear(64, 64), f(), nn.Linear(64, 32), f(), nn.Linear(32, 10)), xtr, ytr)
    snn = convert(ann, xtr[:500], method="robust" if act == "relu" else "qcfs")
    res = conversion_accuracy(ann, snn, xte, yte, steps=(4, 64))
    assert res["ann"] > 0.9
    assert res["T=64"] >= res["ann"] - 0.02
    assert res["T=4"] < res["T=64"] or act == "qcfs"  # rate coding needs time; QCFS much less


def test_converted_conv_net_is_an_ordinary_spikeforge_model(gen: torch.Generator) -> None:
    import spikeforge as sf

    ann = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                        nn.Linear(64, 3)).eval()
    snn = convert(ann, torch.rand(8, 1, 8, 8, generator=gen))
    with pytest.warns(UserWarning, match="subtract"):  # NIR's IF resets to v_reset; kept in metadata
        graph = sf.to_nir(snn, torch.rand(2, 1, 1, 8, 8, generator=gen))
    assert {"0", "1", "2", "3", "4"} <= set(graph.nodes)
