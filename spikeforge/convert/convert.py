r"""ANN → SNN conversion by threshold balancing (Diehl et al. 2015; Rueckauer et al. 2017; Bu et al. 2022).

A ReLU (or QCFS) ANN becomes a time-major SNN of IF neurons with reset by subtraction. Each
activation layer ``l`` gets a scale ``λ_l`` (from calibration data, or the QCFS ``λ``) and the
weights are normalised so every threshold is 1:

.. math:: W_l \leftarrow W_l\,\lambda_{l-1}/\lambda_l,\qquad b_l \leftarrow b_l/\lambda_l,\qquad \theta = 1

(channel-wise: ``λ`` per output channel, applied to the rows of ``W_l`` and the columns of
``W_{l+1}``). An IF neuron driven by a constant input ``z`` fires at rate ``clip(z, 0, 1)`` up to
``1/T`` (``u_0 = 0``), so spike rate × ``λ_l`` approximates the ANN activation. QCFS layers
start from ``u_0 = θ/2`` (a :class:`PrimeMembrane` before the IF), which makes an IF layer
compute the QCFS activation exactly at ``T = L`` for constant input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..encoders import direct_encode
from ..layers import SpikingSequential, TimeDistributed
from ..neurons import NEURONS
from ._graph import ACT, PARAM, ConversionError, prepare
from .balance import CONVERTERS, safe_scale
from .qcfs import QCFS

__all__ = ["CONVERSION_NEURONS", "PrimeMembrane", "PrimeState", "calibrate", "convert", "conversion_accuracy"]

CONVERSION_NEURONS = ("if", "signed_if", "burst_if")
"""Neurons ``convert`` can put in place of an activation (non-leaky, reset by subtraction, ``v_th = 1``)."""


class PrimeState(NamedTuple):
    """State of :class:`PrimeMembrane`: how many steps it has passed (``[]``, int64)."""

    t: Tensor


class PrimeMembrane(nn.Module):
    """Add ``v0`` to the input of the sequence's first time step only: ``[T, B, *] -> [T, B, *]``.

    Placed before an IF neuron (``v' = v + x``) it is exactly an initial membrane ``u_0 = v0``.
    It follows the streaming protocol of :class:`~spikeforge.layers.SpikingSequential`:
    ``run(xs, state)`` adds ``v0`` only when the sequence starts there (``state`` is ``None``, or
    has passed no step yet) and returns :class:`PrimeState`, so a sequence run chunk by chunk with
    the states passed back (``SpikingSequential.run``, ``checkpoint_through_time``) equals one run;
    ``forward(xs)`` is a whole sequence from its start.
    """

    def __init__(self, v0: float) -> None:
        super().__init__()
        self.v0 = float(v0)

    def init_state(self, x: Tensor) -> PrimeState:
        """The state at the sequence's start (no step passed); ``x [B, *]`` is one step's input."""
        return PrimeState(t=torch.zeros((), dtype=torch.int64))

    def run(self, xs: Tensor, state: PrimeState | None = None) -> tuple[Tensor, PrimeState]:
        """``xs [T, B, *]`` from ``state`` (the sequence's start if ``None``) -> ``(ys [T, B, *], state)``."""
        if state is not None and not isinstance(state, PrimeState):
            raise TypeError(f"PrimeMembrane: state must be a PrimeState or None, got {type(state).__name__}")
        seen = 0 if state is None else int(state.t)
        ys = torch.cat([xs[:1] + self.v0, xs[1:]]) if seen == 0 else xs  # [T, B, *]
        return ys, PrimeState(t=torch.tensor(seen + xs.shape[0]))

    def forward(self, xs: Tensor) -> Tensor:
        return self.run(xs)[0]

    def extra_repr(self) -> str:
        return f"v0={self.v0:g}"


def _batches(data: Tensor | Iterable) -> Iterable[Tensor]:
    if isinstance(data, Tensor):
        yield data
        return
    for item in data:
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, Tensor):
            raise TypeError(f"calibration data must yield tensors or (x, y) tuples, got {type(x).__name__}")
        yield x


@torch.no_grad()
def calibrate(layers: Sequence[tuple[str, nn.Module]], data: Tensor | Iterable, method: str = "max",
              channelwise: bool = False, percentile: float = 99.9) -> dict[int, Tensor]:
    """``λ`` for each ReLU in ``layers`` (index → ``[]`` or ``[C]``) from the ANN's activations on ``data``."""
    stat = CONVERTERS.get(method)
    acts: dict[int, list[Tensor]] = {i: [] for i, (_, m) in enumerate(layers) if isinstance(m, nn.ReLU)}
    if not acts:
        return {}
    for x in _batches(data):
        h = x
        for i, (_, m) in enumerate(layers):
            h = m(h)
            if i in acts:
                acts[i].append(h.detach().cpu())
    if not all(acts.values()):
        raise ValueError("calibration data is empty")
    return {i: safe_scale(stat(torch.cat(a), channelwise, percentile, layers[i][0])) for i, a in acts.items()}


def _scale_in(w: Tensor, s: Tensor, name: str) -> Tensor:
    """``w [out, in, *k]`` with column ``j`` multiplied by ``s[j]`` (``s`` scalar or ``[in]``)."""
    if s.dim() == 0:
        return w * s
    if s.numel() != w.shape[1]:
        raise ConversionError(f"layer {name!r} takes {w.shape[1]} inputs but the scales before it have "
                              f"{s.numel()} entries (unsupported layer order for channel-wise scaling)")
    return w * s.reshape(1, -1, *([1] * (w.dim() - 2)))


def _flatten_scale(s: Tensor, shape: torch.Size | None, name: str) -> Tensor:
    """Per-channel scales ``[C]`` repeated over the spatial positions a Flatten of ``[C, *S]`` makes."""
    if s.dim() == 0:
        return s
    if shape is None:
        raise ConversionError(f"layer {name!r}: channel-wise scales through a Flatten need calibration data")
    return s.repeat_interleave(int(torch.Size(shape[2:]).numel()))  # [C] -> [C*S], channel-major


@torch.no_grad()
def convert(ann: nn.Module, calibration_data: Tensor | Iterable | None = None, *, method: str = "max",
            channelwise: bool = False, percentile: float = 99.9, dt: float = 1e-3,
            neuron: str = "if") -> SpikingSequential:
    """Convert a trained ReLU/QCFS ``nn.Sequential`` into a time-major SNN of IF neurons.

    Args:
        ann: ``nn.Sequential`` of Linear, Conv1d/2d, BatchNorm (folded), ReLU or QCFS,
            AvgPool / AdaptiveAvgPool, Flatten, Dropout/Identity (dropped).
        calibration_data: inputs ``[N, *in]`` (a tensor, or an iterable of tensors or
            ``(x, y)`` batches) for the ReLU thresholds; not needed for ``method="qcfs"``.
        method: a name in :data:`CONVERTERS` (``"max"``, ``"robust"``, ``"qcfs"``).
        channelwise: one threshold scale per output channel instead of per layer (ReLU layers).
        percentile: for ``"robust"``.
        dt: the IF neurons' step (their input gain is ``1/dt``, so each step adds the input).
        neuron: the spiking neuron replacing each activation, a name in ``NEURONS`` built with
            ``v_th=1`` and reset by subtraction: ``"if"``, ``"signed_if"`` (negative spikes take
            back earlier ones, SNM) or ``"burst_if"`` (several spikes per step).

    Returns:
        :class:`~spikeforge.layers.SpikingSequential` (an ``nn.Sequential``: same indexing and
        ``state_dict`` keys) mapping ``[T, B, *in]`` (e.g. :func:`~spikeforge.encoders.direct_encode`)
        to ``[T, B, *out]``; ``out.mean(0)`` approximates the ANN output. An ``IF`` directly followed
        by ``AvgPool2d(k)`` (stride ``k``) runs as one fused kernel where it applies (same bits).

    Raises:
        ConversionError: an unsupported layer (named), or an activation with no Linear/Conv before it.
    """
    CONVERTERS.get(method)  # unknown names list the valid ones
    if neuron not in CONVERSION_NEURONS:
        raise ValueError(f"convert: neuron must be one of {list(CONVERSION_NEURONS)} (integrate-and-fire neurons "
                         f"with reset by subtraction), got {neuron!r}")
    layers = prepare(ann)
    shapes: dict[int, torch.Size] = {}
    has_relu = any(isinstance(m, nn.ReLU) for _, m in layers)
    lam: dict[int, Tensor] = {}
    if has_relu and method == "qcfs":
        CONVERTERS.get("qcfs")(torch.zeros(1, 1), False, 0.0, next(n for n, m in layers if isinstance(m, nn.ReLU)))
    if has_relu or (channelwise and calibration_data is not None):
        if calibration_data is None:
            name = next(n for n, m in layers if isinstance(m, nn.ReLU))
            raise ValueError(f"ReLU layer {name!r} needs calibration_data to set its threshold")
        def record(i: int) -> Callable[..., None]:
            def hook(_m: nn.Module, args: tuple) -> None:
                shapes.setdefault(i, args[0].shape)  # [N, C, *S] in front of a Flatten
            return hook

        hooks = [m.register_forward_pre_hook(record(i)) for i, (_, m) in enumerate(layers) if isinstance(m, nn.Flatten)]
        try:
            lam = calibrate(layers, calibration_data, method, channelwise, percentile)
        finally:
            for h in hooks:
                h.remove()
    for i, (name, m) in enumerate(layers):
        if isinstance(m, QCFS):
            if not bool(m.lam > 0):
                raise ConversionError(f"QCFS layer {name!r} has threshold lam = {m.lam.item():g} <= 0")
            lam[i] = m.lam.detach().clone()

    out: list[nn.Module] = []
    s_in = torch.tensor(1.0)  # the value a spike (or analog signal) of the current layer stands for
    pending: int | None = None  # index of the activation the last Linear/Conv was normalised for
    for i, (name, m) in enumerate(layers):
        if isinstance(m, PARAM):
            nxt = next((j for j in range(i + 1, len(layers)) if isinstance(layers[j][1], (*PARAM, *ACT))), None)
            target = nxt if nxt is not None and isinstance(layers[nxt][1], ACT) else None
            w = _scale_in(m.weight.detach(), s_in.to(m.weight), name)
            b = m.bias.detach().clone() if m.bias is not None else None
            if target is not None:
                s_out = lam[target].to(w)
                w = w / s_out.reshape(-1, *([1] * (w.dim() - 1)))
                b = b / s_out if b is not None else None
            m.weight.copy_(w)
            if b is not None and m.bias is not None:
                m.bias.copy_(b)
            out.append(m if isinstance(m, nn.Linear) else TimeDistributed(m))
            pending, s_in = target, torch.tensor(1.0)
        elif isinstance(m, ACT):
            if pending != i:
                raise ConversionError(f"activation {name!r} ({type(m).__name__}) has no Linear/Conv layer "
                                      "directly before it to take its threshold")
            if isinstance(m, QCFS):
                out.append(PrimeMembrane(0.5))  # u_0 = θ/2 with θ = 1 after normalisation
            out.append(NEURONS.create(neuron, v_th=1.0, reset="subtract", dt=dt))
            pending, s_in = None, lam[i]
        else:  # average pooling, flatten: linear and per channel, so the scales pass through
            if isinstance(m, nn.Flatten):
                s_in = _flatten_scale(s_in, shapes.get(i), name)
            out.append(TimeDistributed(m))
    return SpikingSequential(*out)


@torch.no_grad()
def conversion_accuracy(ann: nn.Module, snn: nn.Module, x: Tensor, y: Tensor,
                        steps: Sequence[int] = (4, 8, 16, 32, 64)) -> dict[str, float]:
    """Accuracy of ``ann`` on ``(x, y)`` and of ``snn`` (direct input, mean output over ``T``) at each ``T``.

    One run at ``max(steps)``; the accuracy at ``T`` uses the first ``T`` outputs.
    Returns ``{"ann": acc, "T=4": acc, ...}``.
    """
    ann.eval()
    res = {"ann": (ann(x).argmax(-1) == y).float().mean().item()}
    outs = snn(direct_encode(x, max(steps)))  # [T, B, classes]
    for t in steps:
        res[f"T={t}"] = (outs[:t].mean(0).argmax(-1) == y).float().mean().item()
    return res
