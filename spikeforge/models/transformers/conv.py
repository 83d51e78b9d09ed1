"""Meta-SpikeFormer's convolutional pieces: RepConv, SepConv, the Conv-SNN block, down-sampling.

Every branch follows the membrane-shortcut pattern ``LIF -> Conv -> BN``: convolutions see
spikes, except inside the linear chains of RepConv and SepConv (conv of spikes fed to the next
conv), which merge into a single conv at inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...layers.time import TimeDistributed
from ._neuron import ConvBN, NeuronSpec, make_neuron

__all__ = ["MSConvBlock", "MSDownsample", "RepConvBN", "SepConv", "bn_pad"]


def bn_pad(x: Tensor, bn: nn.BatchNorm2d, pad: int) -> Tensor:
    """``BN(x)`` padded by ``pad`` pixels with the value BN gives a zero input, so that padding
    before or after the BN is the same and the chain stays one linear map (``[N, C, H, W] ->
    [N, C, H + 2 pad, W + 2 pad]``). The pad value uses the running statistics, detached."""
    y = bn(x)
    if pad == 0:
        return y
    mean, var = bn.running_mean, bn.running_var
    if mean is None or var is None:
        raise ValueError("bn_pad needs a BatchNorm2d with running statistics (track_running_stats=True)")
    value = -mean / torch.sqrt(var + bn.eps)
    if bn.affine:
        value = bn.bias.detach() + value * bn.weight.detach()
    value = value.view(1, -1, 1, 1)  # [1, C, 1, 1]
    return F.pad(y - value, [pad] * 4) + value  # border = value, interior = BN(x)


class _RepConv(nn.Module):
    """``Conv1x1 -> BN (padded with its zero response) -> DWConv3x3 -> Conv1x1 -> BN`` on
    ``[N, C, H, W]``; all linear, so it merges into one 3x3 conv. No biases."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.pw1 = nn.Conv2d(c_in, c_in, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_in)
        self.dw = nn.Conv2d(c_in, c_in, 3, 1, 0, groups=c_in, bias=False)
        self.pw2 = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn2(self.pw2(self.dw(bn_pad(self.pw1(x), self.bn1, 1))))


class RepConvBN(nn.Module):
    """Meta-SpikeFormer's Q/K/V/output projection ``BN(RepConv(x))``, time-folded.

    Shapes:
        ``[T, B, C_in, H, W] -> [T, B, C_out, H, W]``.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = TimeDistributed(nn.Sequential(_RepConv(c_in, c_out), nn.BatchNorm2d(c_out)))

    def forward(self, xs: Tensor) -> Tensor:
        return self.body(xs)


class SepConv(nn.Module):
    """Inverted separable conv branch: ``BN(pw2(dw7x7(LIF(BN(pw1(LIF(x)))))))``, ``pw1: C -> rC``,
    depth-wise ``k x k``, ``pw2: rC -> C``, no biases. Shapes: ``[T, B, C, H, W]`` -> same."""

    def __init__(self, dim: int, *, expansion: int = 2, kernel_size: int = 7,
                 neuron: NeuronSpec = "lif", surrogate: str = "sigmoid") -> None:
        super().__init__()
        mid = dim * expansion
        self.lif1 = make_neuron(neuron, surrogate, features=dim)
        self.lif2 = make_neuron(neuron, surrogate, features=mid)
        self.pw1 = ConvBN(dim, mid)
        self.dw_pw2 = TimeDistributed(nn.Sequential(
            nn.Conv2d(mid, mid, kernel_size, 1, kernel_size // 2, groups=mid, bias=False),
            nn.Conv2d(mid, dim, 1, bias=False), nn.BatchNorm2d(dim)))

    def forward(self, x: Tensor) -> Tensor:
        return self.dw_pw2(self.lif2(self.pw1(self.lif1(x))))  # [T, B, C, H, W]


class MSConvBlock(nn.Module):
    """Conv-SNN block: ``x = x + SepConv(x)``; ``x = x + BN(Conv3x3(LIF(BN(Conv3x3_{C->rC}(LIF(x))))))``.

    Shapes: ``[T, B, C, H, W] -> [T, B, C, H, W]``.
    """

    def __init__(self, dim: int, *, mlp_ratio: int = 4, neuron: NeuronSpec = "lif",
                 surrogate: str = "sigmoid") -> None:
        super().__init__()
        self.sep = SepConv(dim, neuron=neuron, surrogate=surrogate)
        self.lif1 = make_neuron(neuron, surrogate, features=dim)
        self.lif2 = make_neuron(neuron, surrogate, features=dim * mlp_ratio)
        self.conv1 = ConvBN(dim, dim * mlp_ratio, 3, 1, 1)
        self.conv2 = ConvBN(dim * mlp_ratio, dim, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.sep(x)
        return x + self.conv2(self.lif2(self.conv1(self.lif1(x))))


class MSDownsample(nn.Module):
    """``[LIF] -> Conv(k, stride, bias) -> BN``; the LIF is left out on the image stem.

    Shapes: ``[T, B, C_in, H, W] -> [T, B, C_out, H', W']``.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3, stride: int = 2, *, first: bool = False,
                 neuron: NeuronSpec = "lif", surrogate: str = "sigmoid") -> None:
        super().__init__()
        self.lif = None if first else make_neuron(neuron, surrogate, features=c_in)
        self.conv = ConvBN(c_in, c_out, kernel_size, stride, kernel_size // 2, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x if self.lif is None else self.lif(x))
