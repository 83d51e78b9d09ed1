"""Read a ReLU ANN as a flat list of supported layers and fold batch-norm into its weights."""

from __future__ import annotations

import copy

import torch
from torch import nn

from .qcfs import QCFS

__all__ = ["ConversionError", "fold_bn", "flatten_layers", "prepare"]

PARAM = (nn.Linear, nn.Conv1d, nn.Conv2d)
ACT = (nn.ReLU, QCFS)
PASS = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.Flatten)
DROP = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Identity)  # identities at inference
BN = (nn.BatchNorm1d, nn.BatchNorm2d)
_HINTS = {
    nn.MaxPool1d: "max-pooling over spikes is biased; replace it with nn.AvgPool1d and retrain",
    nn.MaxPool2d: "max-pooling over spikes is biased; replace it with nn.AvgPool2d and retrain",
    nn.Softmax: "remove it (argmax is unchanged) and apply softmax to the mean SNN output",
    nn.LogSoftmax: "remove it (argmax is unchanged) and apply it to the mean SNN output",
}


class ConversionError(ValueError):
    """An ANN that cannot be converted; the message names the layer."""


def flatten_layers(ann: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    """``(name, module)`` pairs of an ``nn.Sequential`` (nested ones are flattened), in order."""
    if not isinstance(ann, nn.Sequential):
        raise ConversionError(f"convert expects an nn.Sequential of layers, got {type(ann).__name__}"
                              + (f" at {prefix!r}" if prefix else ""))
    out: list[tuple[str, nn.Module]] = []
    for name, m in ann.named_children():
        full = f"{prefix}.{name}" if prefix else name
        out += flatten_layers(m, full) if isinstance(m, nn.Sequential) else [(full, m)]
    return out


def fold_bn(layer: nn.Module, bn: nn.Module) -> nn.Module:
    r"""A copy of ``layer`` (Linear/Conv) with the eval-mode batch-norm ``bn`` after it folded in.

    .. math:: W' = W\,\gamma/\sigma,\quad b' = (b - \mu)\,\gamma/\sigma + \beta,\quad
              \sigma = \sqrt{\mathrm{var} + \epsilon}
    """
    assert isinstance(layer, PARAM) and isinstance(bn, BN)
    if bn.running_mean is None or bn.running_var is None:
        raise ConversionError(f"{type(bn).__name__} has no running statistics (track_running_stats=False); "
                              "it cannot be folded into the preceding layer")
    out = copy.deepcopy(layer)
    with torch.no_grad():
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.weight is not None else torch.ones_like(std)
        beta = bn.bias if bn.bias is not None else torch.zeros_like(std)
        k = gamma / std  # [C_out]
        out.weight.mul_(k.reshape(-1, *([1] * (out.weight.dim() - 1))))  # scale each output channel
        b = layer.bias if layer.bias is not None else torch.zeros_like(bn.running_mean)
        out.bias = nn.Parameter((b - bn.running_mean) * k + beta)
    return out


def prepare(ann: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers of ``ann`` with batch-norms folded and inference identities dropped.

    Raises :class:`ConversionError` naming the first unsupported layer.
    """
    layers: list[tuple[str, nn.Module]] = []
    for name, m in flatten_layers(ann):
        if isinstance(m, DROP):
            continue
        if isinstance(m, BN):
            if not layers or not isinstance(layers[-1][1], PARAM):
                prev = type(layers[-1][1]).__name__ if layers else "nothing"
                raise ConversionError(f"layer {name!r} ({type(m).__name__}) follows {prev}; batch-norm can "
                                      "only be folded into a directly preceding Linear/Conv layer")
            pname, p = layers[-1]
            n_out = p.out_features if isinstance(p, nn.Linear) else p.out_channels
            if n_out != m.num_features:
                raise ConversionError(f"layer {name!r} ({type(m).__name__}) has {m.num_features} features but "
                                      f"the layer before it ({pname!r}) has {n_out} outputs")
            layers[-1] = (pname, fold_bn(p, m))
            continue
        if isinstance(m, nn.Flatten) and (m.start_dim, m.end_dim) != (1, -1):
            raise ConversionError(f"cannot convert layer {name!r} (Flatten(start_dim={m.start_dim}, "
                                  f"end_dim={m.end_dim})): only the default Flatten(1, -1) is supported")
        if isinstance(m, (*PARAM, *ACT, *PASS)):
            if isinstance(m, nn.ReLU) or isinstance(m, PASS):
                layers.append((name, m))
            else:
                layers.append((name, copy.deepcopy(m)))
            continue
        hint = _HINTS.get(type(m), "supported layers: Linear, Conv1d/2d, BatchNorm1d/2d (folded), ReLU, QCFS, "
                                   "AvgPool1d/2d, AdaptiveAvgPool1d/2d, Flatten, Dropout, Identity")
        raise ConversionError(f"cannot convert layer {name!r} ({type(m).__name__}): {hint}")
    return layers
