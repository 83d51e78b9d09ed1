r"""QSD-Transformer (Qiu et al., ICLR 2025): Meta-SpikeFormer with 4-bit LSQ weights and
multi-level ("IE-LIF") spikes, as the released classification code builds it.

* Neuron (:class:`MultiSpike`): :math:`y = \lfloor \mathrm{clamp}(4x, 0, 4) + 1/2 \rfloor / d`,
  ``d = 4`` -> levels {0, .25, .5, .75, 1}; the attention neuron uses ``d = 2`` ({0, .5, ..., 2}).
  Backward: straight-through, masked to ``0 < 4x < 4``. No membrane state, leak or reset: level
  ``k`` stands for ``k`` binary spikes over 4 virtual time steps ("1x4").
* Weights (:class:`LSQConv2d`, :class:`LSQLinear`):
  :math:`w_q = \mathrm{round}(\mathrm{clamp}(w/\alpha, -8, 7))\,\alpha`, STE on the rounding, one
  learnable :math:`\alpha` per output channel, initialised to :math:`2\,\mathrm{mean}|w|/\sqrt{7}`
  (per channel), its gradient scaled by :math:`1/\sqrt{N_w \cdot 7}`.
  Every conv and the head are quantised; BN stays float.
* Architecture: :class:`~spikeforge.models.transformers.MetaSpikeFormer` with attention scale 0.25
  and layer-scale vectors (init 1e-6) on both branches of every transformer block.

Fine-grained distillation and the IE-LIF "rectification" of the paper are not in the released
classification code and are not built here.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .meta_spikeformer import MetaSpikeFormer

__all__ = ["LSQConv2d", "LSQLinear", "MultiSpike", "QSDTransformer", "lsq_quantize", "multispike", "quantize_lsq"]


class _MultiSpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, divisor: float) -> Tensor:
        ctx.save_for_backward(x)
        return torch.floor(torch.clamp(4 * x, 0, 4) + 0.5) / divisor

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * ((4 * x > 0) & (4 * x < 4)).to(grad.dtype), None


def multispike(x: Tensor, divisor: float = 4.0) -> Tensor:
    """Five-level spike count ``floor(clamp(4x, 0, 4) + 0.5) / divisor`` with a masked STE."""
    return _MultiSpikeFn.apply(x, divisor)


class MultiSpike(nn.Module):
    """QSD's multi-level neuron, stateless, elementwise on ``[T, B, *]``.

    Args:
        v_th: Only selects the variant, matching the blocks' calls: ``1.0`` -> ``Multispike``
            (÷4), ``0.5`` (the attention neuron) -> ``Multispike_att`` (÷2).
    """

    def __init__(self, v_th: float = 1.0) -> None:
        super().__init__()
        if v_th not in (1.0, 0.5):
            raise ValueError(f"MultiSpike knows v_th 1.0 (levels /4) and 0.5 (attention, levels /2), got {v_th}")
        self.divisor = 4.0 if v_th == 1.0 else 2.0

    def forward(self, xs: Tensor) -> Tensor:
        return multispike(xs, self.divisor)

    def extra_repr(self) -> str:
        return f"levels=0..4 / {self.divisor:g}"


class _GradScale(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, g: float) -> Tensor:
        ctx.g = g
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return grad * ctx.g, None


def lsq_quantize(w: Tensor, alpha: Tensor, bits: int = 4) -> Tensor:
    """``round(clamp(w / alpha, -2^(b-1), 2^(b-1) - 1)) * alpha`` with a straight-through round
    and LSQ's step-gradient scale ``1 / sqrt(numel(w) * Q_p)``; ``alpha`` broadcasts over ``w``."""
    qn, qp = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    a = _GradScale.apply(alpha, 1.0 / math.sqrt(w.numel() * qp))
    v = torch.clamp(w / a, qn, qp)
    return (v + (torch.round(v) - v).detach()) * a


def _init_alpha(w: Tensor, bits: int) -> Tensor:
    qp = 2 ** (bits - 1) - 1
    if w.device.type == "meta":
        return torch.empty(w.shape[0], device="meta")
    return (2 * w.detach().abs().flatten(1).mean(1) / math.sqrt(qp)).clamp_min(1e-8)  # [C_out]


class LSQConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose weight is LSQ-quantised (one step ``alpha`` per output channel)."""

    def __init__(self, *args: Any, bits: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bits = bits
        self.alpha = nn.Parameter(_init_alpha(self.weight, bits))

    def forward(self, x: Tensor) -> Tensor:
        w = lsq_quantize(self.weight, self.alpha.view(-1, 1, 1, 1), self.bits)
        return self._conv_forward(x, w, self.bias)


class LSQLinear(nn.Linear):
    """``nn.Linear`` whose weight is LSQ-quantised (one step ``alpha`` per output feature)."""

    def __init__(self, *args: Any, bits: int = 4, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bits = bits
        self.alpha = nn.Parameter(_init_alpha(self.weight, bits))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, lsq_quantize(self.weight, self.alpha.view(-1, 1), self.bits), self.bias)


def quantize_lsq(model: nn.Module, bits: int = 4) -> nn.Module:
    """Replace every ``nn.Conv2d`` / ``nn.Linear`` of ``model`` (in place) by its LSQ version
    with the same configuration and weights; returns ``model``."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.Conv2d) and not isinstance(child, LSQConv2d):
            q: LSQConv2d | LSQLinear = LSQConv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                     child.padding, child.dilation, child.groups, child.bias is not None,
                                     child.padding_mode, bits=bits, device=child.weight.device,
                                     dtype=child.weight.dtype)
        elif isinstance(child, nn.Linear) and not isinstance(child, LSQLinear):
            q = LSQLinear(child.in_features, child.out_features, child.bias is not None, bits=bits,
                          device=child.weight.device, dtype=child.weight.dtype)
        else:
            quantize_lsq(child, bits)
            continue
        with torch.no_grad():
            if child.weight.device.type != "meta":
                q.weight.copy_(child.weight)
                q.alpha.copy_(_init_alpha(child.weight, bits))
                if child.bias is not None and q.bias is not None:
                    q.bias.copy_(child.bias)
        setattr(model, name, q)
    return model


class QSDTransformer(MetaSpikeFormer):
    """QSD-Transformer (module docstring): a :class:`MetaSpikeFormer` with ``MultiSpike`` neurons,
    attention scale 0.25, layer scale 1e-6 and ``bits``-bit LSQ weights everywhere.

    Arguments as :class:`MetaSpikeFormer` plus ``bits``; ``neuron`` defaults to
    :class:`MultiSpike` (any registered neuron still drops in).

    Example:
        >>> net = QSDTransformer(embed_dims=(8, 16, 32, 32), depths=(1, 1), num_heads=2, img_size=32)
        >>> net(torch.rand(2, 3, 32, 32)).shape
        torch.Size([1, 2, 1000])
    """

    def __init__(self, *, bits: int = 4, scale: float = 0.25, layer_scale: float | None = 1e-6,
                 neuron: Any = MultiSpike, **kwargs: Any) -> None:
        super().__init__(scale=scale, layer_scale=layer_scale, neuron=neuron, **kwargs)
        quantize_lsq(self, bits)
        self.bits = bits
