"""Export of a quantized model as integer weights, scales, thresholds and state levels.

Layout (a flat ``dict[str, Tensor]``, ready for ``safetensors.torch.save_file`` or ``torch.save``).
For each quantized layer ``<name>`` (:class:`QuantLinear`, the QAT convolutions, :class:`BitLinear`):

- ``<name>.weight_int``: the integer weight, the layer's weight shape; int8 (uint8 when
  asymmetric; int32 above 8 bits);
- ``<name>.weight_scale``: float32, ``[]`` per tensor or ``[C_out, 1, ...]`` per channel;
- ``<name>.weight_zero``: int32 zero point, shaped like the scale (0 unless asymmetric);
- ``<name>.weight_bits``: float64 scalar, bits per weight (``log2 3`` for ternary);
- ``<name>.bias``: float32 ``[C_out]``, if the layer has one;
- ``<name>.norm_weight``: float32 ``[in]``, the RMSNorm gain of a BitLinear that has one.

For each neuron ``<name>`` with a state quantizer: ``<name>.v_th`` (float32, its threshold) and
``<name>.state_levels`` (float64 ``[2^b]``, ascending). The float weight of a layer is
``(weight_int - weight_zero) * weight_scale``; :func:`load_quantized` freezes a model to exactly
those integers, so the loaded model computes what the exported one did.

Example:
    >>> import torch
    >>> from spikeforge.quant import IntQuant, quantize_model
    >>> qnet = quantize_model(torch.nn.Sequential(torch.nn.Linear(4, 3)), IntQuant(bits=4))
    >>> blob = export_quantized(qnet)
    >>> sorted(blob)
    ['0.bias', '0.weight_bits', '0.weight_int', '0.weight_scale', '0.weight_zero']
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from .bitlinear import BitLinear
from .fake_quant import IntWeight
from .qat import QuantModule

__all__ = ["export_quantized", "load_quantized"]


def export_quantized(model: nn.Module) -> dict[str, Tensor]:
    """The integer form of ``model`` in the layout of the module docstring.

    Raises ``ValueError`` if the model has no quantized layer.
    """
    from ..neurons import Neuron

    out: dict[str, Tensor] = {}
    for name, m in model.named_modules():
        if isinstance(m, QuantModule):
            iw = m.int_weight()
            out[f"{name}.weight_int"] = iw.values.detach().cpu().clone()
            out[f"{name}.weight_scale"] = iw.scale.detach().float().cpu().clone()
            out[f"{name}.weight_zero"] = iw.zero_point.detach().to(torch.int32).cpu().clone()
            out[f"{name}.weight_bits"] = torch.tensor(float(iw.bits), dtype=torch.float64)
            bias: Any = getattr(m, "bias", None)
            if bias is not None:
                out[f"{name}.bias"] = bias.detach().float().cpu().clone()
            if isinstance(m, BitLinear) and m.norm_weight is not None:
                out[f"{name}.norm_weight"] = m.norm_weight.detach().float().cpu().clone()
        elif isinstance(m, Neuron) and m.state_quant is not None:
            levels = getattr(m.state_quant, "levels", None)
            out[f"{name}.v_th"] = torch.as_tensor(m.v_th).detach().float().cpu().clone()
            if levels is not None:
                out[f"{name}.state_levels"] = torch.tensor(levels, dtype=torch.float64)
    if not any(k.endswith(".weight_int") for k in out):
        raise ValueError(f"export_quantized: {type(model).__name__} has no quantized layer; "
                         "quantize it first (quantize_model, BitLinear)")
    return out


def load_quantized(model: nn.Module, blob: dict[str, Tensor], *, inplace: bool = False) -> nn.Module:
    """A copy of the quantized ``model`` whose layers compute with the integer weights of ``blob``
    (frozen, see :meth:`QuantModule.freeze`), biases and norm gains from ``blob``.

    Raises ``KeyError`` naming a missing key, ``ValueError`` for a shape mismatch or keys of layers
    the model does not have.
    """
    model = model if inplace else copy.deepcopy(model)
    used: set[str] = set()

    def take(key: str) -> Tensor:
        if key not in blob:
            raise KeyError(f"load_quantized: the export has no {key!r}")
        used.add(key)
        return blob[key]

    for name, m in model.named_modules():
        if isinstance(m, QuantModule):
            m.freeze(IntWeight(take(f"{name}.weight_int"), take(f"{name}.weight_scale"),
                               take(f"{name}.weight_zero"), float(take(f"{name}.weight_bits"))))
            bias: Any = getattr(m, "bias", None)
            with torch.no_grad():
                if bias is not None:
                    bias.copy_(take(f"{name}.bias"))
                if isinstance(m, BitLinear) and m.norm_weight is not None:
                    m.norm_weight.copy_(take(f"{name}.norm_weight"))
        elif f"{name}.state_levels" in blob:
            levels = getattr(getattr(m, "state_quant", None), "levels", None)
            if levels is None or not torch.equal(torch.tensor(levels, dtype=torch.float64),
                                                 take(f"{name}.state_levels").double()):
                raise ValueError(f"load_quantized: neuron {name!r} was exported with state levels "
                                 f"{blob[f'{name}.state_levels'].tolist()[:4]}..., but this model's are "
                                 f"{None if levels is None else list(levels)[:4]}; set the same StateQuant")
            take(f"{name}.v_th")
    extra = sorted(set(blob) - used)
    if extra:
        raise ValueError(f"load_quantized: the export has keys for layers this model does not quantize: {extra[:8]}")
    return model
