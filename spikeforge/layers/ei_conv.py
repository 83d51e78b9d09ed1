"""Convolutional excitatory–inhibitory (E-I) circuit layer: DeepEISNN's normalisation-free conv block.

The 2-D analogue of :mod:`spikeforge.layers.ei` (reference §4.11, Liu, Ding, Yu, ICLR 2026): the
output channels are the excitatory (E) population; ``n_I = n_E // 4`` inhibitory (I) channels see the
same receptive field; each E channel is inhibited, pixel by pixel, by every I channel (a 1×1 map
``W_EI``). Dale's law holds on every connection (all weights and gains ≥ 0).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..neurons._base import check_sequence
from ..numerics import check_finite
from .ei import _EICircuit, _exponential, _nonzero_floor, ei_input_moments

__all__ = ["EIConvParams", "ei_conv_current", "ei_conv_init_params", "EIConv2d"]


class EIConvParams(NamedTuple):
    w_ee: Tensor  # E <- input kernels [n_E, C, kh, kw], >= 0
    w_ie: Tensor  # I <- input kernels [n_I, C, kh, kw], >= 0
    w_ei: Tensor  # E <- I pointwise inhibitory weights [n_E, n_I], >= 0 (enter with a minus sign)
    g_i: Tensor   # divisive gain of each inhibitory channel [n_I], >= 0
    g_e: Tensor   # output gain of each E channel [n_E], >= 0
    b_e: Tensor   # E bias per channel [n_E]


def ei_conv_current(x: Tensor, p: EIConvParams, *, stride: int = 1, padding: int = 0, dilation: int = 1) -> Tensor:
    r"""Input current of the E channels from a non-negative input ``x`` ``[*, C, H, W]``.

    With :math:`\star` the 2-D cross-correlation (``stride``, zero ``padding``, ``dilation``) and the
    1×1 maps applied at every pixel:

    .. math::
        I_{EE} = W_{EE} \star x,\quad I_{IE} = W_{IE} \star x,\quad
        I_{bal} = I_{EE} - W_{EI}\,I_{IE},\quad I_{sh} = W_{EI}\,(g_I \odot I_{IE}),\quad
        I = g_E \odot I_{bal} / I_{sh} + b_E

    Zeros of :math:`I_{sh}` are replaced by the smallest non-zero value of the same sample (over all
    channels and pixels) in the forward pass only (straight-through), as in the paper's conv block.
    With :math:`b_E = 0`, :math:`I(\alpha x) = I(x)` for every :math:`\alpha > 0`.

    Shapes:
        ``x [*, C, H, W] -> [*, n_E, H', W']`` (``H' = ⌊(H + 2·padding − dilation·(kh − 1) − 1)/stride⌋ + 1``)
    """
    if x.dim() < 4:
        raise ValueError(f"ei_conv_current: expected x of shape [*, C, H, W], got {tuple(x.shape)}")
    lead = x.shape[:-3]
    xf = x.reshape(-1, *x.shape[-3:])  # [*, C, H, W] -> [N, C, H, W]
    i_ee = F.conv2d(xf, p.w_ee, stride=stride, padding=padding, dilation=dilation)  # [N, n_E, H', W']
    i_ie = F.conv2d(xf, p.w_ie, stride=stride, padding=padding, dilation=dilation)  # [N, n_I, H', W']
    i_bal = i_ee - torch.einsum("ek,nkhw->nehw", p.w_ei, i_ie)  # subtractive inhibition [N, n_E, H', W']
    i_sh = torch.einsum("ek,nkhw->nehw", p.w_ei, i_ie * p.g_i[:, None, None])  # divisive [N, n_E, H', W']
    floor = _nonzero_floor(i_sh.flatten(1)).view_as(i_sh)  # per-sample min over [n_E·H'·W'], back to [N, n_E, H', W']
    out = p.g_e[:, None, None] * i_bal / floor + p.b_e[:, None, None]
    return out.reshape(*lead, *out.shape[1:])  # [N, n_E, H', W'] -> [*, n_E, H', W']


def ei_conv_init_params(x: Tensor, n_e: int, kernel_size: int, *,
                        generator: torch.Generator | None = None) -> EIConvParams:
    r"""E-I Init for the conv block from a batch ``x`` ``[*, C, H, W]``, with fan-in :math:`d = C\,k^2`.

    :math:`\mu_1 = E[x]`, :math:`\mu_2 = E[x^2]` over every element, :math:`v` the variance of each
    input element ``(c, h, w)`` over the samples, averaged (the paper's ``x.var(dim=0).mean()``):

    .. math::
        W_{EE}, W_{IE} \sim \mathrm{Exponential}\Big(\text{scale} = \sqrt{v / (d(\mu_2 + v))}\Big),\quad
        W_{EI} = 1/n_I,\quad g_I = \sqrt{\mu_2 + v} / (\sqrt d\,\mu_1),\quad g_E = 1,\quad b_E = 0
    """
    n_i = n_e // 4
    if n_i < 1:
        raise ValueError(f"ei_conv_init_params: n_E must be >= 4 so that n_I = n_E // 4 >= 1, got n_E={n_e}")
    if x.dim() < 4:
        raise ValueError(f"ei_conv_init_params: expected x of shape [*, C, H, W], got {tuple(x.shape)}")
    c = x.shape[-3]
    d = c * kernel_size * kernel_size
    m1, m2, var = ei_input_moments(x, 3, "ei_conv_init_params")
    scale = math.sqrt(var / (d * (m2 + var)))
    g_i = math.sqrt(m2 + var) / (math.sqrt(d) * m1)
    k = kernel_size
    dt, dev = x.dtype, x.device
    return EIConvParams(w_ee=_exponential((n_e, c, k, k), scale, generator, x),
                        w_ie=_exponential((n_i, c, k, k), scale, generator, x),
                        w_ei=torch.full((n_e, n_i), 1.0 / n_i, dtype=dt, device=dev),
                        g_i=torch.full((n_i,), g_i, dtype=dt, device=dev), g_e=torch.ones(n_e, dtype=dt, device=dev),
                        b_e=torch.zeros(n_e, dtype=dt, device=dev))


class EIConv2d(_EICircuit):
    """Conv E-I circuit: ``[T, B, C, H, W]`` non-negative inputs -> ``[T, B, n_E, H', W']`` currents
    (:func:`ei_conv_current`); put a LIF (e.g. :func:`spikeforge.layers.ei.ei_lif`) after it.

    As :class:`~spikeforge.layers.ei.EILinear`: E-I Init (:func:`ei_conv_init_params`) runs on the first
    batch the layer sees (or by :meth:`ei_init_`); the sign-constrained parameters (all but ``b_e``) are
    projected onto ``>= 0`` in place before every forward (:meth:`project_` does it on demand); with
    ``ei_prop=True`` (E-I Prop) the gradient of :math:`W_{EI}` is divided by the fan-in
    ``d = in_channels · kernel_size²``. Square kernels, ``groups = 1``, no conv bias (the paper's block).

    Example:
        >>> layer = EIConv2d(2, 8, 3, padding=1)
        >>> layer(torch.rand(4, 3, 2, 6, 6)).shape
        torch.Size([4, 3, 8, 6, 6])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1, padding: int = 0,
                 dilation: int = 1, ei_prop: bool = True, generator: torch.Generator | None = None) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 4:
            raise ValueError(f"EIConv2d: need in_channels >= 1 and out_channels >= 4 (n_I = n_E // 4 >= 1), "
                             f"got {in_channels}, {out_channels}")
        if kernel_size < 1 or stride < 1 or dilation < 1 or padding < 0:
            raise ValueError(f"EIConv2d: need kernel_size, stride, dilation >= 1 and padding >= 0, got "
                             f"{kernel_size}, {stride}, {dilation}, {padding}")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation = stride, padding, dilation
        n_i, k = out_channels // 4, kernel_size
        self._setup(out_channels, n_i, (out_channels, in_channels, k, k), (n_i, in_channels, k, k),
                    in_channels * k * k, ei_prop, generator)

    @property
    def params(self) -> EIConvParams:
        return EIConvParams(self.w_ee, self.w_ie, self.w_ei, self.g_i, self.g_e, self.b_e)

    @torch.no_grad()
    def ei_init_(self, x: Tensor) -> None:
        """Set every parameter by E-I Init from the batch ``x`` ``[*, C, H, W]``."""
        self._set_params(ei_conv_init_params(x, self.out_channels, self.kernel_size, generator=self._generator))

    def forward(self, xs: Tensor) -> Tensor:
        check_sequence(xs, "EIConv2d")
        check_finite(xs, "EIConv2d")
        if xs.dim() != 5 or xs.shape[2] != self.in_channels:
            raise ValueError(f"EIConv2d: expected [T, B, {self.in_channels}, H, W], got shape {tuple(xs.shape)}")
        span = self.dilation * (self.kernel_size - 1) + 1  # receptive field of one output pixel
        if min(xs.shape[-2:]) + 2 * self.padding < span:
            raise ValueError(f"EIConv2d: input {tuple(xs.shape[-2:])} with padding {self.padding} is smaller than "
                             f"the kernel's span {span}")
        self._init_if_needed(xs)
        self.project_()
        return ei_conv_current(xs, self.params, stride=self.stride, padding=self.padding, dilation=self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}")
