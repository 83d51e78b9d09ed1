"""RepConvBN (Meta-SpikeFormer's Q/K/V/output projection) against a hand-written float64 chain.

Reference (transformers.md §4, **[code]**): ``Conv1x1 -> BN (padded by one pixel with the BN's
own response to zero) -> DWConv3x3 (no padding) -> Conv1x1 -> BN``, then one more ``BN``; BN in
training mode normalises with the batch statistics over ``T * B * H * W``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spikeforge.models.transformers import RepConvBN


def _bn_train(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(dim=(0, 2, 3), keepdim=True)  # [1, C, 1, 1]
    var = x.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)


def _randomise(m: RepConvBN) -> None:
    g = torch.Generator().manual_seed(1)
    for bn in (m.body.module[0].bn1, m.body.module[0].bn2, m.body.module[1]):
        bn.weight.data = 0.5 + torch.rand(bn.num_features, generator=g, dtype=torch.float64)
        bn.bias.data = torch.randn(bn.num_features, generator=g, dtype=torch.float64)
        bn.running_mean.data = torch.randn(bn.num_features, generator=g, dtype=torch.float64)
        bn.running_var.data = 0.5 + torch.rand(bn.num_features, generator=g, dtype=torch.float64)


def _by_hand(m: RepConvBN, xs: torch.Tensor) -> torch.Tensor:
    rep, bn3 = m.body.module[0], m.body.module[1]
    x = xs.flatten(0, 1)  # [T, B, C, H, W] -> [T B, C, H, W]
    y = F.conv2d(x, rep.pw1.weight)
    bn1 = rep.bn1
    y = _bn_train(y, bn1.weight, bn1.bias, bn1.eps)
    pad = bn1.bias - bn1.running_mean * bn1.weight / torch.sqrt(bn1.running_var + bn1.eps)  # BN(0), running stats
    full = pad.view(1, -1, 1, 1).expand(y.shape[0], -1, y.shape[2] + 2, y.shape[3] + 2).clone()
    full[:, :, 1:-1, 1:-1] = y
    y = F.conv2d(full, rep.dw.weight, groups=rep.dw.groups)
    y = F.conv2d(y, rep.pw2.weight)
    y = _bn_train(y, rep.bn2.weight, rep.bn2.bias, rep.bn2.eps)
    y = _bn_train(y, bn3.weight, bn3.bias, bn3.eps)
    return y.unflatten(0, xs.shape[:2])  # [T, B, C_out, H, W]


def test_repconvbn_matches_hand_written_chain_float64() -> None:
    torch.manual_seed(0)
    m = RepConvBN(3, 4).double().train()
    _randomise(m)
    xs = (torch.rand(2, 3, 3, 4, 5, dtype=torch.float64) < 0.4).double()  # spikes [T, B, C, H, W]
    torch.testing.assert_close(m(xs), _by_hand(m, xs), rtol=1e-10, atol=1e-10)


def test_repconvbn_gradcheck() -> None:
    torch.manual_seed(0)
    m = RepConvBN(2, 3).double().train()
    _randomise(m)
    m.body.module[0].bn1.momentum = m.body.module[0].bn2.momentum = m.body.module[1].momentum = 0.0
    xs = torch.randn(1, 2, 2, 2, 2, dtype=torch.float64, requires_grad=True)  # [T, B, C, H, W]
    assert torch.autograd.gradcheck(m, (xs,))
