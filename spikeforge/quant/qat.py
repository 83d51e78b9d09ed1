r"""Quantization-aware training (QAT) layers and :func:`quantize_model`.

:class:`QuantLinear`, :class:`QuantConv1d` and :class:`QuantConv2d` are their ``torch.nn``
parents with the weight passed through a weight quantizer (:mod:`.fake_quant`) on every call:
``y = x W_q^T + b`` with :math:`W_q = q(W)`, the float ``W`` kept as the trained master copy and
the rounding straight-through in the backward pass. Biases stay float (they are added, not
multiplied; export them at the accumulator width).

They drop into time-major models unchanged: ``QuantLinear`` acts on the last dim of
``[T, B, N]``; the convolutions sit inside :class:`~spikeforge.layers.TimeDistributed`, which
folds ``T`` into the batch, exactly as the float layers do.

Example:
    >>> import torch, spikeforge as sf
    >>> from spikeforge.quant import IntQuant, quantize_model
    >>> net = torch.nn.Sequential(torch.nn.Linear(16, 8), sf.LIF.from_decay(0.9), torch.nn.Linear(8, 3))
    >>> qnet = quantize_model(net, IntQuant(bits=4, per_channel=True))
    >>> qnet(torch.rand(5, 2, 16)).shape        # [T, B, 16] -> [T, B, 3]
    torch.Size([5, 2, 3])
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

from ..layers.sparse_linear import EventLinear
from .fake_quant import QUANTIZERS, IntWeight, WeightQuantizer

_MIN_STEP = 1e-8  # smallest learnable step (LSQ) after projection

__all__ = ["QuantConv1d", "QuantConv2d", "QuantLinear", "QuantModule", "get_quantizer", "qat_layers",
           "quantize_model", "weight_bits"]


def get_quantizer(quant: str | WeightQuantizer) -> WeightQuantizer:
    """A weight quantizer from an instance or a registry name (``"int"``, ``"ternary"`` ...)."""
    if isinstance(quant, WeightQuantizer):
        return quant
    if isinstance(quant, str):
        return QUANTIZERS.create(quant)
    raise TypeError(f"expected a weight quantizer (e.g. IntQuant(bits=4)) or one of {QUANTIZERS.names()}, "
                    f"got {type(quant).__name__}")


class QuantModule(nn.Module):
    """Mixin of the QAT layers: holds ``weight_quant`` and, for a learnable quantizer (LSQ),
    the ``weight_step`` parameter. ``quantized_weight()`` is the weight the layer computes with;
    ``int_weight()`` its integer form for export."""

    weight: Tensor
    weight_step: nn.Parameter | None

    def _init_quant(self, quant: str | WeightQuantizer) -> None:
        self.weight_quant = get_quantizer(quant)
        step = self.weight_quant.init_step(self.weight)
        self.weight_step = None if step is None else nn.Parameter(step)
        self.frozen: IntWeight | None = None

    def quantized_weight(self) -> Tensor:
        """The weight the layer computes with: the fake-quantized ``q(W)`` (float, differentiable
        by the STE), or after :meth:`freeze` the stored integers times their scale."""
        if self.frozen is not None:
            return self.frozen.dequantize().to(dtype=self.weight.dtype, device=self.weight.device)
        self._project_step()
        return self.weight_quant.q(self.weight, self.weight_step)

    def _project_step(self) -> None:
        """Keep a learnable step positive: an optimizer step can push a small step below 0.
        Projected in place (like learnable time constants), only when needed, so a layer
        called several times before ``backward`` does not bump the parameter's version."""
        step = self.weight_step
        if step is not None and bool((step.detach() < _MIN_STEP).any()):
            with torch.no_grad():
                step.clamp_(min=_MIN_STEP)

    def int_weight(self) -> IntWeight:
        """The weight as integers, scale and zero point (:class:`~spikeforge.quant.IntWeight`)."""
        if self.frozen is not None:
            return self.frozen
        return self.weight_quant.to_int(self.weight, self.weight_step)

    def freeze(self, int_weight: IntWeight | None = None) -> None:
        """Compute with fixed integer weights from now on: ``int_weight`` (e.g. loaded from an
        export) or the current ``int_weight()``. Re-quantizing the dequantized weight instead is
        not the same for every quantizer (absmean ternary changes its scale)."""
        iw = self.int_weight() if int_weight is None else int_weight
        if tuple(iw.values.shape) != tuple(self.weight.shape):
            raise ValueError(f"{type(self).__name__}.freeze: integer weight of shape {tuple(iw.values.shape)} "
                             f"for a weight of shape {tuple(self.weight.shape)}")
        self.frozen = iw

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, weight_quant={self.weight_quant!r}"


