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

Beyond NeuroBench's layer types:

- **Recurrent cells** (``nn.RNNCell``, ``nn.LSTMCell``, ``nn.GRUCell``) and **recurrent layers**
  (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``, unrolled over time): the synapses are the products
  ``W_ih x_t`` (all gates) and ``W_hh h_{t-1}``, counted like two ``linear`` calls; the first step
  from the default zero state has no recurrent product. A step is accumulate-only only if both
  ``x_t`` *and* ``h_{t-1}`` are spikes: an analogue hidden state (tanh, gates) makes it MACs.
  NeuroBench 2.3.0 decides from ``x`` alone and also counts the LSTM/GRU gate products as
  synaptic; here those elementwise products are not synapses. NeuroBench does not count
  ``nn.RNNBase`` layers at all.
- **Matrix products** (``matmul``/``@``/``mm``/``bmm``) and two-operand ``einsum``: effective =
  the products with both factors non-zero; dense = all products. If exactly one operand is an
  ``nn.Parameter`` it is the weight and the call is AC when the other operand is spikes; for a
  product of two activations (e.g. spiking attention ``Q Kᵀ``) the call is AC when either
  operand is spikes (each product then only gates the other factor).

- **Spike counts** (burst neurons, integer-valued neurons such as I-LIF): a spiking layer's output
  ``n`` may be an integer other than ±1, meaning ``|n|`` spikes sent in one step. With
  ``multiplicity=True`` an input entry ``x_j`` counts ``|x_j|`` events, so a burst of ``k`` spikes is
  ``k × fan-out`` ACs and a ``−1`` spike (signed neurons) one AC per synapse; for 0/±1 spikes this is
  the same number as the binarised count. :class:`~spikeforge.metrics.profile.Profile` applies it to
  integer-valued outputs of spiking modules only (an analog input that happens to hold integers, such
  as raw pixel values, stays a MAC input counted once per non-zero entry).

Counts are exact integers (NeuroBench sums float32 tensors, which rounds above 2**24 per call).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

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
    "is_count_tensor",
    "event_weights",
    "linear_ops",
    "conv_ops",
    "rnn_cell_ops",
    "matmul_ops",
    "einsum_ops",
    "SynapseCall",
    "recurrent_cell_synapses",
    "recurrent_layer_synapses",
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


def is_count_tensor(x: Tensor) -> bool:
    """True if every element of ``x`` is an integer (a spike count; ``round`` within 1e-4, for outputs
    built by a straight-through sum such as ``u + (round(u) - u)``)."""
    if not x.is_floating_point():
        return True
    return bool(((x - torch.round(x)).abs() <= 1e-4).all())


def event_weights(x: Tensor, multiplicity: bool) -> Tensor:
    """Events per input entry in float64: ``|round(x)|`` (spike counts) or ``[x ≠ 0]`` (binarised)."""
    if multiplicity:
        return torch.round(x.detach().to(torch.float64)).abs()
    return (x != 0).to(torch.float64)


