"""A small LIF SNN trained with QAT on sklearn digits (the full table: tools/quant_digits.py).

Measured in this test's setting (1000 train / 397 test images, T = 4, 4 epochs, seed 0): float
0.932, 8-bit QAT 0.937, 2-bit QAT 0.929, 2-bit post-training quantization of the float net 0.660,
4-bit weights + 4-bit threshold-centred state 0.894. The assertions are loose bounds around those
numbers: 8 bits costs (almost) nothing, 2-bit QAT recovers most of what 2-bit PTQ loses.
About 5 s of training on one core, so marked slow.
"""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import spikeforge as sf
from spikeforge.quant import IntQuant, StateQuant, quantize_model

T = 4


def _data() -> tuple[torch.Tensor, ...]:
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 16.0  # [1797, 64]
    y = torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm[:1000]], y[perm[:1000]], x[perm[1400:]], y[perm[1400:]]


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 64), sf.LIF.from_decay(0.9), nn.Linear(64, 10), sf.LI.from_decay(0.9))


def _logits(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net(x.expand(T, *x.shape)).mean(0)  # [B, 64] -> [T, B, 64] -> [T, B, 10] -> [B, 10]


def _train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int = 4) -> nn.Module:
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(100):
            opt.zero_grad()
            nn.functional.cross_entropy(_logits(net, x[idx]), y[idx]).backward()
            opt.step()
    return net


@torch.no_grad()
def _acc(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((_logits(net, x).argmax(1) == y).float().mean())


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.slow
def test_qat_accuracy_vs_float_on_digits(one_thread) -> None:
    xtr, ytr, xte, yte = _data()
    float_net = _train(_net(), xtr, ytr)
    acc_float = _acc(float_net, xte, yte)
    acc_8 = _acc(_train(quantize_model(_net(), IntQuant(8)), xtr, ytr), xte, yte)
    acc_2 = _acc(_train(quantize_model(_net(), IntQuant(2)), xtr, ytr), xte, yte)
    acc_2_ptq = _acc(quantize_model(float_net, IntQuant(2)), xte, yte)
    acc_sq = _acc(_train(quantize_model(_net(), IntQuant(4), state=StateQuant.threshold_centred(4)), xtr, ytr),
                  xte, yte)
    print(f"float {acc_float:.3f} int8 {acc_8:.3f} int2 {acc_2:.3f} int2-PTQ {acc_2_ptq:.3f} int4+state4 {acc_sq:.3f}")
    assert acc_float > 0.85
    assert acc_8 > acc_float - 0.03
    assert acc_2 > acc_2_ptq + 0.1  # training through the 2-bit grid beats rounding a float net
    assert acc_sq > 0.8
