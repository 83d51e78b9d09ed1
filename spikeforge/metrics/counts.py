"""Pure counting rules: static model costs and the synaptic operations of one layer call.

The definitions follow NeuroBench 2.3.0 (Yik et al., "The neurobench framework for benchmarking
neuromorphic computing algorithms and systems", Nature Communications 2025):

- **Footprint**: bytes of all parameters and buffers, ``Σ numel · element_size`` (zero weights
  included).
- **Connection sparsity**: zero weights / all weights of the connection layers (``nn.Linear``,
  ``nn.Conv1d/2d/3d`` weights without bias; every parameter of ``nn.RNNBase``/``nn.RNNCellBase``).
- **Synaptic operations** of one call: inputs and weights are binarised (non-zero → 1) and the
  layer is re-applied without bias; the sum of its output is the number of *effective*
  operations. They are accumulate-only (**AC**) if every input value is in ``{-1, 0, 1}``
  (spikes), else multiply-accumulates (**MAC**). **Dense** operations use all-ones inputs and
  weights: what hardware that cannot skip zeros would do.

Counts are exact integers (NeuroBench sums float32 tensors, which rounds above 2**24 per call).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CONNECTION_TYPES",
    "Footprint",
    "footprint",
    "parameter_count",
    "connection_weights",
    "connection_sparsity",
    "is_spike_tensor",
    "linear_ops",
    "conv_ops",
    "rnn_cell_ops",
]

CONNECTION_TYPES: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.RNNBase, nn.RNNCellBase,
)
"""Module types whose weights are synapses (NeuroBench's ``SUPPORTED_LAYERS``)."""


@dataclass(frozen=True)
class Footprint:
    """Memory footprint in bytes: ``total = parameter_bytes + buffer_bytes``."""

    parameter_bytes: int
    buffer_bytes: int

    @property
    def total(self) -> int:
        return self.parameter_bytes + self.buffer_bytes


def footprint(model: nn.Module) -> Footprint:
    """Bytes of all parameters and buffers of ``model`` (shared tensors counted once).

    Neuron parameters that are not trained are buffers here (as in snnTorch), so the buffer part
    depends on the framework; ``parameter_bytes`` is the framework-neutral number.
    """
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    return Footprint(parameter_bytes=int(params), buffer_bytes=int(buffers))


def parameter_count(model: nn.Module) -> int:
    """Number of scalar parameters (``nn.Parameter`` elements) of ``model``."""
    return int(sum(p.numel() for p in model.parameters()))


def connection_weights(module: nn.Module) -> list[Tensor]:
    """The tensors counted as connections of ``module`` (empty if it is not a connection layer).

    Linear/conv layers: ``weight`` only (bias excluded). Recurrent layers and cells: every
    parameter (input and recurrent weights and biases), as NeuroBench counts them.
    """
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return [module.weight]
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return list(module.parameters(recurse=False))
    return []


def connection_sparsity(model: nn.Module) -> tuple[float, dict[str, tuple[int, int]]]:
    """Fraction of zero connection weights over all connection layers of ``model``.

    Returns:
        ``(sparsity, per_layer)`` where ``per_layer[name] = (zeros, weights)``. ``sparsity`` is
        0.0 when the model has no connection layer.
    """
    per_layer: dict[str, tuple[int, int]] = {}
    for name, module in model.named_modules():
        weights = connection_weights(module)
        if weights:
            zeros = sum(int((w == 0).sum()) for w in weights)
            per_layer[name or type(module).__name__] = (zeros, sum(w.numel() for w in weights))
    total = sum(n for _, n in per_layer.values())
    zeros = sum(z for z, _ in per_layer.values())
    return (zeros / total if total else 0.0), per_layer


def is_spike_tensor(x: Tensor) -> bool:
    """True if every element of ``x`` is -1, 0 or 1 (NeuroBench's test for spiking input)."""
    return bool(((x == 0) | (x == 1) | (x == -1)).all())


def linear_ops(x: Tensor, weight: Tensor) -> tuple[int, int]:
    """Effective and dense synaptic operations of ``F.linear(x, weight)``.

    Effective = Σ over rows and pairs ``(j, i)`` of ``[x_j ≠ 0]·[W_ij ≠ 0]``; dense =
    ``rows · in · out``.

    Shapes:
        x: ``[*, in]`` (any leading dims are rows), weight: ``[out, in]``.

    Example:
        >>> linear_ops(torch.tensor([[0.0, 1.3, -1.0]]), torch.tensor([[1.0, 0, 2], [0, 3, 0], [4, 5, 0]]))
        (3, 9)
    """
    n_in = weight.shape[-1]
    rows = x.numel() // n_in if n_in else 0
    x_nz = (x != 0).reshape(-1, n_in).sum(0)  # [in]: rows in which input j is non-zero
    w_nz = (weight != 0).sum(0)  # [in]: outputs that input j reaches
    effective = int((x_nz.to(torch.int64) * w_nz.to(torch.int64)).sum())
    return effective, rows * n_in * weight.shape[0]


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def conv_ops(
    x: Tensor,
    weight: Tensor,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> tuple[int, int]:
    """Effective and dense synaptic operations of ``F.conv{1,2,3}d(x, weight, ...)``.

    The binarised convolution is evaluated in float64, so the counts are exact; zero padding adds
    no operation (neither effective nor dense), as in NeuroBench.

    Shapes:
        x: ``[N, C_in, *spatial]`` (or unbatched ``[C_in, *spatial]``), weight:
        ``[C_out, C_in / groups, *kernel]``.
    """
    dims = weight.dim() - 2
    conv = _CONV.get(dims)
    if conv is None:
        raise ValueError(f"conv_ops supports 1-3 spatial dims, got weight of shape {tuple(weight.shape)}")
    if x.dim() == dims + 1:  # unbatched [C, *spatial] -> [1, C, *spatial]
        x = x.unsqueeze(0)
    wb = (weight != 0).to(torch.float64)
    xb = (x != 0).to(torch.float64)
    effective = conv(xb, wb, None, stride, padding, dilation, groups).sum()
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)  # every sample alike
    dense = conv(ones, torch.ones_like(wb), None, stride, padding, dilation, groups).sum() * x.shape[0]
    return int(effective.item()), int(dense.item())


def rnn_cell_ops(x: Tensor, h: Tensor | None, weight_ih: Tensor, weight_hh: Tensor) -> tuple[int, int]:
    """Effective and dense operations of a simple ``nn.RNNCell`` call: ``W_ih x + W_hh h``.

    ``h`` is ``None`` when the cell starts from its zero state (no recurrent operation, as in
    NeuroBench). Biases are excluded.
    """
    eff, dense = linear_ops(x, weight_ih)
    if h is not None:
        e2, d2 = linear_ops(h, weight_hh)
        eff, dense = eff + e2, dense + d2
    return eff, dense