def linear_ops(x: Tensor, weight: Tensor, *, multiplicity: bool = False) -> tuple[int, int]:
    """Effective and dense synaptic operations of ``F.linear(x, weight)``.

    Effective = Σ over rows and pairs ``(j, i)`` of ``e(x_j)·[W_ij ≠ 0]`` with ``e(x) = [x ≠ 0]``,
    or ``|x|`` for spike counts (``multiplicity=True``); dense = ``rows · in · out``.

    Shapes:
        x: ``[*, in]`` (any leading dims are rows), weight: ``[out, in]``.

    Example:
        >>> linear_ops(torch.tensor([[0.0, 1.3, -1.0]]), torch.tensor([[1.0, 0, 2], [0, 3, 0], [4, 5, 0]]))
        (3, 9)
    """
    n_in = weight.shape[-1]
    rows = x.numel() // n_in if n_in else 0
    x_nz = event_weights(x, multiplicity).reshape(-1, n_in).sum(0)  # [*, in] -> [rows, in] -> [in]: events of input j
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
    *,
    multiplicity: bool = False,
) -> tuple[int, int]:
    """Effective and dense synaptic operations of ``F.conv{1,2,3}d(x, weight, ...)``
    (``multiplicity``: an input entry counts ``|x|`` events, see :func:`linear_ops`).

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
    xb = event_weights(x, multiplicity)
    effective = conv(xb, wb, None, stride, padding, dilation, groups).sum()
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)  # every sample alike
    dense = conv(ones, torch.ones_like(wb), None, stride, padding, dilation, groups).sum() * x.shape[0]
    return int(effective.item()), int(dense.item())


def rnn_cell_ops(x: Tensor, h: Tensor | None, weight_ih: Tensor, weight_hh: Tensor) -> tuple[int, int]:
    """Effective and dense operations of one recurrent cell call: ``W_ih x + W_hh h``.

    Works for ``nn.RNNCell``, ``nn.LSTMCell`` and ``nn.GRUCell`` (whose weights stack the gates
    as rows: ``[G·H, in]``). ``h`` is ``None`` when the cell starts from its zero state (no
    recurrent operation, as in NeuroBench). Biases are excluded.
    """
    eff, dense = linear_ops(x, weight_ih)
    if h is not None:
        e2, d2 = linear_ops(h, weight_hh)
        eff, dense = eff + e2, dense + d2
    return eff, dense



def matmul_ops(a: Tensor, b: Tensor, *, multiplicity: tuple[bool, bool] = (False, False)) -> tuple[int, int]:
    """Effective and dense products of ``torch.matmul(a, b)`` (any of its broadcasting forms).

    Effective = pairs ``a[..., i, k] · b[..., k, j]`` with both factors non-zero, counted with the
    binarised product in float64 (exact); dense = output elements × ``k``. ``multiplicity[i]``:
    operand ``i`` holds spike counts, each entry counting ``|x|`` events (see :func:`linear_ops`).

    Example:
        >>> matmul_ops(torch.tensor([[1.0, 0.0], [2.0, 3.0]]), torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
        (4, 8)
    """
    ab, bb = event_weights(a, multiplicity[0]), event_weights(b, multiplicity[1])
    out = torch.matmul(ab, bb)
    k = a.shape[-1]
    return int(out.sum().item()), int(out.numel()) * int(k)


def einsum_ops(equation: str, a: Tensor, b: Tensor, *,
               multiplicity: tuple[bool, bool] = (False, False)) -> tuple[int, int]:
    """Effective and dense products of the two-operand ``torch.einsum(equation, a, b)``.

    Every assignment of the indices multiplies one element of ``a`` by one of ``b``: effective
    counts those with both factors non-zero, dense counts them all (binarised and all-ones
    operands evaluated in float64, so any equation, ellipsis or implicit output works);
    ``multiplicity`` as in :func:`matmul_ops`.

    Example:
        >>> einsum_ops("bi,oi->bo", torch.tensor([[1.0, 0.0, 2.0]]), torch.ones(4, 3))
        (8, 12)
    """
    ab, bb = event_weights(a, multiplicity[0]), event_weights(b, multiplicity[1])
    effective = torch.einsum(equation, ab, bb).sum()
    one = torch.ones((), dtype=torch.float64, device=a.device)
    dense = torch.einsum(equation, one.expand(a.shape), one.expand(b.shape)).sum()
    return int(effective.item()), int(dense.item())


class SynapseCall(NamedTuple):
    """One weight product ``weight @ x`` of a recurrent step (``x``: ``[*, in]``, weight: ``[out, in]``)."""

    x: Tensor
    weight: Tensor


def recurrent_cell_synapses(x: Tensor, hx: Any, weight_ih: Tensor, weight_hh: Tensor) -> list[SynapseCall]:
    """The weight products of one ``nn.RNNCell``/``nn.LSTMCell``/``nn.GRUCell`` call.

    ``hx`` is the cell's state argument: ``None`` (zero state: no recurrent product), ``h`` or
    LSTM's ``(h, c)`` (``c`` meets no weight).
    """
    calls = [SynapseCall(x, weight_ih)]
    h = hx[0] if isinstance(hx, (tuple, list)) else hx
    if isinstance(h, Tensor):
        calls.append(SynapseCall(h, weight_hh))
    return calls


def _layer_params(layer: nn.RNNBase, index: int) -> dict[str, Tensor]:
    """Parameters of layer ``index`` renamed to a single layer's names (``weight_ih_l0...``)."""
    pattern = re.compile(rf"^((?:weight|bias)_(?:ih|hh))_l{index}(_reverse)?$")
    out = {}
    for name, p in layer.named_parameters(recurse=False):
        m = pattern.match(name)
        if m:
            out[f"{m.group(1)}_l0{m.group(2) or ''}"] = p.detach()
    return out


@torch.no_grad()
def recurrent_layer_synapses(layer: nn.RNNBase, x: Tensor, hx: Any = None) -> list[list[SynapseCall]]:
    """The weight products of an ``nn.RNN``/``nn.LSTM``/``nn.GRU`` call, unrolled over time.

    The hidden sequences are recomputed one layer at a time with a single-layer copy of the same
    weights (dropout between layers is not replayed). Returns one group per layer, direction and
    step, exactly as the cell would be called: ``[W_ih x_t, W_hh h_{t-1}]``, without the second
    product at the first step when ``hx`` is ``None``.

    Shapes:
        x: ``[T, B, in]`` (``[B, T, in]`` with ``batch_first``) or unbatched ``[T, in]``;
        hx: ``[L·D, B, H]`` (LSTM: a pair ``(h0, c0)``) or ``None``.
    """
    if not isinstance(layer, (nn.RNN, nn.LSTM, nn.GRU)):
        raise TypeError(f"recurrent_layer_synapses: unsupported layer {type(layer).__name__}")
    if getattr(layer, "proj_size", 0):
        raise ValueError("recurrent_layer_synapses: LSTM with proj_size > 0 is not supported")
    unbatched = x.dim() == 2
    if unbatched:  # [T, in] -> [T, 1, in]
        x = x.unsqueeze(1)
        if hx is not None:  # [L·D, H] -> [L·D, 1, H]
            hx = tuple(h.unsqueeze(1) for h in hx) if isinstance(hx, (tuple, list)) else hx.unsqueeze(1)
    elif layer.batch_first:  # [B, T, in] -> [T, B, in]
        x = x.transpose(0, 1)
    dirs, hidden = (2 if layer.bidirectional else 1), layer.hidden_size
    lstm = isinstance(layer, nn.LSTM)
    h0 = hx[0] if lstm and hx is not None else hx  # [L·D, B, H] or None
    groups: list[list[SynapseCall]] = []
    inp = x  # [T, B, in_l]
    for index in range(layer.num_layers):
        kwargs: dict[str, Any] = {"num_layers": 1, "bias": layer.bias, "bidirectional": layer.bidirectional}
        if isinstance(layer, nn.RNN):
            kwargs["nonlinearity"] = layer.nonlinearity
        base = next(c for c in (nn.LSTM, nn.GRU, nn.RNN) if isinstance(layer, c))
        one = base(inp.shape[-1], hidden, device=inp.device, dtype=inp.dtype, **kwargs)
        one.load_state_dict(_layer_params(layer, index))
        rows = slice(index * dirs, (index + 1) * dirs)  # this layer's entries of hx: [D, B, H]
        state = None if hx is None else (hx[0][rows], hx[1][rows]) if lstm else hx[rows]
        out, _ = one(inp, state)  # [T, B, D·H]
        for d in range(dirs):
            suffix = "_reverse" if d else ""
            w_ih, w_hh = getattr(layer, f"weight_ih_l{index}{suffix}"), getattr(layer, f"weight_hh_l{index}{suffix}")
            hs = out[..., d * hidden:(d + 1) * hidden]  # [T, B, H]: h_t of this direction
            steps = len(hs)
            for t in range(steps):
                group = [SynapseCall(inp[t], w_ih)]
                prev = t - 1 if d == 0 else t + 1  # the previous step in this direction's time order
                if 0 <= prev < steps:
                    group.append(SynapseCall(hs[prev], w_hh))
                elif h0 is not None:
                    group.append(SynapseCall(h0[index * dirs + d], w_hh))  # [B, H]
                groups.append(group)
        inp = out
    return groups