class QuantLinear(QuantModule, nn.Linear):
    """``nn.Linear`` with fake-quantized weights. ``xs [..., in_features] -> [..., out_features]``.

    Example:
        >>> from spikeforge.quant import TernaryQuant
        >>> layer = QuantLinear(16, 4, quant=TernaryQuant())
        >>> layer(torch.rand(10, 2, 16)).shape
        torch.Size([10, 2, 4])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 quant: str | WeightQuantizer = "int", **factory: Any) -> None:
        super().__init__(in_features, out_features, bias, **factory)
        self._init_quant(quant)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.quantized_weight(), self.bias)


class QuantConv1d(QuantModule, nn.Conv1d):
    """``nn.Conv1d`` with fake-quantized weights (per channel = per output channel)."""

    def __init__(self, *args: Any, quant: str | WeightQuantizer = "int", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_quant(quant)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.quantized_weight(), self.bias)


class QuantConv2d(QuantModule, nn.Conv2d):
    """``nn.Conv2d`` with fake-quantized weights (per channel = per output channel); inside a
    time-major model wrap it (or the float conv before :func:`quantize_model`) in ``TimeDistributed``."""

    def __init__(self, *args: Any, quant: str | WeightQuantizer = "int", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_quant(quant)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.quantized_weight(), self.bias)


_QAT_OF: dict[type[nn.Module], type[QuantModule]] = {
    nn.Linear: QuantLinear, nn.Conv1d: QuantConv1d, nn.Conv2d: QuantConv2d,
    EventLinear: QuantLinear,  # nn.Linear with an event-driven forward (same values)
}


def _to_qat(module: nn.Module, quant: WeightQuantizer) -> QuantModule:
    """A QAT twin of a float ``Linear``/``Conv1d``/``Conv2d`` with the same hyper-parameters, sharing
    its weight and bias parameters."""
    w = module.weight
    factory: dict[str, Any] = {"device": w.device, "dtype": w.dtype}
    new: QuantModule
    if isinstance(module, nn.Linear):
        new = QuantLinear(module.in_features, module.out_features, module.bias is not None, quant=quant, **factory)
    else:
        conv: Any = module
        new = _QAT_OF[type(module)](conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                                    padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                                    bias=conv.bias is not None, padding_mode=conv.padding_mode, quant=quant,
                                    **factory)
    target: Any = new
    target.weight, target.bias = w, module.bias
    new.train(module.training)
    new._init_quant(quant)  # the learnable step (LSQ) from the trained weight
    return new


def quantize_model(model: nn.Module, weight: str | WeightQuantizer = "int", *,
                   skip: Iterable[str] = (), state: Any = None, inplace: bool = False) -> nn.Module:
    """Swap every ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` for its QAT twin.

    Args:
        model: Any model (``nn.Sequential``, zoo models, layers inside ``TimeDistributed``).
        weight: The weight quantizer for every swapped layer (a fresh learnable step per layer
            for :class:`~spikeforge.quant.LSQ`).
        skip: Qualified names (as in ``named_modules``) of layers to keep in float, e.g. the
            first layer or the readout.
        state: Optional :class:`~spikeforge.quant.StateQuant` set on every neuron that accepts a
            state quantizer (see :func:`~spikeforge.quant.quantize_state`).
        inplace: Modify ``model`` instead of a deep copy.

    Returns:
        The quantized model; its float weights equal the original's (training continues from them).

    Raises:
        ValueError: ``skip`` names a module that does not exist; or the model has nothing to quantize.
    """
    quant = get_quantizer(weight)
    model = model if inplace else copy.deepcopy(model)
    names = dict(model.named_modules())
    skip = set(skip)
    missing = sorted(skip - set(names))
    if missing:
        raise ValueError(f"quantize_model: skip names {missing} are not modules of the model; "
                         f"valid names include {[n for n in names if n][:10]}")
    swapped = 0
    for name, module in list(names.items()):
        if type(module) in _QAT_OF and name not in skip:
            new = _to_qat(module, quant)
            if name == "":
                model = new
            else:
                parent_name, _, attr = name.rpartition(".")
                setattr(names[parent_name] if parent_name else model, attr, new)
            swapped += 1
    if state is not None:
        from .state_quant import quantize_state
        quantize_state(model, state, inplace=True)
    elif swapped == 0:
        raise ValueError(f"quantize_model: no nn.Linear / nn.Conv1d / nn.Conv2d outside skip={sorted(skip)} "
                         f"in {type(model).__name__}")
    return model


def qat_layers(model: nn.Module) -> dict[str, QuantModule]:
    """The QAT layers of ``model`` by qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, QuantModule)}


def weight_bits(model: nn.Module) -> dict[str, float]:
    """Bits per weight of each QAT layer, by qualified name (``log2(3)`` for ternary)."""
    return {n: float(m.weight_quant.bits) for n, m in qat_layers(model).items()}

